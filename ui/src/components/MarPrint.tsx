import { useState } from 'react';

import type { MarOrder } from '../generated/MarOrder';
import type { MarPage } from '../generated/MarPage';
import type { MarPrint } from '../generated/MarPrint';
import type { MarSlot } from '../generated/MarSlot';
import { useBackend } from '../backend';
import { formatDate, formatFullDateTime, formatName, formatNumber } from '../format';
import {
  formatClock,
  formatDay,
  formatDayClock,
  formatDose,
  formatInterval,
  formatNotGivenReason,
  isCurrentOrder,
  orderTiming,
  SLOT_STATES,
} from '../medications';
import { useBackendCall } from '../useBackendCall';
import { AllergyBanner } from './AllergyBanner';
import { ErrorPanel } from './ErrorPanel';
import { slotRecords } from './MarGrid';
import { OrderTable } from './MedicationOrders';

/** Blank lines per PRN order for doses given on paper. */
const PRN_BLANK_ROWS = 6;

/** One due time on paper: what was recorded, or boxes to fill in. */
function PaperSlot({ line, slot, zone }: { line: MarOrder; slot: MarSlot; zone: string }) {
  const records = slotRecords(line, slot).filter((r) => r.administration.status !== 'entered-in-error' && !r.administration.deleted);
  const recorded = slot.state === 'given' || slot.state === 'not-given';
  return (
    <div className={`paper-slot paper-${slot.state}`} data-testid="paper-slot" data-state={slot.state} data-blank={recorded ? 'false' : 'true'}>
      <div className="paper-slot-head">
        {formatDay(slot.due_at, zone)} <strong>{formatClock(slot.due_at, zone)}</strong>
      </div>
      {recorded ? (
        records.map((r) => {
          const a = r.administration;
          return (
            <div key={a.id} className="paper-record">
              {SLOT_STATES[slot.state].icon} {a.status === 'completed' ? 'Given' : 'Not given'} {formatClock(a.given_at, zone)}
              {a.not_given_reason && `: ${formatNotGivenReason(a.not_given_reason)}`} · {a.performer}
              {r.pending && ' (pending sync)'}
            </div>
          );
        })
      ) : (
        <>
          {slot.state === 'overdue' && <div className="paper-record">⚠ Not recorded in Wardbook</div>}
          <div className="paper-blank">Time ______</div>
          <div className="paper-blank">Initials ______</div>
        </>
      )}
    </div>
  );
}

function PrnPaper({ line, zone }: { line: MarOrder; zone: string }) {
  const prn = line.prn;
  return (
    <div className="paper-prn">
      <p>
        {prn?.last_given_at
          ? `Last dose ${formatDayClock(prn.last_given_at, zone)}; ${prn.doses_last_24h} in the 24 h before printing (${formatNumber(prn.total_last_24h)} ${prn.unit ?? ''}).`
          : 'No doses recorded.'}{' '}
        {prn?.next_allowed_at ? `Next dose not before ${formatDayClock(prn.next_allowed_at, zone)}.` : ''}
        {line.order.timing.kind === 'prn' && ` Minimum interval ${formatInterval(line.order.timing.min_interval_minutes)}.`}
      </p>
      <table className="paper-table">
        <thead>
          <tr>
            <th scope="col">Date and time</th>
            <th scope="col">Dose</th>
            <th scope="col">Route</th>
            <th scope="col">Reason</th>
            <th scope="col">Given by</th>
            <th scope="col">Witness</th>
          </tr>
        </thead>
        <tbody>
          {Array.from({ length: PRN_BLANK_ROWS }, (_, i) => (
            <tr key={i} data-testid="paper-prn-row">
              <td />
              <td />
              <td />
              <td />
              <td />
              <td />
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function PageView({ page, print }: { page: MarPage; print: MarPrint }) {
  const { patient } = page.header;
  const view = page.medications;
  const zone = view.time_zone;
  const lines = view.orders.filter((l) => isCurrentOrder(l.order));
  return (
    <section className="mar-page" data-testid="mar-page" data-patient-id={patient.id} aria-label={`MAR of ${formatName(patient.family_name, patient.given_name)}`}>
      <header className="mar-page-head">
        <h2 className="patient-name">
          {formatName(patient.family_name, patient.given_name)} <span className="mono">{patient.mrn}</span>
        </h2>
        <p>
          Born {formatDate(patient.birth_date)} ({page.header.age_years} y) · {patient.location ?? 'Unassigned'}
          {patient.bed !== null && `, bed ${patient.bed}`}
          {patient.synthetic && <strong> · SYNTHETIC: not a real person</strong>}
        </p>
      </header>
      <AllergyBanner allergies={page.header.allergies} />
      {view.double_doses.length > 0 && (
        <p className="paper-alert">⚠ Possible double dose not yet reviewed: check the records before the next dose.</p>
      )}
      <h3>Current orders</h3>
      {lines.length === 0 ? <p>No current medication orders.</p> : <OrderTable orders={lines.map((l) => l.order)} label="Current orders" testId="mar-page-orders" />}
      <h3>
        Administration record, {formatDayClock(view.window_start, zone)} to {formatDayClock(view.window_end, zone)} ({zone}); blank
        slots for the next {print.hours_ahead} hours
      </h3>
      {lines.map((line) => (
        <div key={line.order.id} className="paper-order" data-testid="paper-order">
          <p className="paper-order-name">
            <strong>{line.order.medication.display}</strong> {formatDose(line.order.dose)} {line.order.route?.display ?? ''} ·{' '}
            {orderTiming(line.order)}
            {line.order.high_alert && ' · HIGH-ALERT: witness required'}
          </p>
          {line.order.timing.kind === 'prn' ? (
            <PrnPaper line={line} zone={zone} />
          ) : line.slots.length === 0 ? (
            <p>No doses due in this window.</p>
          ) : (
            <div className="paper-slots">
              {line.slots.map((slot) => (
                <PaperSlot key={slot.due_at} line={line} slot={slot} zone={zone} />
              ))}
            </div>
          )}
        </div>
      ))}
      <footer className="summary-foot">
        Printed {formatFullDateTime(print.printed_at)} from Wardbook for use during downtime. Chart doses on this sheet and
        enter them in Wardbook when systems return.
      </footer>
    </section>
  );
}

/**
 * The MAR printout: one patient, or the ward (`patientId` null) one patient
 * a page, each page with the allergies at the top and blank slots for the
 * next 24 or 48 hours. The core records each patient on it as an audited
 * print, so choosing the other length asks (and audits) again.
 */
export function MarPrintView({ patientId, onBack }: { patientId: string | null; onBack: () => void }) {
  const backend = useBackend();
  const [hours, setHours] = useState<24 | 48>(24);
  const [state, retry] = useBackendCall(() => backend.printMar(patientId, hours), [backend, patientId, hours]);
  return (
    <section className="mar-print" aria-label={patientId === null ? 'Ward MAR printout' : 'MAR printout'}>
      <div className="screen-toolbar no-print">
        <button type="button" className="button" onClick={onBack}>
          <span aria-hidden="true">←</span> {patientId === null ? 'Back to the census' : 'Back to the chart'}
        </button>
        <h1>{patientId === null ? 'Ward MAR' : 'MAR'}</h1>
        <label className="field-inline">
          <span>Blank slots for the next</span>
          <select data-testid="mar-print-hours" value={hours} onChange={(e) => setHours(Number(e.target.value) === 48 ? 48 : 24)}>
            <option value={24}>24 hours</option>
            <option value={48}>48 hours</option>
          </select>
        </label>
        <div className="spacer" />
        {state.status === 'ready' && (
          <button type="button" className="button primary" data-testid="print-mar-now" onClick={() => window.print()}>
            Print
          </button>
        )}
      </div>
      {state.status === 'loading' && <p className="loading" role="status">Preparing the MAR…</p>}
      {state.status === 'error' && <ErrorPanel title="The MAR could not be prepared." error={state.error} onRetry={retry} />}
      {state.status === 'ready' && (
        <div className="print-area mar-sheets" data-testid="mar-print-view" data-pages={state.value.pages.length}>
          {state.value.pages.length === 0 && <p>No patients are assigned to this workstation.</p>}
          {state.value.pages.map((page) => (
            <PageView key={page.header.patient.id} page={page} print={state.value} />
          ))}
        </div>
      )}
    </section>
  );
}
