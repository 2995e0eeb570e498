// Medications in words: how an order's timing, dose, status and a MAR slot
// read on screen and on the printed MAR. Display only: when doses are due,
// what state a slot is in and which checks fail are decided by the Rust core
// (protocol/src/medication/) and arrive in the view; nothing here decides
// them again.

import type { AdministrationStatus } from './generated/AdministrationStatus';
import type { Dose } from './generated/Dose';
import type { DoseReviewOutcome } from './generated/DoseReviewOutcome';
import type { MedicationRequest } from './generated/MedicationRequest';
import type { MedicationRequestStatus } from './generated/MedicationRequestStatus';
import type { MedicationsView } from './generated/MedicationsView';
import type { NotGivenReason } from './generated/NotGivenReason';
import type { SafetyCheck } from './generated/SafetyCheck';
import type { SlotState } from './generated/SlotState';
import type { Timing } from './generated/Timing';
import { formatNumber } from './format';

/** "500 mg"; "2 tablet". */
export function formatDose(dose: Dose | null): string {
  return dose ? `${formatNumber(dose.value)} ${dose.unit}` : '—';
}

/** A duration in minutes as a drug chart writes it: "4 h", "90 min", "1 h 30 min". */
export function formatInterval(minutes: number): string {
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}

/** "08:00:00" -> "08:00". */
function clockTime(time: string): string {
  return time.slice(0, 5);
}

/**
 * The order's timing in words: "08:00, 20:00", "every 6 hours",
 * "3 times a day", "once", "as needed, at least 4 h apart, max 4 g/24 h".
 * The due instants themselves come from the core; this is the order as
 * prescribed.
 */
export function formatTiming(timing: Timing, doseUnit: string | null = null): string {
  switch (timing.kind) {
    case 'fixed_times':
      return timing.times.map(clockTime).join(', ');
    case 'every_hours':
      return timing.hours === 1 ? 'every hour' : `every ${timing.hours} hours`;
    case 'times_per_day':
      if (timing.count === 1) return 'once a day';
      if (timing.count === 2) return 'twice a day';
      return `${timing.count} times a day`;
    case 'once':
      return 'once';
    case 'prn': {
      let text = `as needed, at least ${formatInterval(timing.min_interval_minutes)} apart`;
      if (timing.max_daily_dose !== null) {
        text += `, max ${formatNumber(timing.max_daily_dose)}${doseUnit ? ` ${doseUnit}` : ''}/24 h`;
      }
      return text;
    }
  }
}

export function orderTiming(order: MedicationRequest): string {
  return formatTiming(order.timing, order.dose?.unit ?? null);
}

const ORDER_STATUS: Record<MedicationRequestStatus, string> = {
  active: 'Active',
  'on-hold': 'On hold',
  completed: 'Completed',
  stopped: 'Stopped',
  'entered-in-error': 'Entered in error',
};

export function formatOrderStatus(status: MedicationRequestStatus): string {
  return ORDER_STATUS[status];
}

/**
 * Listed with the current orders (`MedicationRequest::is_current` in the
 * core: active or on hold, not deleted). A field of the view would be
 * better; until the core sends one, this is the same two statuses.
 */
export function isCurrentOrder(order: MedicationRequest): boolean {
  return !order.deleted && (order.status === 'active' || order.status === 'on-hold');
}

const REASONS: Record<NotGivenReason, string> = {
  held: 'Held',
  refused: 'Refused',
  unavailable: 'Unavailable',
  'patient-away': 'Patient away',
};

export const NOT_GIVEN_REASONS = Object.keys(REASONS) as NotGivenReason[];

export function formatNotGivenReason(reason: NotGivenReason): string {
  return REASONS[reason];
}

const ADMIN_STATUS: Record<AdministrationStatus, string> = {
  completed: 'Given',
  'not-done': 'Not given',
  'entered-in-error': 'Entered in error',
};

export function formatAdministrationStatus(status: AdministrationStatus): string {
  return ADMIN_STATUS[status];
}

/** A MAR slot's state: an icon and a word, never colour alone. */
export const SLOT_STATES: Record<SlotState, { icon: string; text: string }> = {
  given: { icon: '✓', text: 'Given' },
  'not-given': { icon: '✗', text: 'Not given' },
  'due-now': { icon: '●', text: 'Due now' },
  overdue: { icon: '⚠', text: 'Overdue' },
  future: { icon: '○', text: 'Due' },
};

const CHECKS: Record<SafetyCheck, string> = {
  allergy: 'Allergy',
  'prn-interval': 'Too soon after the last dose',
  'prn-daily-maximum': 'Over the daily maximum',
  'order-not-active': 'Order not active',
  'outside-order-dates': 'Outside the order’s dates',
  'no-witness': 'No witness',
  'already-given': 'Already given',
};

export function formatCheck(check: SafetyCheck): string {
  return CHECKS[check];
}

const OUTCOMES: Record<DoseReviewOutcome, string> = {
  'duplicate-record': 'Duplicate record: one dose was given',
  'double-dose-confirmed': 'Double dose confirmed: both doses were given',
};

export const REVIEW_OUTCOMES = Object.keys(OUTCOMES) as DoseReviewOutcome[];

export function formatReviewOutcome(outcome: DoseReviewOutcome): string {
  return OUTCOMES[outcome];
}

// ---------------------------------------------------------------- clock times

/**
 * Due times are computed in the hospital's time zone (the view names it), so
 * they are shown in it too: an 08:00 dose reads 08:00 whatever the
 * workstation's own zone. An unknown zone falls back to the workstation's.
 */
function formatter(zone: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  try {
    return new Intl.DateTimeFormat('en-GB', { ...options, timeZone: zone });
  } catch {
    return new Intl.DateTimeFormat('en-GB', options);
  }
}

/** "08:00" in `zone`. */
export function formatClock(value: string, zone: string): string {
  return formatter(zone, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(value));
}

/** "Tue 12 Mar" in `zone`. */
export function formatDay(value: string, zone: string): string {
  return formatter(zone, { weekday: 'short', day: '2-digit', month: 'short' }).format(new Date(value));
}

/** "Tue 12 Mar 08:00" in `zone`. */
export function formatDayClock(value: string, zone: string): string {
  return `${formatDay(value, zone)} ${formatClock(value, zone)}`;
}

/** The calendar day of an instant in `zone`, as a key ("2025-03-12"). */
export function dayKey(value: string, zone: string): string {
  const parts = formatter(zone, { year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date(value));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')}`;
}

// ---------------------------------------------------------------- the MAR grid

/** The view's orders with scheduled doses (not PRN), current first as the core sorted them. */
export function scheduledOrders(view: MedicationsView) {
  return view.orders.filter((o) => o.order.timing.kind !== 'prn');
}

export function prnOrders(view: MedicationsView) {
  return view.orders.filter((o) => o.order.timing.kind === 'prn');
}

/**
 * The grid's columns: every distinct due time of the view's slots, oldest
 * first. A column per due time rather than per hour keeps a 48-hour window
 * to a couple of dozen columns a nurse can read across.
 */
export function dueColumns(view: MedicationsView): string[] {
  const instants = new Map<number, string>();
  for (const line of view.orders) {
    for (const slot of line.slots) instants.set(Date.parse(slot.due_at), slot.due_at);
  }
  return [...instants.entries()].sort(([a], [b]) => a - b).map(([, iso]) => iso);
}

/** Columns grouped by calendar day (in the view's zone), for the header row. */
export function columnsByDay(columns: string[], zone: string): Array<{ day: string; label: string; count: number }> {
  const days: Array<{ day: string; label: string; count: number }> = [];
  for (const column of columns) {
    const day = dayKey(column, zone);
    const last = days[days.length - 1];
    if (last && last.day === day) last.count += 1;
    else days.push({ day, label: formatDay(column, zone), count: 1 });
  }
  return days;
}

/** A MAR window the clinician can choose. */
export type MarWindow = 'default' | 'short' | 'ahead48';

export const MAR_WINDOWS: Array<{ id: MarWindow; label: string; back: number; ahead: number }> = [
  { id: 'default', label: '24 h back, 24 h ahead', back: 24, ahead: 24 },
  { id: 'short', label: '12 h back, 12 h ahead', back: 12, ahead: 12 },
  { id: 'ahead48', label: '24 h back, 48 h ahead', back: 24, ahead: 48 },
];

/**
 * The window's bounds to ask the core for: `null` for the default (the core
 * picks 24 hours either side of its own clock), else from `now` on the hour
 * so the columns do not shift while the tab is open.
 */
export function windowBounds(window: MarWindow, now: Date = new Date()): [string | null, string | null] {
  const choice = MAR_WINDOWS.find((w) => w.id === window);
  if (!choice || window === 'default') return [null, null];
  const hour = new Date(now);
  hour.setMinutes(0, 0, 0);
  const start = new Date(hour.getTime() - choice.back * 3_600_000);
  const end = new Date(hour.getTime() + (choice.ahead + 1) * 3_600_000);
  return [start.toISOString(), end.toISOString()];
}
