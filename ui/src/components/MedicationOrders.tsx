import type { MedicationRequest } from '../generated/MedicationRequest';
import { formatTimestampDate } from '../format';
import { formatDose, formatOrderStatus, orderTiming } from '../medications';
import { HighAlertBadge } from './MarGrid';

function OrderRow({ order }: { order: MedicationRequest }) {
  const voided = order.status === 'entered-in-error';
  const Name = voided ? 's' : 'strong';
  return (
    <tr
      data-testid="medication-order"
      data-order-id={order.id}
      data-status={order.status}
      data-high-alert={order.high_alert ? 'true' : 'false'}
      className={voided ? 'is-voided' : undefined}
    >
      <th scope="row">
        <Name className="order-name">{order.medication.display}</Name>
        {order.high_alert && <HighAlertBadge />}
        {(order.generic_name || order.strength) && (
          <span className="order-generic muted">
            {[order.generic_name, order.strength].filter(Boolean).join(' · ')}
          </span>
        )}
      </th>
      <td>{formatDose(order.dose)}</td>
      <td>{order.route?.display ?? '—'}</td>
      <td data-testid="order-timing">{orderTiming(order)}</td>
      <td>
        <span className={`order-status order-status-${order.status}`}>{formatOrderStatus(order.status)}</span>
        <span className="order-dates muted">
          from {formatTimestampDate(order.start)}
          {order.end && ` to ${formatTimestampDate(order.end)}`}
        </span>
      </td>
      <td>{order.prescriber ?? <span className="muted">Not recorded</span>}</td>
      <td>
        {order.indication && <span className="order-indication">For: {order.indication}</span>}
        {order.instructions && <span className="order-instructions">{order.instructions}</span>}
        {!order.indication && !order.instructions && <span className="muted">—</span>}
      </td>
    </tr>
  );
}

/** A table of orders: what, how much, how, when, status, who prescribed it, and the instructions. */
export function OrderTable({ orders, label, testId }: { orders: MedicationRequest[]; label: string; testId: string }) {
  return (
    <table className="data-table orders-table" data-testid={testId} aria-label={label}>
      <thead>
        <tr>
          <th scope="col">Medication</th>
          <th scope="col">Dose</th>
          <th scope="col">Route</th>
          <th scope="col">When</th>
          <th scope="col">Status</th>
          <th scope="col">Prescriber</th>
          <th scope="col">Indication and instructions</th>
        </tr>
      </thead>
      <tbody>
        {orders.map((o) => (
          <OrderRow key={o.id} order={o} />
        ))}
      </tbody>
    </table>
  );
}
