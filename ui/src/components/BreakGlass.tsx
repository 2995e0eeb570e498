import { useState, type FormEvent } from 'react';

import { useBackend } from '../backend';
import { FormFooter, useFormSubmit } from './FormFooter';

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
  const { error, setError, busy, run } = useFormSubmit();

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
    await run(async () => onOpened(await backend.breakGlass({ mrn: mrn.trim(), reason: reason.trim() })));
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
      <FormFooter
        testId="break-glass"
        error={error}
        busy={busy}
        submitLabel="Open chart with emergency access"
        busyLabel="Requesting…"
        danger
        onCancel={onCancel}
      />
    </form>
  );
}
