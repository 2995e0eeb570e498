import { useState, type FormEvent } from 'react';

import type { AccessReport } from '../generated/AccessReport';
import type { AccessReportQuery } from '../generated/AccessReportQuery';
import type { ExportFormat } from '../generated/ExportFormat';
import type { UiError } from '../generated/UiError';
import { toUiError, useBackend } from '../backend';
import { ErrorPanel } from '../components/ErrorPanel';
import { formatFullDateTime } from '../format';
import { describeQuery, instantOf, patientLabel, userLabel } from './format';
import { ReportTable } from './ReportTable';

const PAGE_SIZE = 50;

type Load = { status: 'idle' } | { status: 'loading' } | { status: 'ready'; report: AccessReport } | { status: 'error'; error: UiError };

interface Props {
  /** Opens the printable report of `query`. */
  onPrint: (query: AccessReportQuery) => void;
}

/**
 * Who viewed a patient (by MRN), what a user viewed (by user name), or
 * both, over a period. Every page shown is one audited view
 * (`access-report-view`), so paging asks the service again; nothing is kept.
 */
export function AccessReportView({ onPrint }: Props) {
  const backend = useBackend();
  const [mrn, setMrn] = useState('');
  const [username, setUsername] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [formError, setFormError] = useState<string | null>(null);
  const [query, setQuery] = useState<AccessReportQuery | null>(null);
  const [load, setLoad] = useState<Load>({ status: 'idle' });
  const [saved, setSaved] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<UiError | null>(null);

  const show = async (next: AccessReportQuery) => {
    setQuery(next);
    setSaved(null);
    setExportError(null);
    setLoad({ status: 'loading' });
    try {
      setLoad({ status: 'ready', report: await backend.accessReport(next) });
    } catch (e) {
      setLoad({ status: 'error', error: toUiError(e) });
    }
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const fromAt = instantOf(from);
    const toAt = instantOf(to);
    if (fromAt && toAt && fromAt >= toAt) {
      setFormError('The period must end after it starts.');
      return;
    }
    setFormError(null);
    void show({
      patient_mrn: mrn.trim() === '' ? null : mrn.trim(),
      username: username.trim() === '' ? null : username.trim(),
      from: fromAt,
      to: toAt,
      page: 1,
      page_size: PAGE_SIZE,
    });
  };

  const exportAs = async (format: ExportFormat) => {
    if (!query) return;
    setExporting(true);
    setSaved(null);
    setExportError(null);
    try {
      const file = await backend.exportAccessReport(query, format);
      setSaved(`Saved ${file.events} event${file.events === 1 ? '' : 's'} as ${format === 'csv' ? 'CSV' : 'FHIR AuditEvents'} to ${file.path}`);
    } catch (e) {
      setExportError(toUiError(e));
    } finally {
      setExporting(false);
    }
  };

  const report = load.status === 'ready' ? load.report : null;
  const pages = report ? Math.max(1, Math.ceil(report.total / report.page_size)) : 1;

  return (
    <section className="privacy-report" aria-labelledby="report-title">
      <h2 id="report-title">Access report</h2>
      <form className="card privacy-query no-print" data-testid="access-report-form" onSubmit={submit} noValidate>
        <p className="hint">
          Who viewed a patient, what a user viewed, or both, over a period. Leave a field empty to include everyone.
          Each report you open is recorded in this workstation’s audit trail.
        </p>
        <div className="form-grid">
          <label className="field">
            <span>Patient MRN</span>
            <input data-testid="report-mrn" autoComplete="off" spellCheck={false} value={mrn} onChange={(e) => setMrn(e.target.value)} />
          </label>
          <label className="field">
            <span>User name</span>
            <input data-testid="report-username" autoComplete="off" spellCheck={false} value={username} onChange={(e) => setUsername(e.target.value)} />
          </label>
          <label className="field">
            <span>From</span>
            <input data-testid="report-from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
          </label>
          <label className="field">
            <span>Until</span>
            <input data-testid="report-to" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
          </label>
        </div>
        {formError && (
          <p className="form-error" role="alert" data-testid="access-report-form-error">
            {formError}
          </p>
        )}
        <div className="form-actions">
          <button type="submit" className="button primary" data-testid="access-report-submit" disabled={load.status === 'loading'}>
            Show report
          </button>
        </div>
      </form>

      {load.status === 'loading' && (
        <p className="loading" role="status">
          Asking the service…
        </p>
      )}
      {load.status === 'error' && query && (
        <ErrorPanel title="The access report could not be shown." error={load.error} onRetry={() => void show(query)} />
      )}
      {report && query && (
        <div data-testid="access-report" data-total={report.total}>
          <div className="screen-toolbar no-print">
            <p className="privacy-subject" data-testid="access-report-subject">
              {report.patient ? (
                <>
                  Who viewed <strong>{patientLabel(report.patient)}</strong> <span className="mono">{report.patient.mrn}</span>
                </>
              ) : report.user ? (
                <>
                  What <strong>{userLabel(report.user)}</strong> viewed
                </>
              ) : (
                <>Every event</>
              )}
              {report.patient && report.user && <> by {userLabel(report.user)}</>}
              {report.from && <> from {formatFullDateTime(report.from)}</>}
              {report.to && <> until {formatFullDateTime(report.to)}</>}: {report.total} event{report.total === 1 ? '' : 's'}
            </p>
            <div className="spacer" />
            <button type="button" className="button" data-testid="export-csv" disabled={exporting} onClick={() => void exportAs('csv')}>
              Export CSV
            </button>
            <button type="button" className="button" data-testid="export-fhir" disabled={exporting} onClick={() => void exportAs('fhir')}>
              Export FHIR
            </button>
            <button type="button" className="button" data-testid="print-report" onClick={() => onPrint(query)}>
              Print report…
            </button>
          </div>
          {saved && (
            <p className="privacy-saved" role="status" data-testid="export-saved">
              {saved}
            </p>
          )}
          {exportError && <ErrorPanel title="The report could not be exported." error={exportError} />}
          {report.rows.length === 0 ? (
            <p data-testid="access-report-empty">No events match {describeQuery(query)} in this period.</p>
          ) : (
            <ReportTable rows={report.rows} caption={`Page ${report.page} of ${pages}, newest first`} hidePatient={report.patient !== null} />
          )}
          {pages > 1 && (
            <div className="form-actions no-print">
              <button type="button" className="button" data-testid="report-previous" disabled={report.page <= 1} onClick={() => void show({ ...query, page: report.page - 1 })}>
                Previous page
              </button>
              <button type="button" className="button" data-testid="report-next" disabled={report.page >= pages} onClick={() => void show({ ...query, page: report.page + 1 })}>
                Next page
              </button>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
