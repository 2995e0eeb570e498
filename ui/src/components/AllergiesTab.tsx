import { useEffect, useState } from 'react';

import type { Allergy } from '../generated/Allergy';
import type { AllergyRow } from '../generated/AllergyRow';
import type { BannerAllergy } from '../generated/BannerAllergy';
import { useBackend } from '../backend';
import {
  formatCategory,
  formatClinicalStatus,
  formatCriticality,
  formatSeverity,
  formatTimestampDate,
  formatVerification,
} from '../format';
import { useStatusRefresh } from '../statusRefresh';
import { useBackendCall } from '../useBackendCall';
import { AllergyForm } from './AllergyForm';
import { orderAllergies } from './AllergyBanner';
import { PendingBadge } from './Badges';
import { ErrorPanel } from './ErrorPanel';

interface Props {
  patientId: string;
  /** The fresh list, so the banner above shows what was just saved. */
  onAllergies: (allergies: BannerAllergy[]) => void;
}

type Editing = { kind: 'new' } | { kind: 'edit'; allergy: Allergy } | null;

/** The full allergy list with status and verification; new and edit. */
export function AllergiesTab({ patientId, onAllergies }: Props) {
  const backend = useBackend();
  const refreshStatus = useStatusRefresh();
  const [state, retry] = useBackendCall(() => backend.viewAllergies(patientId), [backend, patientId]);
  const [saved, setSaved] = useState<Map<string, AllergyRow>>(new Map());
  const [editing, setEditing] = useState<Editing>(null);

  const rows: AllergyRow[] =
    state.status === 'ready'
      ? [
          ...state.value.map((r) => saved.get(r.allergy.id) ?? r),
          ...[...saved.values()].filter((s) => !state.value.some((r) => r.allergy.id === s.allergy.id)),
        ]
      : [];

  const allergyKey = rows.map((r) => `${r.allergy.id}:${r.allergy.updated_at}:${r.allergy.verification_status}:${r.allergy.criticality}:${r.allergy.clinical_status}:${r.current}`).join('|');
  useEffect(() => {
    if (state.status === 'ready') onAllergies(rows.map(({ allergy, current }) => ({ allergy, current })));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [allergyKey, state.status]);

  if (state.status === 'loading') return <p className="loading" role="status">Loading allergies…</p>;
  if (state.status === 'error') return <ErrorPanel title="The allergies could not be shown." error={state.error} onRetry={retry} />;

  const ordered = orderAllergies(rows);

  return (
    <div className="allergies-tab">
      <div className="tab-toolbar">
        <button type="button" className="button primary" data-testid="new-allergy" onClick={() => setEditing({ kind: 'new' })}>
          New allergy
        </button>
      </div>
      {editing && (
        <AllergyForm
          key={editing.kind === 'edit' ? editing.allergy.id : 'new'}
          patientId={patientId}
          allergy={editing.kind === 'edit' ? editing.allergy : undefined}
          onCancel={() => setEditing(null)}
          onSaved={(row) => {
            setSaved((m) => new Map(m).set(row.allergy.id, row));
            setEditing(null);
            refreshStatus();
          }}
        />
      )}
      {ordered.length === 0 ? (
        <p data-testid="allergies-list" className="nka">No known allergies recorded.</p>
      ) : (
        <table className="data-table" data-testid="allergies-list" aria-label="All allergies">
          <thead>
            <tr>
              <th scope="col">Allergen</th>
              <th scope="col">Criticality</th>
              <th scope="col">Type</th>
              <th scope="col">Clinical status</th>
              <th scope="col">Verification</th>
              <th scope="col">Reactions</th>
              <th scope="col">Recorded</th>
              <th scope="col"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {ordered.map(({ allergy: a, pending }) => {
              const voided = a.verification_status === 'refuted' || a.verification_status === 'entered-in-error';
              const Name = voided ? 's' : 'strong';
              return (
                <tr
                  key={a.id}
                  data-testid="allergy-row"
                  data-allergy-id={a.id}
                  data-criticality={a.criticality}
                  data-verification={a.verification_status}
                  className={[voided ? 'is-voided' : '', a.criticality === 'high' && !voided ? 'row-high' : ''].filter(Boolean).join(' ') || undefined}
                >
                  <th scope="row">
                    <Name>{a.allergen.display}</Name>
                    {pending && <PendingBadge />}
                  </th>
                  <td>
                    <span className={`crit-badge crit-badge-${a.criticality}`}>{formatCriticality(a.criticality)}</span>
                  </td>
                  <td>
                    {formatCategory(a.category)} {a.type}
                  </td>
                  <td>{formatClinicalStatus(a.clinical_status)}</td>
                  <td>
                    <span className={`status-tag status-${a.verification_status}`}>
                      {a.verification_status === 'unconfirmed' && <span aria-hidden="true">? </span>}
                      {formatVerification(a.verification_status)}
                    </span>
                  </td>
                  <td>
                    {a.reactions.length === 0 ? (
                      <span className="muted">Not recorded</span>
                    ) : (
                      a.reactions
                        .map((r) => `${r.manifestation.display}${r.severity ? ` (${formatSeverity(r.severity)})` : ''}`)
                        .join(', ')
                    )}
                  </td>
                  <td>
                    {formatTimestampDate(a.recorded_at)} <span className="muted">by {a.recorded_by}</span>
                  </td>
                  <td>
                    <button
                      type="button"
                      className="button small"
                      data-testid="edit-allergy"
                      onClick={() => setEditing({ kind: 'edit', allergy: a })}
                    >
                      Edit<span className="sr-only"> {a.allergen.display}</span>
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
