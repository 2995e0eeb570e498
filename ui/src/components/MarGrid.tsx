import type { AdministrationRow } from '../generated/AdministrationRow';
import type { MarOrder } from '../generated/MarOrder';
import type { MarSlot } from '../generated/MarSlot';
import type { MedicationsView } from '../generated/MedicationsView';
import {
  columnsByDay,
  dueColumns,
  formatClock,
  formatDayClock,
  formatDose,
  formatInterval,
  formatNotGivenReason,
  formatOrderStatus,
  isCurrentOrder,
  orderTiming,
  prnOrders,
  scheduledOrders,
  SLOT_STATES,
} from '../medications';
import { formatNumber } from '../format';

/** The records a slot names, from its order's administrations. */
export function slotRecords(line: MarOrder, slot: MarSlot): AdministrationRow[] {
  return line.administrations.filter((r) => slot.administration_ids.includes(r.administration.id));
}

/** Administration ids that are part of an unreviewed possible double dose. */
function doubledIds(view: MedicationsView): Set<string> {
  return new Set(view.double_doses.flatMap((d) => d.administration_ids));
}

export interface SlotChoice {
  orderId: string;
  /** Null: a PRN dose. */
  dueAt: string | null;
}

function SlotCell({
  edge,
  line,
  slot,
  view,
  doubled,
  selected,
  onSelect,
}: {
  /** Extra class of the first column after now. */
  edge: string;
  line: MarOrder;
  slot: MarSlot;
  view: MedicationsView;
  doubled: Set<string>;
  selected: boolean;
  onSelect: (choice: SlotChoice) => void;
}) {
  const zone = view.time_zone;
  const records = slotRecords(line, slot);
  const pending = records.some((r) => r.pending);
  const double = slot.administration_ids.some((id) => doubled.has(id));
  // The first dose given (a second one is the double dose flagged below).
  const given = records
    .filter((r) => r.administration.status === 'completed' && !r.administration.deleted)
    .sort((a, b) => Date.parse(a.administration.given_at) - Date.parse(b.administration.given_at))[0];
  const { icon, text } = SLOT_STATES[slot.state];
  let detail: string | null = null;
  if (slot.state === 'given' && given) detail = formatClock(given.administration.given_at, zone);
  if (slot.state === 'not-given' && slot.not_given_reason) detail = formatNotGivenReason(slot.not_given_reason);
  const label = [
    `${line.order.medication.display}, due ${formatDayClock(slot.due_at, zone)}: ${text}`,
    detail && slot.state === 'given' ? `at ${detail}` : detail,
    pending ? 'pending sync' : null,
    double ? 'possible double dose' : null,
  ]
    .filter(Boolean)
    .join(', ');
  return (
    <td className={`mar-cell${edge}`}>
      <button
        type="button"
        className={`mar-slot slot-${slot.state}${double ? ' slot-double' : ''}${selected ? ' is-selected' : ''}`}
        data-testid="mar-slot"
        data-state={slot.state}
        data-due-at={slot.due_at}
        data-order-id={line.order.id}
        data-pending={pending ? 'true' : 'false'}
        aria-label={label}
        aria-pressed={selected}
        onClick={() => onSelect({ orderId: line.order.id, dueAt: slot.due_at })}
      >
        <span className="slot-state">
          <span aria-hidden="true">{icon} </span>
          {text}
        </span>
        {detail && <span className="slot-detail">{detail}</span>}
        {pending && (
          <span className="slot-pending" data-testid="slot-pending">
            <span aria-hidden="true">⟳ </span>Pending
          </span>
        )}
        {double && (
          <span className="slot-double-mark">
            <span aria-hidden="true">⚠ </span>{records.length} records
          </span>
        )}
      </button>
    </td>
  );
}

/**
 * The MAR grid: one row per scheduled order, one column per due time in the
 * window (grouped by day, in the hospital's time zone), each due time a
 * button showing its state in an icon and words. Columns at or after the
 * view's `now` are marked, so the current time reads across the grid.
 */
export function MarGrid({
  view,
  selected,
  onSelect,
}: {
  view: MedicationsView;
  selected: SlotChoice | null;
  onSelect: (choice: SlotChoice) => void;
}) {
  const zone = view.time_zone;
  const lines = scheduledOrders(view).filter((l) => l.slots.length > 0);
  const columns = dueColumns(view);
  const days = columnsByDay(columns, zone);
  const now = Date.parse(view.now);
  const firstAhead = columns.findIndex((c) => Date.parse(c) > now);
  const doubled = doubledIds(view);
  if (lines.length === 0) {
    return (
      <p className="muted" data-testid="mar-grid" data-empty="true">
        No scheduled doses in this window.
      </p>
    );
  }
  return (
    <div className="mar-scroll">
      <table className="data-table mar-grid" data-testid="mar-grid" aria-label="Medication administration record">
        <thead>
          <tr>
            <th scope="col" rowSpan={2} className="mar-med">
              Medication
            </th>
            {days.map((d) => (
              <th key={d.day} scope="colgroup" colSpan={d.count} className="mar-day">
                {d.label}
              </th>
            ))}
          </tr>
          <tr>
            {columns.map((c, i) => (
              <th key={c} scope="col" className={`mar-time${i === firstAhead ? ' is-now-edge' : ''}`}>
                <time dateTime={c}>{formatClock(c, zone)}</time>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {lines.map((line) => {
            const bySlot = new Map(line.slots.map((s) => [Date.parse(s.due_at), s]));
            const current = isCurrentOrder(line.order);
            return (
              <tr key={line.order.id} data-testid="mar-row" data-order-id={line.order.id} className={current ? undefined : 'is-not-current'}>
                <th scope="row" className="mar-med">
                  <span className="mar-med-name">{line.order.medication.display}</span>
                  <span className="mar-med-sig muted">
                    {formatDose(line.order.dose)} {line.order.route?.display ?? ''} · {orderTiming(line.order)}
                  </span>
                  {!current && <span className="status-tag status-clinical">{formatOrderStatus(line.order.status)}</span>}
                  {line.order.high_alert && <HighAlertBadge />}
                </th>
                {columns.map((c, i) => {
                  const slot = bySlot.get(Date.parse(c));
                  const edge = i === firstAhead ? ' is-now-edge' : '';
                  if (!slot) return <td key={c} className={`mar-empty${edge}`} />;
                  const isSelected = selected?.orderId === line.order.id && selected.dueAt !== null && Date.parse(selected.dueAt) === Date.parse(slot.due_at);
                  return (
                    <SlotCell key={c} edge={edge} line={line} slot={slot} view={view} doubled={doubled} selected={isSelected} onSelect={onSelect} />
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function HighAlertBadge() {
  return (
    <span className="badge-high-alert" data-testid="high-alert">
      <span aria-hidden="true">⚠ </span>High-alert
    </span>
  );
}

/** PRN orders: time since the last dose, the last 24 hours, when the next is allowed, and "Give". */
export function PrnList({ view, onGive }: { view: MedicationsView; onGive: (choice: SlotChoice) => void }) {
  const zone = view.time_zone;
  const lines = prnOrders(view).filter((l) => isCurrentOrder(l.order));
  if (lines.length === 0) return null;
  return (
    <section className="prn-list" aria-labelledby="prn-title">
      <h3 id="prn-title">As needed (PRN)</h3>
      <table className="data-table" data-testid="prn-table">
        <thead>
          <tr>
            <th scope="col">Medication</th>
            <th scope="col">Last dose</th>
            <th scope="col">Last 24 hours</th>
            <th scope="col">Next dose</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {lines.map((line) => {
            const prn = line.prn;
            const unit = prn?.unit ?? line.order.dose?.unit ?? '';
            const pending = line.administrations.some((r) => r.pending);
            return (
              <tr key={line.order.id} data-testid="prn-order" data-order-id={line.order.id}>
                <th scope="row">
                  <span className="mar-med-name">{line.order.medication.display}</span>
                  <span className="mar-med-sig muted">
                    {formatDose(line.order.dose)} {line.order.route?.display ?? ''} · {orderTiming(line.order)}
                  </span>
                  {line.order.high_alert && <HighAlertBadge />}
                </th>
                <td data-testid="prn-last">
                  {prn?.last_given_at ? (
                    <>
                      {formatDayClock(prn.last_given_at, zone)}
                      {prn.minutes_since_last !== null && (
                        <span className="muted"> ({formatInterval(Math.max(0, prn.minutes_since_last))} ago)</span>
                      )}
                    </>
                  ) : (
                    <span className="muted">No doses recorded</span>
                  )}
                  {pending && (
                    <span className="badge badge-pending">
                      <span aria-hidden="true">⟳ </span>Pending sync
                    </span>
                  )}
                </td>
                <td data-testid="prn-24h">
                  {prn ? `${prn.doses_last_24h} ${prn.doses_last_24h === 1 ? 'dose' : 'doses'}, ${formatNumber(prn.total_last_24h)} ${unit}` : '—'}
                </td>
                <td data-testid="prn-next">
                  {prn?.next_allowed_at ? (
                    <span className="prn-wait">Not before {formatDayClock(prn.next_allowed_at, zone)}</span>
                  ) : (
                    'May be given now'
                  )}
                </td>
                <td>
                  <button type="button" className="button small" data-testid="prn-give" onClick={() => onGive({ orderId: line.order.id, dueAt: null })}>
                    Give<span className="sr-only"> {line.order.medication.display}</span>
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
