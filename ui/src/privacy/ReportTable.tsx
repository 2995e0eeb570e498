import type { AccessRow } from '../generated/AccessRow';
import { formatFullDateTime } from '../format';
import { deviceLabel, patientLabel, purposeLabel, subtypeLabel, userLabel } from './format';

interface Props {
  rows: AccessRow[];
  caption: string;
  /** Leave out the patient column (a report about one patient). */
  hidePatient?: boolean;
  testId?: string;
}

/**
 * Audit events as the privacy office reads them: when, who, what, which
 * patient, why (purpose of use), from which workstation, and whether the
 * session began offline. Emergency access is marked in words as well as colour.
 */
export function ReportTable({ rows, caption, hidePatient = false, testId = 'access-report-table' }: Props) {
  return (
    <table className="data-table privacy-table" data-testid={testId}>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">User</th>
          <th scope="col">What</th>
          {!hidePatient && <th scope="col">Patient</th>}
          <th scope="col">Purpose</th>
          <th scope="col">Workstation</th>
          <th scope="col">Session</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr
            key={r.event_id}
            data-testid="access-row"
            data-subtype={r.subtype}
            data-purpose={r.purpose_of_use}
            data-offline={r.offline ? 'true' : 'false'}
            className={r.purpose_of_use === 'ETREAT' ? 'row-emergency' : undefined}
          >
            <td>
              <time dateTime={r.recorded_at}>{formatFullDateTime(r.recorded_at)}</time>
            </td>
            <td>{userLabel(r.user)}</td>
            <td>
              {subtypeLabel(r.subtype)}
              {r.outcome !== 'success' && <span className="status-tag"> {r.outcome === 'minor-failure' ? 'failed' : 'serious failure'}</span>}
            </td>
            {!hidePatient && (
              <td>
                {r.patient ? (
                  <>
                    {patientLabel(r.patient)} <span className="mono">{r.patient.mrn}</span>
                  </>
                ) : r.patient_id ? (
                  <span className="muted">Patient no longer held ({r.patient_id.slice(0, 8)})</span>
                ) : (
                  <span className="muted">No single patient</span>
                )}
              </td>
            )}
            <td>
              {r.purpose_of_use === 'ETREAT' && <span aria-hidden="true">⚠ </span>}
              {purposeLabel(r.purpose_of_use)}
            </td>
            <td>
              {deviceLabel(r.device)} <span className="muted">#{r.sequence}</span>
            </td>
            <td>{r.offline ? <strong>Offline</strong> : 'Online'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
