import type { AccessReportQuery } from '../generated/AccessReportQuery';
import { useBackend } from '../backend';
import { ErrorPanel } from '../components/ErrorPanel';
import { formatFullDateTime } from '../format';
import { useBackendCall } from '../useBackendCall';
import { describeQuery, patientLabel, userLabel } from './format';
import { ReportTable } from './ReportTable';

/**
 * The access report on paper (as the MAR printout): its first 500 events,
 * oldest last, with what it is about and when it was printed. Preparing it
 * is an audited `print`; "Print" opens the system dialog (print to PDF
 * from there).
 */
export function AccessReportPrint({ query, onBack }: { query: AccessReportQuery; onBack: () => void }) {
  const backend = useBackend();
  const [state, retry] = useBackendCall(() => backend.printAccessReport(query), [backend, query]);
  return (
    <section className="privacy-print" aria-label="Access report printout">
      <div className="screen-toolbar no-print">
        <button type="button" className="button" data-testid="print-back" onClick={onBack}>
          <span aria-hidden="true">←</span> Back to the report
        </button>
        <h1>Access report printout</h1>
        <div className="spacer" />
        {state.status === 'ready' && (
          <button type="button" className="button primary" data-testid="print-report-now" onClick={() => window.print()}>
            Print
          </button>
        )}
      </div>
      {state.status === 'loading' && (
        <p className="loading" role="status">
          Preparing the report…
        </p>
      )}
      {state.status === 'error' && <ErrorPanel title="The report could not be prepared." error={state.error} onRetry={retry} />}
      {state.status === 'ready' && (
        <div className="print-area summary-sheet" data-testid="access-report-print" data-rows={state.value.rows.length}>
          <header>
            <h2>
              Access report:{' '}
              {state.value.patient ? (
                <>
                  who viewed {patientLabel(state.value.patient)} <span className="mono">{state.value.patient.mrn}</span>
                </>
              ) : state.value.user ? (
                <>what {userLabel(state.value.user)} viewed</>
              ) : (
                describeQuery(query)
              )}
            </h2>
            <p>
              Period: {state.value.from ? formatFullDateTime(state.value.from) : 'the beginning'} to{' '}
              {state.value.to ? formatFullDateTime(state.value.to) : 'now'} · {state.value.total} event
              {state.value.total === 1 ? '' : 's'}
              {state.value.total > state.value.rows.length && `, the newest ${state.value.rows.length} printed (export for all)`}
            </p>
          </header>
          <ReportTable rows={state.value.rows} caption="Newest first" hidePatient={state.value.patient !== null} testId="access-report-print-table" />
          <footer className="summary-foot">
            Printed {formatFullDateTime(new Date().toISOString())} from Wardbook’s privacy workspace. Confidential: it names
            patients and staff. Printing it is recorded in the audit trail.
          </footer>
        </div>
      )}
    </section>
  );
}
