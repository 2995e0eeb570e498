import { useEffect, useRef, useState, type KeyboardEvent as ReactKeyboardEvent } from 'react';

import type { BannerAllergy } from '../generated/BannerAllergy';
import type { BreakGlassGrant } from '../generated/BreakGlassGrant';
import type { ObservationRow } from '../generated/ObservationRow';
import type { OpenedChart } from '../generated/OpenedChart';
import { useBackend } from '../backend';
import { formatDate, formatFullDateTime, formatName, formatSex } from '../format';
import { useBackendCall } from '../useBackendCall';
import { AllergiesTab } from './AllergiesTab';
import { AllergyBanner } from './AllergyBanner';
import { ErrorPanel } from './ErrorPanel';
import { LabsTab } from './LabsTab';
import { MedicationsTab } from './MedicationsTab';
import { VitalsTab } from './VitalsTab';

interface Props {
  patientId: string;
  onBack: () => void;
  /** The running emergency access to this patient, when the chart was opened that way. */
  breakGlass?: BreakGlassGrant | null;
  onOpenSummary?: () => void;
  onPrintMar?: () => void;
  /**
   * The census said this patient has a possible double dose. Shown in the
   * header until the Medications tab reads the current state.
   */
  possibleDoubleDose?: boolean;
}

type Tab = 'vitals' | 'labs' | 'allergies' | 'medications';

const TABS: Array<{ id: Tab; label: string }> = [
  { id: 'vitals', label: 'Vitals' },
  { id: 'labs', label: 'Labs' },
  { id: 'allergies', label: 'Allergies' },
  { id: 'medications', label: 'Medications' },
];

/**
 * ARIA tabs with manual activation: arrows, Home and End move focus between
 * tabs, Enter or Space opens one. Opening a tab is an audited read, so
 * merely passing over a tab with the arrow keys must not open it.
 */
function Tabs({ active, onSelect }: { active: Tab; onSelect: (tab: Tab) => void }) {
  const refs = useRef<Array<HTMLButtonElement | null>>([]);
  const [focused, setFocused] = useState(TABS.findIndex((t) => t.id === active));
  // A tab opened from elsewhere (the double-dose flag) takes the focus position too.
  useEffect(() => setFocused(TABS.findIndex((t) => t.id === active)), [active]);

  const onKeyDown = (event: ReactKeyboardEvent<HTMLButtonElement>, index: number) => {
    let next = index;
    if (event.key === 'ArrowRight') next = (index + 1) % TABS.length;
    else if (event.key === 'ArrowLeft') next = (index - 1 + TABS.length) % TABS.length;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = TABS.length - 1;
    else return;
    event.preventDefault();
    setFocused(next);
    refs.current[next]?.focus();
  };

  return (
    <div role="tablist" aria-label="Chart sections" className="tabs">
      {TABS.map((tab, i) => (
        <button
          key={tab.id}
          ref={(el) => {
            refs.current[i] = el;
          }}
          type="button"
          role="tab"
          id={`tab-${tab.id}`}
          data-testid={`tab-${tab.id}`}
          aria-selected={active === tab.id}
          aria-controls={`panel-${tab.id}`}
          tabIndex={focused === i ? 0 : -1}
          className="tab"
          onClick={() => {
            setFocused(i);
            onSelect(tab.id);
          }}
          onFocus={() => setFocused(i)}
          onKeyDown={(e) => onKeyDown(e, i)}
        >
          {tab.label}
        </button>
      ))}
    </div>
  );
}

function BreakGlassBanner({ grant }: { grant: BreakGlassGrant }) {
  return (
    <div className="break-glass-banner" role="note" data-testid="break-glass-banner">
      <strong>
        <span aria-hidden="true">⚠ </span>Emergency access
      </strong>
      <span>
        This patient is not on your ward. Access is logged, reviewed by the privacy office, and ends at{' '}
        <time dateTime={grant.expires_at}>{formatFullDateTime(grant.expires_at)}</time>.
      </span>
    </div>
  );
}

function ChartView({
  chart,
  breakGlass,
  onOpenSummary,
  onPrintMar,
  possibleDoubleDose,
}: {
  chart: OpenedChart;
  breakGlass: BreakGlassGrant | null;
  onOpenSummary: (() => void) | undefined;
  onPrintMar: (() => void) | undefined;
  possibleDoubleDose: boolean;
}) {
  const { header } = chart;
  const { patient } = header;
  const bannerRef = useRef<HTMLElement>(null);
  const [tab, setTab] = useState<Tab>('vitals');
  // The vital signs the chart open read (and audited with it), for the first
  // showing of the vitals tab only: opening the tab again asks the core again.
  const [openedVitals, setOpenedVitals] = useState<ObservationRow[] | null>(chart.vitals);
  const select = (next: Tab) => {
    if (next !== tab) setOpenedVitals(null);
    setTab(next);
  };
  const [allergies, setAllergies] = useState<BannerAllergy[]>(header.allergies);
  // From the census until the Medications tab has read the medications.
  const [doubleDoses, setDoubleDoses] = useState(possibleDoubleDose ? 1 : 0);

  // Focus lands on the allergies, so a screen reader reads them first too.
  useEffect(() => {
    bannerRef.current?.focus();
  }, [patient.id]);

  return (
    <article className="chart" aria-label="Patient chart">
      <AllergyBanner ref={bannerRef} allergies={allergies} />
      {breakGlass && <BreakGlassBanner grant={breakGlass} />}
      <header className="chart-header" data-testid="chart-header">
        <h1 className="patient-name" data-testid="patient-name">
          {formatName(patient.family_name, patient.given_name)}
        </h1>
        {patient.synthetic && (
          <span className="tag tag-synthetic" title="Generated test patient">
            Synthetic
          </span>
        )}
        <dl className="demographics">
          <div>
            <dt>MRN</dt>
            <dd className="mono" data-testid="patient-mrn">
              {patient.mrn}
            </dd>
          </div>
          <div>
            <dt>Born</dt>
            <dd data-testid="patient-dob">
              {formatDate(patient.birth_date)} <span className="age">({header.age_years} y)</span>
            </dd>
          </div>
          <div>
            <dt>Sex</dt>
            <dd>{formatSex(patient.sex)}</dd>
          </div>
          <div>
            <dt>Location</dt>
            <dd>{patient.location ?? <span className="muted">Unassigned</span>}</dd>
          </div>
          {patient.bed !== null && (
            <div>
              <dt>Bed</dt>
              <dd data-testid="patient-bed">{patient.bed}</dd>
            </div>
          )}
        </dl>
        {doubleDoses > 0 && (
          <button
            type="button"
            className="double-dose-flag"
            data-testid="chart-double-dose"
            onClick={() => select('medications')}
            title="Open the Medications tab to review"
          >
            <span aria-hidden="true">⚠ </span>Possible double dose
          </button>
        )}
        <div className="spacer" />
        {onOpenSummary && (
          <button type="button" className="button" data-testid="downtime-summary" onClick={onOpenSummary}>
            Downtime summary…
          </button>
        )}
      </header>
      <section className="chart-body" aria-label="Clinical record">
        <Tabs active={tab} onSelect={select} />
        <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="tab-panel" tabIndex={-1}>
          {tab === 'vitals' && <VitalsTab patientId={patient.id} opened={openedVitals} />}
          {tab === 'labs' && <LabsTab patientId={patient.id} />}
          {tab === 'allergies' && <AllergiesTab patientId={patient.id} onAllergies={setAllergies} />}
          {tab === 'medications' && <MedicationsTab patientId={patient.id} onDoubleDoses={setDoubleDoses} onPrintMar={onPrintMar} />}
        </div>
      </section>
    </article>
  );
}

/**
 * One patient's chart. Every time it is shown it asks the backend again
 * (`open_chart`, which answers the header, the allergies and the vitals tab
 * under one audit event), because every view of a chart must be audited:
 * chart data is never kept in the UI between views. Each tab asks again when
 * opened after that.
 */
export function Chart({ patientId, onBack, breakGlass = null, onOpenSummary, onPrintMar, possibleDoubleDose = false }: Props) {
  const backend = useBackend();
  const [chart, retry] = useBackendCall(() => backend.openChart(patientId), [backend, patientId]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      // Escape inside a form field belongs to the field (and to open forms).
      if (event.key === 'Escape' && target?.closest('input, textarea, select, form')) return;
      if (event.key === 'Escape' || (event.altKey && event.key === 'ArrowLeft')) {
        event.preventDefault();
        onBack();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onBack]);

  if (chart.status === 'loading') {
    return (
      <p className="loading" role="status">
        Opening chart…
      </p>
    );
  }
  if (chart.status === 'error') {
    return <ErrorPanel title="The chart could not be opened." error={chart.error} onRetry={retry} />;
  }
  return (
    <ChartView
      chart={chart.value}
      breakGlass={breakGlass}
      onOpenSummary={onOpenSummary}
      onPrintMar={onPrintMar}
      possibleDoubleDose={possibleDoubleDose}
    />
  );
}
