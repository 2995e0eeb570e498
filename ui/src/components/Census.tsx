import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';

import type { UiError } from '../generated/UiError';

import type { PatientSummary } from '../generated/PatientSummary';
import { toUiError, useBackend } from '../backend';
import { ageInYears, formatDateTime, formatName, formatSex } from '../format';
import { formatRisk, news2Breakdown } from '../news2';
import { useBackendCall } from '../useBackendCall';
import { ErrorPanel } from './ErrorPanel';

interface Props {
  /** Opens a chart; the hint carries the row's double-dose flag to the chart header. */
  onOpenChart: (patientId: string, hints?: { possibleDoubleDose?: boolean }) => void;
  /** The patient whose chart was open last: their row gets focus again. */
  returnFocusTo?: string | null;
  /** Opens the ward MAR printout. */
  onPrintWardMar?: () => void;
}

function matches(patient: PatientSummary, query: string): boolean {
  const q = query.trim().toLocaleLowerCase();
  if (q.length === 0) return true;
  return (
    patient.mrn.toLocaleLowerCase().includes(q) ||
    patient.birth_date.startsWith(q) ||
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

/** NEWS2: the aggregate in the risk's trigger colour, the risk in words, "incomplete" when a parameter is missing. */
function News2Cell({ patient }: { patient: PatientSummary }) {
  const score = patient.news2;
  if (!score) {
    return (
      <span className="news2 news2-none" data-testid="census-news2" data-risk="none">
        <span aria-hidden="true">—</span>
        <span className="sr-only">No NEWS2: no vital signs</span>
      </span>
    );
  }
  return (
    <span
      className={`news2 news2-${score.risk}${score.complete ? '' : ' news2-incomplete'}`}
      data-testid="census-news2"
      data-risk={score.risk}
      data-total={score.total}
      data-complete={score.complete ? 'true' : 'false'}
      title={news2Breakdown(score)}
    >
      <span className="news2-total">{score.total}</span>
      <span className="news2-risk">{formatRisk(score.risk)}</span>
      {score.any_red && (
        <span className="news2-red">
          <span aria-hidden="true">▲</span>
          <span className="sr-only">a parameter scored 3</span>
        </span>
      )}
      {!score.complete && <span className="news2-incomplete-label">incomplete</span>}
    </span>
  );
}

function NextDueCell({ patient }: { patient: PatientSummary }) {
  const next = patient.next_due;
  if (!next) return <span className="muted">None due</span>;
  return (
    <span className="next-due">
      <time dateTime={next.due_at}>{formatDateTime(next.due_at)}</time> {next.medication}
    </span>
  );
}

function OverdueCell({ patient }: { patient: PatientSummary }) {
  const n = patient.overdue_doses;
  if (n === 0) return <span className="muted">0</span>;
  return (
    <span className="overdue-flag">
      <span aria-hidden="true">⚠ </span>
      {n} overdue
    </span>
  );
}

/** An empty bed cell: a dash to the eye, words to a screen reader. */
function NoBed() {
  return (
    <>
      <span className="muted" aria-hidden="true">
        —
      </span>
      <span className="sr-only">No bed</span>
    </>
  );
}

/** How long typing pauses before the (audited) search runs. */
export const SEARCH_DEBOUNCE_MS = 250;

/**
 * The ward census: every patient of this workstation's ward(s), one dense
 * row each, in the backend's order: by location, then by bed as the ward
 * walks it ("2" before "10", no bed last), then by name. A row opens the chart on click, Enter or Space; arrow keys,
 * Home and End move between rows; "/" jumps to the search box.
 *
 * Typing in the search box narrows the census at once, then (after a pause)
 * asks the backend's audited `search` by name, MRN or date of birth; the
 * results replace the list. ArrowDown / ArrowUp move through the results
 * without leaving the box, Enter opens the highlighted chart. An empty query
 * shows the census again.
 */
export function Census({ onOpenChart, returnFocusTo = null, onPrintWardMar }: Props) {
  const backend = useBackend();
  const [census, retry] = useBackendCall(() => backend.census(), [backend]);
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<{ query: string; patients: PatientSummary[] } | null>(null);
  const [searchError, setSearchError] = useState<UiError | null>(null);
  const [activeId, setActiveId] = useState<string | null>(null);
  const tbodyRef = useRef<HTMLTableSectionElement>(null);
  const filterRef = useRef<HTMLInputElement>(null);

  const trimmed = query.trim();
  useEffect(() => {
    if (trimmed.length === 0) {
      setResults(null);
      setSearchError(null);
      return undefined;
    }
    let current = true;
    const timer = window.setTimeout(() => {
      backend.search(trimmed).then(
        (found) => {
          if (!current) return;
          setResults({ query: trimmed, patients: found });
          setSearchError(null);
        },
        (e: unknown) => {
          if (current) setSearchError(toUiError(e));
        },
      );
    }, SEARCH_DEBOUNCE_MS);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [backend, trimmed]);

  const searched = results !== null && results.query === trimmed;
  const patients = useMemo(() => {
    if (trimmed.length === 0) return census.status === 'ready' ? census.value : [];
    if (searched) return results.patients;
    // Until the search answers: the census already on screen, narrowed.
    return census.status === 'ready' ? census.value.filter((p) => matches(p, trimmed)) : [];
  }, [census, trimmed, searched, results]);

  const active = patients.find((p) => p.id === activeId) ?? null;

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

  const open = (p: PatientSummary) => onOpenChart(p.id, { possibleDoubleDose: p.possible_double_dose });

  const onRowKeyDown = (event: KeyboardEvent<HTMLTableRowElement>, patient: PatientSummary) => {
    const all = rows();
    const index = all.indexOf(event.currentTarget);
    let next: HTMLTableRowElement | undefined;
    switch (event.key) {
      case 'Enter':
      case ' ':
        event.preventDefault();
        open(patient);
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
    const index = active ? patients.indexOf(active) : -1;
    switch (event.key) {
      case 'ArrowDown': {
        const next = patients[Math.min(index + 1, patients.length - 1)];
        if (next) {
          event.preventDefault();
          setActiveId(next.id);
        }
        return;
      }
      case 'ArrowUp': {
        event.preventDefault();
        const prev = index > 0 ? patients[index - 1] : undefined;
        setActiveId(prev ? prev.id : null);
        return;
      }
      case 'Enter': {
        event.preventDefault();
        if (active) open(active);
        else if (patients.length === 1 && patients[0]) open(patients[0]);
        else if (patients[0]) setActiveId(patients[0].id);
        return;
      }
      case 'Escape':
        if (query.length > 0) {
          event.preventDefault();
          event.stopPropagation();
          setQuery('');
          setActiveId(null);
        }
        return;
      default:
    }
  };

  // The highlighted row stays visible while moving through a long list.
  useEffect(() => {
    if (!activeId) return;
    const row = rows().find((r) => r.dataset['patientId'] === activeId);
    row?.scrollIntoView?.({ block: 'nearest' });
  }, [activeId]);

  const total = census.status === 'ready' ? census.value.length : 0;

  return (
    <section className="census" aria-labelledby="census-title">
      <div className="screen-toolbar">
        <h1 id="census-title">Ward census</h1>
        {census.status === 'ready' && (
          <span className="muted" data-testid="census-count">
            {trimmed.length === 0
              ? `${total} patients`
              : searched
                ? `${patients.length} found`
                : `${patients.length} of ${total} patients`}
          </span>
        )}
        <div className="spacer" />
        {onPrintWardMar && (
          <button type="button" className="button" data-testid="ward-mar-print" onClick={onPrintWardMar}>
            Print ward MAR…
          </button>
        )}
        <label className="filter">
          <span className="sr-only">Search patients by name, MRN or date of birth (YYYY-MM-DD)</span>
          <input
            ref={filterRef}
            type="search"
            data-testid="patient-search"
            placeholder="Search name, MRN or DOB  ( / )"
            value={query}
            autoFocus
            aria-controls="census-rows"
            aria-activedescendant={active ? `patient-row-${active.id}` : undefined}
            aria-describedby="search-help"
            onChange={(e) => {
              setQuery(e.target.value);
              setActiveId(null);
            }}
            onKeyDown={onFilterKeyDown}
            autoComplete="off"
            spellCheck={false}
          />
        </label>
      </div>

      <p id="search-help" className="sr-only">
        Down and up arrows move through the patients; Enter opens the highlighted chart.
      </p>
      {searchError && <ErrorPanel title="The search could not be run." error={searchError} />}
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
              <th scope="col">Bed</th>
              <th scope="col">Allergies</th>
              <th scope="col">NEWS2</th>
              <th scope="col">Next due</th>
              <th scope="col">Overdue</th>
            </tr>
          </thead>
          <tbody ref={tbodyRef} id="census-rows">
            {patients.map((p) => {
              const age = ageInYears(p.birth_date);
              return (
                <tr
                  key={p.id}
                  tabIndex={0}
                  id={`patient-row-${p.id}`}
                  aria-selected={p.id === activeId ? true : undefined}
                  className={[p.has_high_criticality_allergy ? 'row-high' : '', p.id === activeId ? 'is-active' : ''].filter(Boolean).join(' ') || undefined}
                  data-testid="census-row"
                  data-patient-id={p.id}
                  data-allergy-count={p.active_allergy_count}
                  data-high-criticality={p.has_high_criticality_allergy ? 'true' : 'false'}
                  data-double-dose={p.possible_double_dose ? 'true' : 'false'}
                  onClick={() => open(p)}
                  onKeyDown={(e) => onRowKeyDown(e, p)}
                >
                  <th scope="row" className="name">
                    {formatName(p.family_name, p.given_name)}
                    {p.possible_double_dose && (
                      <span className="double-dose-tag" data-testid="census-double-dose">
                        <span aria-hidden="true">⚠ </span>Possible double dose
                      </span>
                    )}
                  </th>
                  <td className="mono">{p.mrn}</td>
                  <td className="num">{age === null ? '—' : age}</td>
                  <td>{formatSex(p.sex)}</td>
                  <td>{p.location ?? <span className="muted">Unassigned</span>}</td>
                  <td data-testid="census-bed">{p.bed ?? <NoBed />}</td>
                  <td>
                    <AllergyFlag patient={p} />
                  </td>
                  <td>
                    <News2Cell patient={p} />
                  </td>
                  <td data-testid="census-next-due">
                    <NextDueCell patient={p} />
                  </td>
                  <td data-testid="census-overdue" data-count={p.overdue_doses} className={p.overdue_doses > 0 ? 'cell-overdue' : undefined}>
                    <OverdueCell patient={p} />
                  </td>
                </tr>
              );
            })}
            {patients.length === 0 && (
              <tr className="empty">
                <td colSpan={10}>{total === 0 ? 'No patients are assigned to this workstation.' : 'No patient matches the search.'}</td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
