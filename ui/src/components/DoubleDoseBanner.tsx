import { useState, type FormEvent } from 'react';

import type { AdministrationRow } from '../generated/AdministrationRow';
import type { DoseReviewOutcome } from '../generated/DoseReviewOutcome';
import type { DoubleDose } from '../generated/DoubleDose';
import type { MedicationsView } from '../generated/MedicationsView';
import { useBackend } from '../backend';
import {
  formatAdministrationStatus,
  formatDayClock,
  formatDose,
  formatReviewOutcome,
  REVIEW_OUTCOMES,
} from '../medications';
import { PendingBadge } from './Badges';
import { FormFooter, useFormSubmit } from './FormFooter';

/** A key for one double dose (its order, due time and records). */
export function doubleDoseKey(d: DoubleDose): string {
  return `${d.request_id}|${d.due_at ?? 'prn'}|${d.administration_ids.join(',')}`;
}

function ReviewForm({
  patientId,
  dose,
  onDone,
  onCancel,
}: {
  patientId: string;
  dose: DoubleDose;
  onDone: () => void;
  onCancel: () => void;
}) {
  const backend = useBackend();
  const [outcome, setOutcome] = useState<DoseReviewOutcome | null>(null);
  const [note, setNote] = useState('');
  const { error, setError, busy, run } = useFormSubmit();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (outcome === null) {
      setError('Choose what the review found.');
      return;
    }
    if (note.trim().length === 0) {
      setError('Write what you found and did (for example, "patient assessed, prescriber informed").');
      return;
    }
    await run(async () => {
      await backend.reviewDoubleDose({
        patient_id: patientId,
        request_id: dose.request_id,
        due_at: dose.due_at,
        administration_ids: dose.administration_ids,
        outcome,
        note: note.trim(),
      });
      onDone();
    });
  };
  return (
    <form className="review-form" data-testid="review-double-dose-form" onSubmit={submit} noValidate>
      <fieldset>
        <legend>What did the review find?</legend>
        {REVIEW_OUTCOMES.map((o) => (
          <label key={o} className="radio-line">
            <input
              type="radio"
              name={`review-outcome-${doubleDoseKey(dose)}`}
              data-testid={`review-outcome-${o}`}
              checked={outcome === o}
              onChange={() => setOutcome(o)}
            />{' '}
            {formatReviewOutcome(o)}
          </label>
        ))}
      </fieldset>
      {outcome === 'duplicate-record' && (
        <p className="hint">Then mark the duplicate record entered in error in the list of doses recorded.</p>
      )}
      <label className="field">
        <span>Review note (required)</span>
        <textarea data-testid="review-note" rows={2} required value={note} onChange={(e) => setNote(e.target.value)} />
      </label>
      <FormFooter testId="review-double-dose" error={error} busy={busy} submitLabel="Record review" onCancel={onCancel} />
    </form>
  );
}

function DoseRecord({ row, zone }: { row: AdministrationRow; zone: string }) {
  const a = row.administration;
  return (
    <li data-testid="double-dose-record" data-administration-id={a.id}>
      {formatAdministrationStatus(a.status)} {formatDayClock(a.given_at, zone)} by <strong>{a.performer}</strong>
      {a.witness && <> (witness {a.witness})</>}, {formatDose(a.dose)}
      {a.route && <>, {a.route.display}</>}
      {row.pending && <PendingBadge />}
    </li>
  );
}

/**
 * Possible double doses: two or more "given" records for one due dose (two
 * workstations offline), or PRN doses closer than their interval. Both
 * records are kept; the flag stays, here and on every workstation of the
 * ward, until a clinician reviews it.
 */
export function DoubleDoseBanner({
  patientId,
  view,
  onReviewed,
}: {
  patientId: string;
  view: MedicationsView;
  onReviewed: () => void;
}) {
  const [reviewing, setReviewing] = useState<string | null>(null);
  if (view.double_doses.length === 0) return null;
  const zone = view.time_zone;
  return (
    <section className="double-dose-banner" data-testid="double-dose-banner" role="alert" aria-labelledby="double-dose-title">
      <h2 id="double-dose-title">
        <span aria-hidden="true">⚠ </span>Possible double dose
      </h2>
      <p>
        More than one dose was recorded as given where one was due. Check the patient now, then review the records:
        both are kept until a clinician reviews them.
      </p>
      <ul className="double-dose-list">
        {view.double_doses.map((d) => {
          const key = doubleDoseKey(d);
          const line = view.orders.find((o) => o.order.id === d.request_id);
          // In the order they were given.
          const rows = (line?.administrations ?? [])
            .filter((r) => d.administration_ids.includes(r.administration.id))
            .sort((a, b) => Date.parse(a.administration.given_at) - Date.parse(b.administration.given_at));
          return (
            <li key={key} className="double-dose-item" data-testid="double-dose-item" data-request-id={d.request_id}>
              <p>
                <strong>{line?.order.medication.display ?? 'Medication'}</strong>,{' '}
                {d.due_at ? `dose due ${formatDayClock(d.due_at, zone)}` : 'as-needed doses closer than allowed'}:{' '}
                {d.administration_ids.length} records
              </p>
              <ul>
                {rows.map((r) => (
                  <DoseRecord key={r.administration.id} row={r} zone={zone} />
                ))}
              </ul>
              {reviewing === key ? (
                <ReviewForm
                  patientId={patientId}
                  dose={d}
                  onCancel={() => setReviewing(null)}
                  onDone={() => {
                    setReviewing(null);
                    onReviewed();
                  }}
                />
              ) : (
                <button type="button" className="button danger" data-testid="review-double-dose" onClick={() => setReviewing(key)}>
                  Review…
                </button>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
