import { useEffect, useRef } from 'react';

import type { ChartHeader } from '../generated/ChartHeader';
import { useBackend } from '../backend';
import { formatDate, formatName, formatSex } from '../format';
import { useBackendCall } from '../useBackendCall';
import { AllergyBanner } from './AllergyBanner';
import { ErrorPanel } from './ErrorPanel';

interface Props {
  patientId: string;
  onBack: () => void;
}

function ChartView({ chart }: { chart: ChartHeader }) {
  const { patient } = chart;
  const bannerRef = useRef<HTMLElement>(null);

  // Focus lands on the allergies, so a screen reader reads them first too.
  useEffect(() => {
    bannerRef.current?.focus();
  }, [patient.id]);

  return (
    <article className="chart" aria-label="Patient chart">
      <AllergyBanner ref={bannerRef} allergies={chart.allergies} />
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
              {formatDate(patient.birth_date)} <span className="age">({chart.age_years} y)</span>
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
        </dl>
      </header>
      <section className="chart-body" aria-label="Clinical record">
        <p className="muted">
          Vital signs, laboratory results and recording are not part of this version of Wardbook.
        </p>
      </section>
    </article>
  );
}

/**
 * One patient's chart. Every time it is shown it asks the backend again
 * (`open_chart`), because every view of a chart must be audited: chart data
 * is never kept in the UI between views.
 */
export function Chart({ patientId, onBack }: Props) {
  const backend = useBackend();
  const [chart, retry] = useBackendCall(() => backend.openChart(patientId), [backend, patientId]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
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
  return <ChartView chart={chart.value} />;
}
