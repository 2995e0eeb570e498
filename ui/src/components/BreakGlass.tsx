import { useState, type FormEvent } from 'react';

import { toUiError, useBackend } from '../backend';

export const MIN_REASON_CHARS = 10;

interface Props {
  onOpened: (patientId: string) => void;
  onCancel: () => void;
}

/** Emergency access to a patient outside this workstation's ward: reason required, reviewed, time-limited. */
export function BreakGlass({ onOpened, onCancel }: Props) {
  const backend = useBackend();
  const [mrn, setMrn] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (mrn.trim().length === 0) {
      setError('Enter the patient’s MRN.');
      return;
    }
    if (reason.trim().length < MIN_REASON_CHARS) {
      setError(`Give the clinical reason for emergency access in at least ${MIN_REASON_CHARS} characters.`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onOpened(await backend.breakGlass({ mrn: mrn.trim(), reason: reason.trim() }));
    } catch (e) {
      setError(toUiError(e).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card record-form break-glass-form" data-testid="break-glass-form" onSubmit={submit} aria-labelledby="bg-title" noValidate>
      <h1 id="bg-title">
        <span aria-hidden="true">⚠ </span>Emergency access
      </h1>
      <p>
        Open the chart of a patient who is not on this workstation’s ward, for an emergency only. Your name, the
        patient, the time and your reason are recorded and <strong>reviewed by the privacy office</strong>. Access is{' '}
        <strong>time-limited</strong> and ends on its own. It needs a connection to the server.
      </p>
      <label className="field">
        <span>Patient MRN</span>
        <input
          data-testid="break-glass-mrn"
          name="mrn"
          autoFocus
          autoComplete="off"
          spellCheck={false}
          value={mrn}
          onChange={(e) => setMrn(e.target.value)}
        />
      </label>
      <label className="field">
        <span>Reason (required, at least {MIN_REASON_CHARS} characters)</span>
        <textarea
          data-testid="break-glass-reason"
          name="reason"
          rows={3}
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          aria-describedby="bg-reason-count"
        />
      </label>
      <p id="bg-reason-count" className="hint">
        {reason.trim().length} of at least {MIN_REASON_CHARS} characters
      </p>
      {error && (
        <p className="form-error" role="alert" data-testid="break-glass-error">
          {error}
        </p>
      )}
      <div className="form-actions">
        <button type="submit" className="button danger" data-testid="break-glass-submit" disabled={busy}>
          {busy ? 'Requesting…' : 'Open chart with emergency access'}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
