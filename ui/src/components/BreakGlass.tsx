import { useState, type FormEvent } from 'react';

import type { ReasonLimits } from '../generated/ReasonLimits';
import { useBackend } from '../backend';
import { charCount, reasonProblem, substantiveChars } from '../reasonLimits';
import { FormFooter, useFormSubmit } from './FormFooter';

interface Props {
  /** The limits the core and the service apply to the reason (`AppInfo.break_glass_reason`). */
  limits: ReasonLimits;
  onOpened: (patientId: string) => void;
  onCancel: () => void;
}

/** The message for a reason outside `limits`, or null when it is within them. */
function reasonMessage(reason: string, limits: ReasonLimits): string | null {
  switch (reasonProblem(reason, limits)) {
    case 'too-short':
      return `Give the clinical reason for emergency access in at least ${limits.min_chars} characters (spaces not counted).`;
    case 'too-long':
      return `Shorten the reason for emergency access to at most ${limits.max_chars} characters (it has ${charCount(reason)}).`;
    case null:
      return null;
  }
}

/** Emergency access to a patient outside this workstation's ward: reason required, reviewed, time-limited. */
export function BreakGlass({ limits, onOpened, onCancel }: Props) {
  const backend = useBackend();
  const [mrn, setMrn] = useState('');
  const [reason, setReason] = useState('');
  const { error, setError, busy, run } = useFormSubmit();
  // Checked as sent: trimmed.
  const sent = reason.trim();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (mrn.trim().length === 0) {
      setError('Enter the patient’s MRN.');
      return;
    }
    const problem = reasonMessage(sent, limits);
    if (problem) {
      setError(problem);
      return;
    }
    await run(async () => onOpened(await backend.breakGlass({ mrn: mrn.trim(), reason: sent })));
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
        <span>
          Reason (required, at least {limits.min_chars} characters, at most {limits.max_chars})
        </span>
        {/* maxLength counts UTF-16 units, never fewer than Rust's characters: it can only stop typing early. */}
        <textarea
          data-testid="break-glass-reason"
          name="reason"
          rows={3}
          maxLength={limits.max_chars}
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          aria-describedby="bg-reason-count"
        />
      </label>
      <p id="bg-reason-count" className="hint" data-testid="break-glass-reason-count">
        {substantiveChars(sent)} of at least {limits.min_chars} characters (spaces not counted) · {charCount(sent)} of
        at most {limits.max_chars} in all
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
