import { useEffect, useRef, useState, type FormEvent } from 'react';

import type { AdministrationRow } from '../generated/AdministrationRow';
import type { MarOrder } from '../generated/MarOrder';
import type { MedicationsView } from '../generated/MedicationsView';
import { useBackend } from '../backend';
import {
  formatAdministrationStatus,
  formatCheck,
  formatDayClock,
  formatDose,
  formatNotGivenReason,
  formatOrderStatus,
  isCurrentOrder,
  MAR_WINDOWS,
  windowBounds,
  type MarWindow,
} from '../medications';
import { useStatusRefresh } from '../statusRefresh';
import { useBackendCall } from '../useBackendCall';
import { PendingBadge } from './Badges';
import { DoseForm } from './DoseForm';
import { DoubleDoseBanner } from './DoubleDoseBanner';
import { ErrorPanel } from './ErrorPanel';
import { FormFooter, useFormSubmit } from './FormFooter';
import { MarGrid, PrnList, slotRecords, type SlotChoice } from './MarGrid';
import { OrderTable } from './MedicationOrders';

/** Marks one administration entered in error; the reason is required. */
function AdministrationErrorForm({
  row,
  name,
  zone,
  onDone,
  onCancel,
}: {
  row: AdministrationRow;
  name: string;
  zone: string;
  onDone: () => void;
  onCancel: () => void;
}) {
  const backend = useBackend();
  const [reason, setReason] = useState('');
  const { error, setError, busy, run } = useFormSubmit();
  const a = row.administration;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (reason.trim().length === 0) {
      setError('Give the reason this record is in error (for example, "charted against the wrong patient").');
      return;
    }
    await run(async () => {
      await backend.administrationEnteredInError({ administration_id: a.id, reason: reason.trim() });
      onDone();
    });
  };
  return (
    <form className="card inline-form" data-testid="administration-error-form" onSubmit={submit} noValidate>
      <p>
        Mark <strong>{name}</strong>, {formatAdministrationStatus(a.status).toLowerCase()} {formatDayClock(a.given_at, zone)} by{' '}
        {a.performer}, as entered in error. It stays on the record, struck through.
      </p>
      <label className="field">
        <span>Reason (required)</span>
        <input data-testid="administration-error-reason" value={reason} autoFocus onChange={(e) => setReason(e.target.value)} />
      </label>
      <FormFooter testId="administration-error" error={error} busy={busy} submitLabel="Mark entered in error" danger onCancel={onCancel} />
    </form>
  );
}

/** What was recorded, newest first, with "Entered in error…" on each record still standing. */
function AdministrationList({
  rows,
  view,
  onMark,
  testId,
}: {
  rows: Array<{ row: AdministrationRow; line: MarOrder }>;
  view: MedicationsView;
  onMark: (id: string) => void;
  testId: string;
}) {
  const zone = view.time_zone;
  if (rows.length === 0) return <p className="muted">No doses recorded.</p>;
  return (
    <table className="data-table" data-testid={testId}>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Medication</th>
          <th scope="col">Outcome</th>
          <th scope="col">Dose and route</th>
          <th scope="col">By</th>
          <th scope="col">Overrides</th>
          <th scope="col">
            <span className="sr-only">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ row, line }) => {
          const a = row.administration;
          const voided = a.status === 'entered-in-error' || a.deleted;
          const Text = voided ? 's' : 'span';
          return (
            <tr key={a.id} data-testid="administration-row" data-administration-id={a.id} data-status={a.status} className={voided ? 'is-voided' : undefined}>
              <td>
                {formatDayClock(a.given_at, zone)}
                {a.due_at && <span className="muted"> (due {formatDayClock(a.due_at, zone)})</span>}
              </td>
              <td>
                <Text>{line.order.medication.display}</Text>
              </td>
              <td>
                <span className={`admin-status admin-${a.status}`}>{formatAdministrationStatus(a.status)}</span>
                {a.not_given_reason && <>: {formatNotGivenReason(a.not_given_reason)}</>}
                {a.error_reason && <span className="muted"> ({a.error_reason})</span>}
                {row.pending && <PendingBadge />}
              </td>
              <td>
                <Text>
                  {a.status === 'not-done' ? '—' : `${formatDose(a.dose)}${a.route ? `, ${a.route.display}` : ''}${a.site ? `, ${a.site}` : ''}`}
                </Text>
              </td>
              <td>
                {a.performer}
                {a.witness && <span className="muted"> (witness {a.witness})</span>}
              </td>
              <td>{a.overrides.length === 0 ? <span className="muted">—</span> : a.overrides.map((o) => `${formatCheck(o.check)}: ${o.reason}`).join('; ')}</td>
              <td>
                {!voided && (
                  <button type="button" className="button small" data-testid="administration-entered-in-error" onClick={() => onMark(a.id)}>
                    Entered in error…<span className="sr-only"> {line.order.medication.display} {formatDayClock(a.given_at, zone)}</span>
                  </button>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** One due dose (or a PRN "Give"): what is recorded for it, and the form to record it. */
function DosePanel({
  patientId,
  view,
  choice,
  onChanged,
  onMark,
  onClose,
}: {
  patientId: string;
  view: MedicationsView;
  choice: SlotChoice;
  onChanged: () => void;
  onMark: (id: string) => void;
  onClose: () => void;
}) {
  const line = view.orders.find((o) => o.order.id === choice.orderId);
  const slot = choice.dueAt === null ? null : line?.slots.find((s) => Date.parse(s.due_at) === Date.parse(choice.dueAt!));
  const records = line && slot ? slotRecords(line, slot) : [];
  const answered = records.some((r) => r.administration.status !== 'entered-in-error' && !r.administration.deleted);
  const [recording, setRecording] = useState(!answered);
  if (!line) return null;
  const zone = view.time_zone;
  return (
    <section className="card dose-panel" data-testid="dose-panel" aria-labelledby="dose-panel-title">
      <h3 id="dose-panel-title">
        {line.order.medication.display}: {choice.dueAt ? `dose due ${formatDayClock(choice.dueAt, zone)}` : 'as-needed dose'}
      </h3>
      {records.length > 0 && (
        <AdministrationList rows={records.map((row) => ({ row, line }))} view={view} onMark={onMark} testId="slot-records" />
      )}
      {line.order.status !== 'active' && (
        <p className="warning-note">
          This order is {formatOrderStatus(line.order.status).toLowerCase()}: a dose recorded as given needs an override
          reason.
        </p>
      )}
      {recording ? (
        <DoseForm patientId={patientId} order={line.order} dueAt={choice.dueAt} onCancel={onClose} onSaved={onChanged} />
      ) : (
        <div className="form-actions">
          <p className="hint">This dose is already recorded. A second “given” record is flagged as a possible double dose.</p>
          <button type="button" className="button" data-testid="record-again" onClick={() => setRecording(true)}>
            Record again…
          </button>
          <button type="button" className="button" onClick={onClose}>
            Close
          </button>
        </div>
      )}
    </section>
  );
}

interface Props {
  patientId: string;
  /** How many possible double doses the last view showed (the chart header's flag). */
  onDoubleDoses?: (count: number) => void;
  onPrintMar?: (() => void) | undefined;
}

/**
 * Medications: current orders, possible double doses, the MAR grid over a
 * chosen window, PRN orders, and recording. Every read asks the core again
 * (`medications`, an audited read); after each recording the view is read
 * again, because slot states are the core's to compute.
 */
export function MedicationsTab({ patientId, onDoubleDoses, onPrintMar }: Props) {
  const backend = useBackend();
  const refreshStatus = useStatusRefresh();
  const [windowChoice, setWindowChoice] = useState<MarWindow>('default');
  const [state, retry] = useBackendCall(() => {
    const [start, end] = windowBounds(windowChoice);
    return backend.medications(patientId, start, end);
  }, [backend, patientId, windowChoice]);
  const [choice, setChoice] = useState<SlotChoice | null>(null);
  const [marking, setMarking] = useState<string | null>(null);
  // While the view is read again, the last one stays on screen.
  const last = useRef<MedicationsView | null>(null);
  if (state.status === 'ready') last.current = state.value;
  const view = state.status === 'ready' ? state.value : last.current;

  const doubles = view?.double_doses.length ?? null;
  useEffect(() => {
    if (doubles !== null) onDoubleDoses?.(doubles);
  }, [doubles, onDoubleDoses]);

  if (state.status === 'error') return <ErrorPanel title="The medications could not be shown." error={state.error} onRetry={retry} />;
  if (!view) return <p className="loading" role="status">Loading medications…</p>;

  const changed = () => {
    setChoice(null);
    setMarking(null);
    refreshStatus();
    retry();
  };
  const current = view.orders.filter((o) => isCurrentOrder(o.order)).map((o) => o.order);
  const others = view.orders.filter((o) => !isCurrentOrder(o.order)).map((o) => o.order);
  const start = Date.parse(view.window_start);
  const end = Date.parse(view.window_end);
  const recorded = view.orders
    .flatMap((line) => line.administrations.map((row) => ({ row, line })))
    .filter(({ row }) => Date.parse(row.administration.given_at) >= start && Date.parse(row.administration.given_at) < end)
    .sort((a, b) => Date.parse(b.row.administration.given_at) - Date.parse(a.row.administration.given_at));
  const markingRow = marking ? view.orders.flatMap((l) => l.administrations.map((row) => ({ row, line: l }))).find((r) => r.row.administration.id === marking) : undefined;

  return (
    <div className="medications-tab" data-testid="medications-tab" aria-busy={state.status === 'loading'}>
      <DoubleDoseBanner patientId={patientId} view={view} onReviewed={changed} />
      <section aria-labelledby="orders-title">
        <div className="tab-toolbar">
          <h2 id="orders-title" className="section-title">
            Current orders
          </h2>
          <div className="spacer" />
          {onPrintMar && (
            <button type="button" className="button" data-testid="print-mar" onClick={onPrintMar}>
              Print MAR…
            </button>
          )}
        </div>
        {current.length === 0 ? (
          <p className="muted" data-testid="no-orders">
            No current medication orders.
          </p>
        ) : (
          <OrderTable orders={current} label="Current medication orders" testId="medication-orders" />
        )}
        {others.length > 0 && (
          <details className="other-orders">
            <summary>Stopped, completed and other orders ({others.length})</summary>
            <OrderTable orders={others} label="Other medication orders" testId="other-orders" />
          </details>
        )}
      </section>
      <section aria-labelledby="mar-title">
        <div className="tab-toolbar">
          <h2 id="mar-title" className="section-title">
            Administration record
          </h2>
          <label className="field-inline">
            <span>Window</span>
            <select data-testid="mar-window" value={windowChoice} onChange={(e) => setWindowChoice(e.target.value as MarWindow)}>
              {MAR_WINDOWS.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.label}
                </option>
              ))}
            </select>
          </label>
          <span className="muted mar-window-text">
            {formatDayClock(view.window_start, view.time_zone)} to {formatDayClock(view.window_end, view.time_zone)} ({view.time_zone}),
            as of {formatDayClock(view.now, view.time_zone)}
          </span>
          <div className="spacer" />
          {/* Due states move with the clock and records sync in the background: read again on request (an audited read). */}
          <button type="button" className="button small" data-testid="mar-refresh" onClick={retry} disabled={state.status === 'loading'}>
            Refresh
          </button>
        </div>
        {marking && markingRow && (
          <AdministrationErrorForm
            row={markingRow.row}
            name={markingRow.line.order.medication.display}
            zone={view.time_zone}
            onCancel={() => setMarking(null)}
            onDone={changed}
          />
        )}
        {choice && (
          <DosePanel
            key={`${choice.orderId}|${choice.dueAt ?? 'prn'}`}
            patientId={patientId}
            view={view}
            choice={choice}
            onChanged={changed}
            onMark={setMarking}
            onClose={() => setChoice(null)}
          />
        )}
        <MarGrid view={view} selected={choice} onSelect={setChoice} />
        <PrnList view={view} onGive={setChoice} />
      </section>
      <section aria-labelledby="recorded-title">
        <h3 id="recorded-title">Doses recorded in this window</h3>
        <AdministrationList rows={recorded} view={view} onMark={setMarking} testId="administrations-table" />
      </section>
    </div>
  );
}
