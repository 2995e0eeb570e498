import type { DowntimeSummary } from '../generated/DowntimeSummary';
import type { Observation } from '../generated/Observation';
import { useBackend } from '../backend';
import { formatDate, formatFullDateTime, formatName, formatSex } from '../format';
import { useBackendCall } from '../useBackendCall';
import { defForLoinc } from '../vitals';
import { AllergyBanner } from './AllergyBanner';
import { Flag, formatObservationStatus } from './Badges';
import { ErrorPanel } from './ErrorPanel';
import { analyteName, formatRange } from './LabsTab';
import { OrderTable } from './MedicationOrders';
import { formatValue } from './VitalsTab';

function ObservationTable({ rows, kind }: { rows: Observation[]; kind: 'vitals' | 'labs' }) {
  if (rows.length === 0) return <p>None in this workstation’s records.</p>;
  return (
    <table className="data-table summary-table">
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">{kind === 'vitals' ? 'Vital sign' : 'Analyte'}</th>
          <th scope="col" className="num">Value</th>
          <th scope="col">Flag</th>
          {kind === 'labs' && <th scope="col">Reference range</th>}
          <th scope="col">Status</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((o) => {
          const voided = o.status === 'entered-in-error';
          const Value = voided ? 's' : 'span';
          return (
            <tr key={o.id} className={voided ? 'is-voided' : undefined}>
              <td>{formatFullDateTime(o.effective_at)}</td>
              <td>
                <Value>{kind === 'vitals' ? (defForLoinc(o.code.code)?.label ?? o.code.display) : analyteName(o.code.display)}</Value>
              </td>
              <td className="num">
                <Value>{formatValue(o)}</Value>
              </td>
              <td>{!voided && <Flag interpretation={o.interpretation} />}</td>
              {kind === 'labs' && <td>{o.reference_range ? formatRange(o.reference_range) : '—'}</td>}
              <td>{formatObservationStatus(o.status)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function SummaryBody({ summary }: { summary: DowntimeSummary }) {
  const { patient } = summary.header;
  return (
    <div className="print-area summary-sheet" data-testid="downtime-summary-view">
      <header className="summary-head">
        <h1>Downtime summary</h1>
        {patient.synthetic && <p className="tag tag-synthetic">SYNTHETIC DATA: generated test patient, not a real person</p>}
        <h2 className="patient-name">{formatName(patient.family_name, patient.given_name)}</h2>
        <dl className="demographics">
          <div>
            <dt>MRN</dt>
            <dd className="mono">{patient.mrn}</dd>
          </div>
          <div>
            <dt>Born</dt>
            <dd>
              {formatDate(patient.birth_date)} ({summary.header.age_years} y)
            </dd>
          </div>
          <div>
            <dt>Sex</dt>
            <dd>{formatSex(patient.sex)}</dd>
          </div>
          <div>
            <dt>Location</dt>
            <dd>{patient.location ?? 'Unassigned'}</dd>
          </div>
          {patient.bed !== null && (
            <div>
              <dt>Bed</dt>
              <dd>{patient.bed}</dd>
            </div>
          )}
        </dl>
      </header>
      <AllergyBanner allergies={summary.header.allergies} />
      <section>
        <h2>Current medications</h2>
        {summary.medications.length === 0 ? (
          <p>No current medication orders in this workstation’s records.</p>
        ) : (
          <OrderTable orders={summary.medications} label="Current medications" testId="summary-medications" />
        )}
        <p className="hint">For what was given and what is due, print the MAR from the Medications tab.</p>
      </section>
      <section>
        <h2>Vital signs, last 24 hours</h2>
        <ObservationTable rows={summary.vitals} kind="vitals" />
      </section>
      <section>
        <h2>Recent laboratory results</h2>
        <ObservationTable rows={summary.labs} kind="labs" />
      </section>
      <section>
        <h2>Active problems</h2>
        {summary.problems.length === 0 ? (
          <p>None recorded in Wardbook</p>
        ) : (
          <ul>
            {summary.problems.map((p, i) => (
              <li key={i}>{p}</li>
            ))}
          </ul>
        )}
      </section>
      <footer className="summary-foot">
        <p>
          Generated {formatFullDateTime(summary.generated_at)} by {summary.generated_by}.{' '}
          {summary.data_as_of
            ? `Data as of ${formatFullDateTime(summary.data_as_of)} (last sync with the hospital records).`
            : 'This workstation has never synced: the data may be incomplete.'}
        </p>
        <p>Printed from Wardbook for use during downtime. Check against the main record when systems return.</p>
      </footer>
    </div>
  );
}

/** The printable one-patient summary (the backend audits producing it as a print). */
export function DowntimeSummaryView({ patientId, onBack }: { patientId: string; onBack: () => void }) {
  const backend = useBackend();
  const [state, retry] = useBackendCall(() => backend.downtimeSummary(patientId), [backend, patientId]);
  return (
    <section className="downtime-summary" aria-label="Downtime summary">
      <div className="screen-toolbar no-print">
        <button type="button" className="button" onClick={onBack}>
          <span aria-hidden="true">←</span> Back to the chart
        </button>
        <div className="spacer" />
        {state.status === 'ready' && (
          <button type="button" className="button primary" data-testid="print-summary" onClick={() => window.print()}>
            Print
          </button>
        )}
      </div>
      {state.status === 'loading' && <p className="loading" role="status">Preparing the summary…</p>}
      {state.status === 'error' && <ErrorPanel title="The summary could not be prepared." error={state.error} onRetry={retry} />}
      {state.status === 'ready' && <SummaryBody summary={state.value} />}
    </section>
  );
}
