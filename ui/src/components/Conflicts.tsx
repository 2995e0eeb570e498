import { useState } from 'react';

import type { ConflictView } from '../generated/ConflictView';
import type { Record as WireRecord } from '../generated/Record';
import { toUiError, useBackend } from '../backend';
import {
  formatCategory,
  formatClinicalStatus,
  formatCriticality,
  formatDate,
  formatFullDateTime,
  formatSeverity,
  formatSex,
  formatVerification,
} from '../format';
import {
  formatAdministrationStatus,
  formatCheck,
  formatDose,
  formatNotGivenReason,
  formatReviewOutcome,
} from '../medications';
import { useStatusRefresh } from '../statusRefresh';
import { useBackendCall } from '../useBackendCall';
import { formatObservationStatus } from './Badges';
import { ErrorPanel } from './ErrorPanel';
import { formatValue } from './VitalsTab';

/** A record as labelled fields, in a fixed order, for a side-by-side comparison. */
export function recordFields(record: WireRecord): Array<[string, string]> {
  switch (record.type) {
    case 'allergy': {
      const a = record.allergy;
      return [
        ['Allergen', a.allergen.display],
        ['Type', `${formatCategory(a.category)} ${a.type}`],
        ['Criticality', formatCriticality(a.criticality)],
        ['Clinical status', formatClinicalStatus(a.clinical_status)],
        ['Verification', formatVerification(a.verification_status)],
        [
          'Reactions',
          a.reactions.length === 0
            ? 'None recorded'
            : a.reactions.map((r) => `${r.manifestation.display}${r.severity ? ` (${formatSeverity(r.severity)})` : ''}`).join(', '),
        ],
        ['Recorded by', a.recorded_by],
        ['Changed', formatFullDateTime(a.updated_at)],
        ['Version', String(a.version)],
      ];
    }
    case 'observation': {
      const o = record.observation;
      return [
        ['Observation', o.code.display],
        ['Value', formatValue(o)],
        ['Status', formatObservationStatus(o.status)],
        ['Measured', formatFullDateTime(o.effective_at)],
        ['Recorded by', o.recorded_by],
        ['Version', String(o.version)],
      ];
    }
    case 'patient': {
      const p = record.patient;
      return [
        ['Name', `${p.family_name.toUpperCase()}, ${p.given_name}`],
        ['MRN', p.mrn],
        ['Born', formatDate(p.birth_date)],
        ['Sex', formatSex(p.sex)],
        ['Location', p.location ?? 'Unassigned'],
        ['Bed', p.bed ?? '—'],
        ['Phone', p.phone ?? '—'],
        ['Changed', formatFullDateTime(p.updated_at)],
        ['Version', String(p.version)],
      ];
    }
    case 'medication_administration': {
      const a = record.medication_administration;
      return [
        ['Status', formatAdministrationStatus(a.status)],
        ['Reason not given', a.not_given_reason ? formatNotGivenReason(a.not_given_reason) : '—'],
        ['Dose', formatDose(a.dose)],
        ['Route', a.route?.display ?? '—'],
        ['Due', a.due_at ? formatFullDateTime(a.due_at) : 'As needed'],
        ['Given', formatFullDateTime(a.given_at)],
        ['Given by', a.performer],
        ['Witness', a.witness ?? '—'],
        ['Overrides', a.overrides.length === 0 ? 'None' : a.overrides.map((o) => `${formatCheck(o.check)}: ${o.reason}`).join('; ')],
        ['Reason in error', a.error_reason ?? '—'],
        ['Version', String(a.version)],
      ];
    }
    case 'dose_review': {
      const r = record.dose_review;
      return [
        ['Outcome', formatReviewOutcome(r.outcome)],
        ['Note', r.note],
        ['Records reviewed', String(r.administration_ids.length)],
        ['Reviewed by', r.reviewed_by],
        ['Reviewed', formatFullDateTime(r.reviewed_at)],
        ['Version', String(r.version)],
      ];
    }
  }
}

const KIND: Record<WireRecord['type'], string> = {
  allergy: 'Allergy',
  observation: 'Observation',
  patient: 'Patient details',
  medication_administration: 'Medication administration',
  dose_review: 'Double-dose review',
};

function ConflictItem({ conflict, onResolved }: { conflict: ConflictView; onResolved: () => void }) {
  const backend = useBackend();
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const mine = recordFields(conflict.mine);
  const server = new Map(recordFields(conflict.server));
  const labels = [...new Set([...mine.map(([l]) => l), ...server.keys()])];
  const mineMap = new Map(mine);

  const act = async (action: 'reapply' | 'discard') => {
    setBusy(true);
    setError(null);
    try {
      if (action === 'reapply') await backend.reapplyConflict(conflict.mutation_id);
      else await backend.discardConflict(conflict.mutation_id);
      onResolved();
    } catch (e) {
      setError(toUiError(e).message);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  return (
    <li className="card conflict-item" data-testid="conflict-item" data-mutation-id={conflict.mutation_id}>
      <h3>
        {KIND[conflict.mine.type]} for {conflict.patient_name} <span className="mono muted">{conflict.mrn}</span>
      </h3>
      <p className="muted">
        Your edit of {formatFullDateTime(conflict.created_at)} (by {conflict.author}) reached the server after someone
        else had changed the same record. Choose which version to keep.
      </p>
      <table className="data-table conflict-table">
        <thead>
          <tr>
            <th scope="col">Field</th>
            <th scope="col">Your edit</th>
            <th scope="col">On the server now</th>
          </tr>
        </thead>
        <tbody>
          {labels.map((label) => {
            const a = mineMap.get(label) ?? '—';
            const b = server.get(label) ?? '—';
            const differs = a !== b;
            return (
              <tr key={label} className={differs ? 'is-different' : undefined} data-differs={differs ? 'true' : 'false'}>
                <th scope="row">
                  {label}
                  {differs && <span className="diff-marker"> (differs)</span>}
                </th>
                <td data-testid="conflict-mine">{differs ? <strong>{a}</strong> : a}</td>
                <td data-testid="conflict-server">{differs ? <strong>{b}</strong> : b}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {confirming ? (
        <div className="confirm" role="group" aria-label="Confirm discard">
          <p>Discard your edit? The server’s version stays and your change is lost.</p>
          <button type="button" className="button danger" data-testid="conflict-discard-confirm" disabled={busy} onClick={() => void act('discard')}>
            Discard my edit
          </button>
          <button type="button" className="button" onClick={() => setConfirming(false)} autoFocus>
            Keep it
          </button>
        </div>
      ) : (
        <div className="form-actions">
          <p className="muted">
            Re-applying puts back only the fields you changed; the server’s other changes stay.
          </p>
          <button type="button" className="button primary" data-testid="conflict-reapply" disabled={busy} onClick={() => void act('reapply')}>
            Re-apply my edit
          </button>
          <button type="button" className="button" data-testid="conflict-discard" disabled={busy} onClick={() => setConfirming(true)}>
            Discard my edit…
          </button>
        </div>
      )}
    </li>
  );
}

/** Conflicts (both versions, re-apply or discard) and rejected edits (with the server's reason). */
export function Conflicts() {
  const backend = useBackend();
  const refreshStatus = useStatusRefresh();
  const [state, retry] = useBackendCall(() => backend.editsNeedingAttention(), [backend]);

  return (
    <section className="conflicts-view" data-testid="conflicts-view" aria-labelledby="conflicts-title">
      <h1 id="conflicts-title">Edits to review</h1>
      {state.status === 'loading' && <p className="loading" role="status">Loading…</p>}
      {state.status === 'error' && <ErrorPanel title="The edits to review could not be shown." error={state.error} onRetry={retry} />}
      {state.status === 'ready' && (
        <>
          <h2>Conflicts</h2>
          {state.value.conflicts.length === 0 ? (
            <p className="muted">No conflicts.</p>
          ) : (
            <ul className="plain-list">
              {state.value.conflicts.map((c) => (
                <ConflictItem
                  key={c.mutation_id}
                  conflict={c}
                  onResolved={() => {
                    refreshStatus();
                    retry();
                  }}
                />
              ))}
            </ul>
          )}
          <h2>Rejected edits</h2>
          {state.value.rejected.length === 0 ? (
            <p className="muted">No rejected edits.</p>
          ) : (
            <ul className="plain-list">
              {state.value.rejected.map((r) => (
                <li key={r.mutation_id} className="card rejected-item" data-testid="rejected-item" data-mutation-id={r.mutation_id}>
                  <h3>
                    {KIND[r.mine.type]} for {r.patient_name} <span className="mono muted">{r.mrn}</span>
                  </h3>
                  <p className="reject-reason">
                    <strong>The server refused this edit:</strong> {r.reason}
                  </p>
                  <dl className="record-fields">
                    {recordFields(r.mine).map(([label, value]) => (
                      <div key={label}>
                        <dt>{label}</dt>
                        <dd>{value}</dd>
                      </div>
                    ))}
                  </dl>
                  <p className="muted">Edited {formatFullDateTime(r.created_at)}</p>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
