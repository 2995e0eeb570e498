import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';

import type { PatientSummary } from '../generated/PatientSummary';
import { useBackend } from '../backend';
import { ageInYears, formatName, formatSex } from '../format';
import { useBackendCall } from '../useBackendCall';
import { ErrorPanel } from './ErrorPanel';

interface Props {
  onOpenChart: (patientId: string) => void;
  /** The patient whose chart was open last: their row gets focus again. */
  returnFocusTo?: string | null;
}

function matches(patient: PatientSummary, query: string): boolean {
  const q = query.trim().toLocaleLowerCase();
  if (q.length === 0) return true;
  return (
    patient.mrn.toLocaleLowerCase().includes(q) ||
    patient.family_name.toLocaleLowerCase().includes(q) ||
    patient.given_name.toLocaleLowerCase().includes(q) ||
    formatName(patient.family_name, patient.given_name).toLocaleLowerCase().includes(q)
  );
}

function AllergyFlag({ patient }: { patient: PatientSummary }) {
  const count = patient.active_allergy_count;
  if (count === 0) {
    return <span className="flag flag-none">None active</span>;
  }
  const noun = count === 1 ? 'allergy' : 'allergies';
  if (patient.has_high_criticality_allergy) {
    return (
      <span className="flag flag-high" data-testid="allergy-flag" data-flag="high">
        <span className="flag-marker" aria-hidden="true" />
        <span className="flag-label">HIGH</span>
        <span>
          {count} {noun}
        </span>
      </span>
    );
  }
  return (
    <span className="flag flag-present" data-testid="allergy-flag" data-flag="present">
      <span className="flag-marker" aria-hidden="true" />
      <span>
        {count} {noun}
      </span>
    </span>
  );
}

/**
 * The ward census: every patient of this workstation's ward(s), one dense
 * row each. A row opens the chart on click, Enter or Space; arrow keys,
 * Home and End move between rows; "/" jumps to the filter.
 */
export function Census({ onOpenChart, returnFocusTo = null }: Props) {
  const backend = useBackend();
  const [census, retry] = useBackendCall(() => backend.census(), [backend]);
  const [query, setQuery] = useState('');
  const tbodyRef = useRef<HTMLTableSectionElement>(null);
  const filterRef = useRef<HTMLInputElement>(null);

  const patients = useMemo(
    () => (census.status === 'ready' ? census.value.filter((p) => matches(p, query)) : []),
    [census, query],
  );

  const rows = (): HTMLTableRowElement[] =>
    tbodyRef.current ? Array.from(tbodyRef.current.querySelectorAll<HTMLTableRowElement>('tr[data-patient-id]')) : [];

  // Back from a chart: put focus on the row the clinician came from.
  useEffect(() => {
    if (census.status !== 'ready' || !returnFocusTo) return;
    rows()
      .find((row) => row.dataset['patientId'] === returnFocusTo)
      ?.focus();
  }, [census.status, returnFocusTo]);

  useEffect(() => {
    const onKey = (event: globalThis.KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      const typing = target?.closest('input, textarea, select, [contenteditable="true"]');
      if (event.key === '/' && !typing) {
        event.preventDefault();
        filterRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const onRowKeyDown = (event: KeyboardEvent<HTMLTableRowElement>, patientId: string) => {
    const all = rows();
    const index = all.indexOf(event.currentTarget);
    let next: HTMLTableRowElement | undefined;
    switch (event.key) {
      case 'Enter':
      case ' ':
        event.preventDefault();
        onOpenChart(patientId);
        return;
      case 'ArrowDown':
        next = all[index + 1];
        break;
      case 'ArrowUp':
        next = all[index - 1];
        break;
      case 'Home':
        next = all[0];
        break;
      case 'End':
        next = all[all.length - 1];
        break;
      default:
        return;
    }
    event.preventDefault();
    next?.focus();
  };

  const onFilterKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown' || event.key === 'Enter') {
      const first = rows()[0];
      if (first) {
        event.preventDefault();
        if (event.key === 'Enter' && patients.length === 1 && patients[0]) {
          onOpenChart(patients[0].id);
        } else {
          first.focus();
        }
      }
    } else if (event.key === 'Escape') {
      setQuery('');
    }
  };

  const total = census.status === 'ready' ? census.value.length : 0;

  return (
    <section className="census" aria-labelledby="census-title">
      <div className="screen-toolbar">
        <h1 id="census-title">Ward census</h1>
        {census.status === 'ready' && (
          <span className="muted" data-testid="census-count">
            {patients.length === total ? `${total} patients` : `${patients.length} of ${total} patients`}
          </span>
        )}
        <div className="spacer" />
        <label className="filter">
          <span className="sr-only">Filter patients by name or MRN</span>
          <input
            ref={filterRef}
            type="search"
            placeholder="Filter by name or MRN  ( / )"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={onFilterKeyDown}
            autoComplete="off"
            spellCheck={false}
          />
        </label>
      </div>

      {census.status === 'loading' && (
        <p className="loading" role="status">
          Loading census…
        </p>
      )}
      {census.status === 'error' && (
        <ErrorPanel title="The ward census could not be loaded." error={census.error} onRetry={retry} />
      )}
      {census.status === 'ready' && (
        <table className="census-table" aria-labelledby="census-title" data-testid="census-table">
          <thead>
            <tr>
              <th scope="col">Patient</th>
              <th scope="col">MRN</th>
              <th scope="col" className="num">
                Age
              </th>
              <th scope="col">Sex</th>
              <th scope="col">Location</th>
              <th scope="col">Allergies</th>
            </tr>
          </thead>
          <tbody ref={tbodyRef}>
            {patients.map((p) => {
              const age = ageInYears(p.birth_date);
              return (
                <tr
                  key={p.id}
                  tabIndex={0}
                  className={p.has_high_criticality_allergy ? 'row-high' : undefined}
                  data-testid="census-row"
                  data-patient-id={p.id}
                  data-allergy-count={p.active_allergy_count}
                  data-high-criticality={p.has_high_criticality_allergy ? 'true' : 'false'}
                  onClick={() => onOpenChart(p.id)}
                  onKeyDown={(e) => onRowKeyDown(e, p.id)}
                >
                  <th scope="row" className="name">
                    {formatName(p.family_name, p.given_name)}
                  </th>
                  <td className="mono">{p.mrn}</td>
                  <td className="num">{age === null ? '—' : age}</td>
                  <td>{formatSex(p.sex)}</td>
                  <td>{p.location ?? <span className="muted">Unassigned</span>}</td>
                  <td>
                    <AllergyFlag patient={p} />
                  </td>
                </tr>
              );
            })}
            {patients.length === 0 && (
              <tr className="empty">
                <td colSpan={6}>{total === 0 ? 'No patients are assigned to this workstation.' : 'No patient matches the filter.'}</td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
