import { useState, type FormEvent } from 'react';

import type { Observation } from '../generated/Observation';
import type { ObservationRow } from '../generated/ObservationRow';
import type { VitalSpec } from '../generated/VitalSpec';
import { useBackend } from '../backend';
import { formatDateTime, formatNumber, formatUnit } from '../format';
import { useStatusRefresh } from '../statusRefresh';
import { useBackendCall } from '../useBackendCall';
import { defForLoinc, hasNormalBand, specFor, VITALS, type VitalDef } from '../vitals';
import { Flag, formatObservationStatus, PendingBadge } from './Badges';
import { FormFooter, useFormSubmit } from './FormFooter';
import { ErrorPanel } from './ErrorPanel';
import { TrendPlot, type TrendSeries } from './TrendPlot';
import { VitalsForm } from './VitalsForm';

export function quantity(o: Observation): number | null {
  return o.value.kind === 'quantity' ? o.value.value : null;
}

export function formatValue(o: Observation): string {
  switch (o.value.kind) {
    case 'quantity':
      return `${formatNumber(o.value.value)} ${formatUnit(o.value.unit)}`;
    case 'string':
      return o.value.text;
    case 'boolean':
      return o.value.value ? 'Yes' : 'No';
    case 'coded':
      return o.value.display;
  }
}

const isVoid = (o: Observation) => o.status === 'entered-in-error' || o.deleted;

/** Marks one observation entered in error; the reason is required. */
export function EnteredInErrorForm({
  observation,
  onDone,
  onCancel,
}: {
  observation: Observation;
  onDone: (row: ObservationRow) => void;
  onCancel: () => void;
}) {
  const backend = useBackend();
  const [reason, setReason] = useState('');
  const { error, setError, busy, run } = useFormSubmit();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (reason.trim().length === 0) {
      setError('Give the reason this entry is in error (for example, "recorded against the wrong patient").');
      return;
    }
    await run(async () => onDone(await backend.markEnteredInError({ observation_id: observation.id, reason: reason.trim() })));
  };
  return (
    <form className="card inline-form" data-testid="entered-in-error-form" onSubmit={submit} noValidate>
      <p>
        Mark <strong>{observation.code.display}</strong> {formatValue(observation)} at{' '}
        {formatDateTime(observation.effective_at)} as entered in error. It stays in the chart, struck through.
      </p>
      <label className="field">
        <span>Reason (required)</span>
        <input
          name="reason"
          data-testid="entered-in-error-reason"
          value={reason}
          autoFocus
          required
          onChange={(e) => setReason(e.target.value)}
        />
      </label>
      <FormFooter testId="entered-in-error" error={error} busy={busy} submitLabel="Mark entered in error" danger onCancel={onCancel} />
    </form>
  );
}

function series(rows: ObservationRow[], def: VitalDef, spec: VitalSpec | undefined, color: string, label?: string): TrendSeries {
  const points = rows
    .map((r) => r.observation)
    .filter((o) => def.loinc.includes(o.code.code) && !isVoid(o))
    .flatMap((o) => {
      const v = quantity(o);
      return v === null ? [] : [{ t: Date.parse(o.effective_at), v }];
    })
    .sort((a, b) => a.t - b.t);
  return {
    label: label ?? def.label,
    color,
    points,
    band: spec && hasNormalBand(spec) ? { low: spec.normal_low, high: spec.normal_high } : null,
  };
}

const VITAL = (field: string) => VITALS.find((v) => v.field === field)!;

function VitalsPlots({ rows, specs }: { rows: ObservationRow[]; specs: VitalSpec[] }) {
  const s = (field: string) => specFor(specs, VITAL(field));
  const unit = (field: string) => s(field)?.ucum ?? '';
  return (
    <section className="vitals-plots" data-testid="vitals-plot" aria-label="Vital sign trends">
      <TrendPlot testId="vitals-plot-heart-rate" title="Heart rate" unit={unit('heart_rate')} series={[series(rows, VITAL('heart_rate'), s('heart_rate'), '#b42318')]} />
      <TrendPlot
        testId="vitals-plot-blood-pressure"
        title="Blood pressure"
        unit={unit('systolic')}
        series={[
          series(rows, VITAL('systolic'), s('systolic'), '#1d4ed8', 'Systolic'),
          series(rows, VITAL('diastolic'), s('diastolic'), '#0f766e', 'Diastolic'),
        ]}
      />
      <TrendPlot testId="vitals-plot-respiratory-rate" title="Respiratory rate" unit={unit('respiratory_rate')} series={[series(rows, VITAL('respiratory_rate'), s('respiratory_rate'), '#7e22ce')]} />
      <TrendPlot testId="vitals-plot-temperature" title="Temperature" unit={unit('temperature')} series={[series(rows, VITAL('temperature'), s('temperature'), '#b45309')]} />
      <TrendPlot testId="vitals-plot-spo2" title="SpO₂" unit={unit('spo2')} series={[series(rows, VITAL('spo2'), s('spo2'), '#0e7490')]} />
    </section>
  );
}

function LatestVitals({ rows }: { rows: ObservationRow[] }) {
  return (
    <section className="latest-vitals" data-testid="latest-vitals" aria-label="Latest vital signs">
      {VITALS.map((def) => {
        const latest = rows.find((r) => def.loinc.includes(r.observation.code.code) && !isVoid(r.observation));
        return (
          <div key={def.field} className="latest-card" data-field={def.field}>
            <span className="latest-label">{def.label}</span>
            {latest ? (
              <>
                <span className="latest-value">{formatValue(latest.observation)}</span>
                <Flag interpretation={latest.observation.interpretation} />
                <span className="latest-time muted">{formatDateTime(latest.observation.effective_at)}</span>
                {latest.pending && <PendingBadge />}
              </>
            ) : (
              <span className="muted">Not recorded</span>
            )}
          </div>
        );
      })}
    </section>
  );
}

/**
 * Vital signs: latest set, trends with the normal bands, the table, and
 * recording. `opened`: the rows the chart open read and audited, for the
 * tab's first showing (the chart drops them once another tab is chosen);
 * without them the tab asks the core (an audited vitals view).
 */
export function VitalsTab({ patientId, opened = null }: { patientId: string; opened?: ObservationRow[] | null }) {
  const backend = useBackend();
  const refreshStatus = useStatusRefresh();
  const [state, retry] = useBackendCall(
    () => Promise.all([opened ?? backend.viewVitals(patientId), backend.vitalSpecs()]),
    [backend, patientId],
  );
  const [added, setAdded] = useState<ObservationRow[]>([]);
  const [replaced, setReplaced] = useState<Map<string, ObservationRow>>(new Map());
  const [recording, setRecording] = useState(false);
  const [marking, setMarking] = useState<string | null>(null);

  if (state.status === 'loading') return <p className="loading" role="status">Loading vital signs…</p>;
  if (state.status === 'error') return <ErrorPanel title="The vital signs could not be shown." error={state.error} onRetry={retry} />;

  const [loaded, specs] = state.value;
  const rows = [...added, ...loaded.filter((r) => !added.some((a) => a.observation.id === r.observation.id))]
    .map((r) => replaced.get(r.observation.id) ?? r)
    .sort((a, b) => b.observation.effective_at.localeCompare(a.observation.effective_at));

  return (
    <div className="vitals-tab">
      <div className="tab-toolbar">
        <button
          type="button"
          className="button primary"
          data-testid="record-vitals"
          aria-expanded={recording}
          onClick={() => setRecording((r) => !r)}
        >
          Record vitals
        </button>
      </div>
      {recording && (
        <VitalsForm
          patientId={patientId}
          specs={specs}
          onCancel={() => setRecording(false)}
          onSaved={(saved) => {
            setAdded((a) => [...saved, ...a]);
            setRecording(false);
            refreshStatus();
          }}
        />
      )}
      <LatestVitals rows={rows} />
      <VitalsPlots rows={rows} specs={specs} />
      {marking && (
        <EnteredInErrorForm
          observation={rows.find((r) => r.observation.id === marking)!.observation}
          onCancel={() => setMarking(null)}
          onDone={(row) => {
            setReplaced((m) => new Map(m).set(row.observation.id, row));
            setMarking(null);
            refreshStatus();
          }}
        />
      )}
      <table className="data-table vitals-table" data-testid="vitals-table" aria-label="Vital signs, newest first">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Vital sign</th>
            <th scope="col" className="num">Value</th>
            <th scope="col">Flag</th>
            <th scope="col">Status</th>
            <th scope="col">Recorded by</th>
            <th scope="col"><span className="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">No vital signs recorded.</td>
            </tr>
          )}
          {rows.map(({ observation: o, pending }) => {
            const voided = isVoid(o);
            const def = defForLoinc(o.code.code);
            const Value = voided ? 's' : 'span';
            return (
              <tr
                key={o.id}
                data-testid="vitals-row"
                data-observation-id={o.id}
                data-status={o.status}
                className={voided ? 'is-voided' : undefined}
              >
                <td>{formatDateTime(o.effective_at)}</td>
                <td>
                  <Value>{def?.label ?? o.code.display}</Value>
                </td>
                <td className="num">
                  <Value>{formatValue(o)}</Value>
                </td>
                <td>{!voided && <Flag interpretation={o.interpretation} />}</td>
                <td>
                  <span className={`status-tag status-${o.status}`}>{formatObservationStatus(o.status)}</span>
                  {pending && <PendingBadge />}
                </td>
                <td>{o.recorded_by}</td>
                <td>
                  {!voided && (
                    <button
                      type="button"
                      className="button small"
                      data-testid="entered-in-error"
                      onClick={() => setMarking(o.id)}
                      aria-label={`Mark ${def?.label ?? o.code.display} at ${formatDateTime(o.effective_at)} entered in error`}
                    >
                      Entered in error…
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
