import { useEffect, useState, type FormEvent } from 'react';

import type { BreakGlassAccess } from '../generated/BreakGlassAccess';
import type { QueueFilter } from '../generated/QueueFilter';
import type { ReviewOutcome } from '../generated/ReviewOutcome';
import { useBackend } from '../backend';
import { ErrorPanel } from '../components/ErrorPanel';
import { FormFooter, useFormSubmit } from '../components/FormFooter';
import { formatFullDateTime } from '../format';
import { useBackendCall } from '../useBackendCall';
import { deviceLabel, patientLabel, reviewStatusLabel, userLabel } from './format';
import { ReportTable } from './ReportTable';

const NOTE_MAX = 2000;

/** The finding and the note, recorded once: a review is final. */
function ReviewForm({ access, onReviewed }: { access: BreakGlassAccess; onReviewed: (done: BreakGlassAccess) => void }) {
  const backend = useBackend();
  const [outcome, setOutcome] = useState<ReviewOutcome | null>(null);
  const [note, setNote] = useState('');
  const { error, setError, busy, run } = useFormSubmit();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (outcome === null) {
      setError('Say whether the access was appropriate.');
      return;
    }
    if (note.trim().length === 0) {
      setError('Write a note saying why the access was or was not appropriate.');
      return;
    }
    await run(async () => onReviewed(await backend.reviewBreakGlass(access.access_id, { outcome, note: note.trim() })));
  };

  return (
    <form className="privacy-review-form" data-testid="review-form" onSubmit={submit} noValidate>
      <fieldset className="field">
        <legend>Was this emergency access appropriate?</legend>
        <label className="field-inline">
          <input type="radio" name={`outcome-${access.access_id}`} data-testid="review-justified" checked={outcome === 'justified'} onChange={() => setOutcome('justified')} />
          <span>Yes: justified</span>
        </label>
        <label className="field-inline">
          <input type="radio" name={`outcome-${access.access_id}`} data-testid="review-unjustified" checked={outcome === 'unjustified'} onChange={() => setOutcome('unjustified')} />
          <span>No: not justified (follow up)</span>
        </label>
      </fieldset>
      <label className="field">
        <span>Review note (required, at most {NOTE_MAX} characters)</span>
        <textarea data-testid="review-note" rows={3} maxLength={NOTE_MAX} value={note} onChange={(e) => setNote(e.target.value)} />
      </label>
      <p className="hint">A review is final: it is stored with your name and the time, and cannot be changed.</p>
      <FormFooter testId="review" error={error} busy={busy} submitLabel="Record review" busyLabel="Recording…" />
    </form>
  );
}

function AccessCard({ access, onReviewed }: { access: BreakGlassAccess; onReviewed: (done: BreakGlassAccess) => void }) {
  const endedEarly = access.ended_at !== null;
  return (
    <article className={`card privacy-access status-${access.status}`} data-testid="break-glass-access" data-access-id={access.access_id} data-status={access.status}>
      <header className="privacy-access-head">
        <h3>
          <span aria-hidden="true">⚠ </span>
          {patientLabel(access.patient)} <span className="mono">{access.patient.mrn}</span>
        </h3>
        <span className="status-tag" data-testid="access-status">
          {reviewStatusLabel(access.status)}
        </span>
      </header>
      <dl className="record-fields">
        <dt>Clinician</dt>
        <dd>{userLabel(access.user)}</dd>
        <dt>Workstation</dt>
        <dd>{deviceLabel(access.device)}</dd>
        <dt>Started</dt>
        <dd>
          <time dateTime={access.started_at}>{formatFullDateTime(access.started_at)}</time>
        </dd>
        <dt>Duration</dt>
        <dd data-testid="access-duration">
          {access.minutes} min{' '}
          {endedEarly ? '(ended by the workstation)' : `(granted until ${formatFullDateTime(access.expires_at)})`}
        </dd>
        <dt>Reason given</dt>
        <dd>
          <blockquote className="privacy-reason" data-testid="access-reason">
            {access.reason}
          </blockquote>
        </dd>
      </dl>
      {access.viewed.length === 0 ? (
        <p className="muted" data-testid="access-viewed-none">
          No views recorded yet (the workstation may not have uploaded its audit trail).
        </p>
      ) : (
        <ReportTable rows={access.viewed} caption="Viewed during the access" hidePatient testId="access-viewed" />
      )}
      {access.review ? (
        <p className="privacy-review" data-testid="access-review">
          {access.review.outcome === 'justified' ? 'Appropriate' : 'Not appropriate'}, reviewed by {userLabel(access.review.reviewed_by)} on{' '}
          {formatFullDateTime(access.review.reviewed_at)}: “{access.review.note}”
        </p>
      ) : (
        <ReviewForm access={access} onReviewed={onReviewed} />
      )}
    </article>
  );
}

/**
 * The break-the-glass review queue: each access with the clinician's reason,
 * how long it ran and what was viewed during it; a review records whether it
 * was appropriate, with a note. Listing the queue is an audited view
 * (`break-glass-queue-view`); a review is audited as `break-glass-review`.
 */
export function BreakGlassReviews({ onPendingChange }: { onPendingChange?: (pending: number) => void }) {
  const backend = useBackend();
  const [filter, setFilter] = useState<QueueFilter>('pending');
  const [state, retry] = useBackendCall(() => backend.breakGlassQueue(filter), [backend, filter]);
  // Reviews recorded here, shown in place (a review answers the access as stored).
  const [reviewed, setReviewed] = useState<Record<string, BreakGlassAccess>>({});

  useEffect(() => setReviewed({}), [state]);
  const queue = state.status === 'ready' ? state.value : null;
  const pending = queue ? queue.pending - Object.keys(reviewed).length : null;
  useEffect(() => {
    if (pending !== null) onPendingChange?.(pending);
  }, [pending, onPendingChange]);

  return (
    <section className="privacy-queue" aria-labelledby="queue-title">
      <div className="screen-toolbar">
        <h2 id="queue-title">Emergency access reviews</h2>
        {pending !== null && (
          <span className="status-tag" data-testid="queue-pending" data-count={pending}>
            {pending} awaiting review
          </span>
        )}
        <div className="spacer" />
        <label className="field-inline">
          <span>Show</span>
          <select data-testid="queue-filter" value={filter} onChange={(e) => setFilter(e.target.value as QueueFilter)}>
            <option value="pending">Awaiting review</option>
            <option value="reviewed">Reviewed</option>
            <option value="all">All</option>
          </select>
        </label>
      </div>
      {state.status === 'loading' && (
        <p className="loading" role="status">
          Asking the service…
        </p>
      )}
      {state.status === 'error' && <ErrorPanel title="The review queue could not be shown." error={state.error} onRetry={retry} />}
      {queue && queue.accesses.length === 0 && (
        <p data-testid="queue-empty">{filter === 'pending' ? 'No emergency access awaits review.' : 'No emergency access to show.'}</p>
      )}
      {queue?.accesses.map((a) => (
        <AccessCard
          key={a.access_id}
          access={reviewed[a.access_id] ?? a}
          onReviewed={(done) => setReviewed((r) => ({ ...r, [done.access_id]: done }))}
        />
      ))}
    </section>
  );
}
