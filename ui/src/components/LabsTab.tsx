import { useState } from 'react';

import type { Observation } from '../generated/Observation';
import type { ObservationRow } from '../generated/ObservationRow';
import type { ReferenceRange } from '../generated/ReferenceRange';
import { useBackend } from '../backend';
import { formatDateTime, formatNumber, formatUnit } from '../format';
import { useBackendCall } from '../useBackendCall';
import { Flag, formatObservationStatus, isCritical, PendingBadge } from './Badges';
import { ErrorPanel } from './ErrorPanel';
import { TrendPlot } from './TrendPlot';
import { formatValue, quantity } from './VitalsTab';

export function formatRange(range: ReferenceRange | null): string {
  if (!range) return '—';
  const unit = formatUnit(range.unit);
  if (range.low !== null && range.high !== null) return `${formatNumber(range.low)}–${formatNumber(range.high)} ${unit}`;
  if (range.low !== null) return `≥ ${formatNumber(range.low)} ${unit}`;
  if (range.high !== null) return `≤ ${formatNumber(range.high)} ${unit}`;
  return '—';
}

/** "Hemoglobin [Mass/volume] in Blood" -> "Hemoglobin": the LOINC long name's component. */
export function analyteName(display: string): string {
  return display.replace(/\s*\[.*$/, '').trim() || display;
}

interface Panel {
  key: string;
  title: string;
  draws: Array<{ at: string; rows: ObservationRow[] }>;
}

export function groupByPanel(rows: ObservationRow[]): Panel[] {
  const panels = new Map<string, Panel>();
  for (const row of rows) {
    const o = row.observation;
    const key = o.panel?.code ?? 'other';
    let panel = panels.get(key);
    if (!panel) {
      panel = { key, title: o.panel?.display ?? 'Other results', draws: [] };
      panels.set(key, panel);
    }
    let draw = panel.draws.find((d) => d.at === o.effective_at);
    if (!draw) {
      draw = { at: o.effective_at, rows: [] };
      panel.draws.push(draw);
    }
    draw.rows.push(row);
  }
  for (const p of panels.values()) p.draws.sort((a, b) => b.at.localeCompare(a.at));
  return [...panels.values()];
}

function LabTrend({ rows, code }: { rows: ObservationRow[]; code: string }) {
  const obs = rows.map((r) => r.observation).filter((o) => o.code.code === code && o.status !== 'entered-in-error');
  const latest = obs[0];
  if (!latest) return null;
  const points = obs
    .flatMap((o: Observation) => {
      const v = quantity(o);
      return v === null ? [] : [{ t: Date.parse(o.effective_at), v }];
    })
    .sort((a, b) => a.t - b.t);
  const range = latest.reference_range;
  const band = range && range.low !== null && range.high !== null ? { low: range.low, high: range.high } : null;
  const name = analyteName(latest.code.display);
  return (
    <section className="lab-trend card" data-testid="lab-trend" aria-label={`${name} trend`}>
      <TrendPlot
        testId="lab-trend-plot"
        title={`${name}: trend`}
        unit={latest.value.kind === 'quantity' ? latest.value.unit : ''}
        series={[{ label: name, color: '#1d4ed8', points, band }]}
      />
    </section>
  );
}

/** Laboratory results grouped by panel and draw, with ranges, flags and a trend per analyte. */
export function LabsTab({ patientId }: { patientId: string }) {
  const backend = useBackend();
  const [state, retry] = useBackendCall(() => backend.viewLabs(patientId), [backend, patientId]);
  const [selected, setSelected] = useState<string | null>(null);

  if (state.status === 'loading') return <p className="loading" role="status">Loading laboratory results…</p>;
  if (state.status === 'error') return <ErrorPanel title="The laboratory results could not be shown." error={state.error} onRetry={retry} />;
  const rows = state.value;
  if (rows.length === 0) return <p className="muted">No laboratory results in this workstation’s records.</p>;

  const critical = rows.filter((r) => isCritical(r.observation.interpretation) && r.observation.status !== 'entered-in-error');

  return (
    <div className="labs-tab">
      {critical.length > 0 && (
        <p className="critical-note" role="note" data-testid="critical-results">
          <span aria-hidden="true">⚠ </span>
          <strong>{critical.length === 1 ? '1 critical result' : `${critical.length} critical results`}</strong>:{' '}
          {critical.map((r) => `${analyteName(r.observation.code.display)} ${formatValue(r.observation)} (${formatDateTime(r.observation.effective_at)})`).join('; ')}
        </p>
      )}
      <p className="muted">Select an analyte’s name to see its trend.</p>
      {selected && <LabTrend rows={rows} code={selected} />}
      {groupByPanel(rows).map((panel) => (
        <section key={panel.key} className="labs-panel" data-testid="labs-panel" data-panel={panel.key} aria-labelledby={`panel-${panel.key}`}>
          <h3 id={`panel-${panel.key}`}>{panel.title}</h3>
          {panel.draws.map((draw) => (
            <table key={draw.at} className="data-table labs-table" aria-label={`${panel.title}, collected ${formatDateTime(draw.at)}`}>
              <caption>Collected {formatDateTime(draw.at)}</caption>
              <thead>
                <tr>
                  <th scope="col">Analyte</th>
                  <th scope="col" className="num">Result</th>
                  <th scope="col">Flag</th>
                  <th scope="col">Reference range</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {draw.rows.map(({ observation: o, pending }) => {
                  const voided = o.status === 'entered-in-error';
                  const Value = voided ? 's' : 'span';
                  const crit = isCritical(o.interpretation) && !voided;
                  return (
                    <tr
                      key={o.id}
                      data-testid="lab-row"
                      data-flag={o.interpretation ?? 'none'}
                      data-status={o.status}
                      className={[voided ? 'is-voided' : '', crit ? 'row-critical' : '', selected === o.code.code ? 'is-selected' : ''].filter(Boolean).join(' ') || undefined}
                    >
                      <th scope="row">
                        <button
                          type="button"
                          className="link-button"
                          aria-pressed={selected === o.code.code}
                          onClick={() => setSelected((s) => (s === o.code.code ? null : o.code.code))}
                          title={o.code.display}
                        >
                          <Value>{analyteName(o.code.display)}</Value>
                        </button>
                      </th>
                      <td className="num">
                        <Value className={crit ? 'value-critical' : undefined}>{formatValue(o)}</Value>
                      </td>
                      <td>{!voided && <Flag interpretation={o.interpretation} />}</td>
                      <td>{formatRange(o.reference_range)}</td>
                      <td>
                        <span className={`status-tag status-${o.status}`}>{formatObservationStatus(o.status)}</span>
                        {pending && <PendingBadge />}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          ))}
        </section>
      ))}
    </div>
  );
}
