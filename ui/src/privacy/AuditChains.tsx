import { useBackend } from '../backend';
import { ErrorPanel } from '../components/ErrorPanel';
import { formatFullDateTime } from '../format';
import { useBackendCall } from '../useBackendCall';
import { breakLabel, chainStateLabel, deviceLabel } from './format';

/**
 * Every workstation's audit chain as the service verifies it now: whether
 * it is continuous from sequence 1 (each event's hash and link checked),
 * where it first breaks and how, and the uploads the service refused.
 * Opening it is an audited view (`audit-chain-view`); "Check again" asks
 * (and audits) again.
 */
export function AuditChains() {
  const backend = useBackend();
  const [state, retry] = useBackendCall(() => backend.auditChains(), [backend]);
  const status = state.status === 'ready' ? state.value : null;
  const attention = status ? status.devices.filter((d) => d.state === 'broken' || d.findings.length > 0).length : 0;
  return (
    <section className="privacy-chains" aria-labelledby="chains-title">
      <div className="screen-toolbar">
        <h2 id="chains-title">Audit chains</h2>
        <div className="spacer" />
        <button type="button" className="button" data-testid="chains-refresh" onClick={retry}>
          Check again
        </button>
      </div>
      {state.status === 'loading' && (
        <p className="loading" role="status">
          Verifying every workstation’s chain…
        </p>
      )}
      {state.status === 'error' && <ErrorPanel title="The audit chains could not be checked." error={state.error} onRetry={retry} />}
      {status && (
        <>
          <p data-testid="chains-summary">
            Checked {formatFullDateTime(status.checked_at)}: {status.devices.length} workstation
            {status.devices.length === 1 ? '' : 's'},{' '}
            {attention === 0 ? 'every chain continuous, no findings.' : <strong>{attention} need attention.</strong>}
          </p>
          <table className="data-table privacy-table" data-testid="chains-table">
            <caption>Workstations</caption>
            <thead>
              <tr>
                <th scope="col">Workstation</th>
                <th scope="col">Chain</th>
                <th scope="col" className="num">
                  Events
                </th>
                <th scope="col">Last event</th>
                <th scope="col">Last upload</th>
                <th scope="col">Findings</th>
              </tr>
            </thead>
            <tbody>
              {status.devices.map((d) => (
                <tr
                  key={d.device.id}
                  data-testid="chain-row"
                  data-device-id={d.device.id}
                  data-state={d.state}
                  data-findings={d.findings.length}
                  className={d.state === 'broken' || d.findings.length > 0 ? 'row-critical' : undefined}
                >
                  <th scope="row">
                    {deviceLabel(d.device)}
                    {d.revoked && <span className="muted"> (revoked)</span>}
                  </th>
                  <td>
                    {d.state === 'broken' && <span aria-hidden="true">⚠ </span>}
                    <strong>{chainStateLabel(d.state)}</strong>
                    {d.broken_at && (
                      <>
                        {' '}
                        at sequence {d.broken_at.sequence}: {breakLabel(d.broken_at.kind)}
                      </>
                    )}
                  </td>
                  <td className="num">{d.events}</td>
                  <td>
                    {d.last_recorded_at ? (
                      <>
                        #{d.last_sequence} · {formatFullDateTime(d.last_recorded_at)}
                      </>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td>{d.last_received_at ? formatFullDateTime(d.last_received_at) : '—'}</td>
                  <td>
                    {d.findings.length === 0 ? (
                      'None'
                    ) : (
                      <ul className="plain-list">
                        {d.findings.map((f, i) => (
                          <li key={`${f.detected_at}-${i}`}>
                            {formatFullDateTime(f.detected_at)}: {breakLabel(f.kind)}
                            {f.position !== null && ` at sequence ${f.position}`} ({f.detail})
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
