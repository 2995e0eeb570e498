// The in-memory backend's medication orders and administrations: enough to
// run the Medications tab, the MAR printout and the census columns in tests
// and in a plain browser. It is a stand-in, not a second copy of the core's
// clinical rules (protocol/src/medication/): due times and the state a slot
// has before anything is recorded are fixed by the fixture, and so are the
// safety checks each order fails. What it derives is bookkeeping: a slot
// with a "given" record shows given; two "given" records for one slot are a
// possible double dose until a review covers both.

import type { AdministrationEntry } from '../generated/AdministrationEntry';
import type { AdministrationInError } from '../generated/AdministrationInError';
import type { AdministrationRow } from '../generated/AdministrationRow';
import type { CheckFinding } from '../generated/CheckFinding';
import type { DoseReview } from '../generated/DoseReview';
import type { DoseReviewEntry } from '../generated/DoseReviewEntry';
import type { DoubleDose } from '../generated/DoubleDose';
import type { MarOrder } from '../generated/MarOrder';
import type { MarSlot } from '../generated/MarSlot';
import type { MedicationAdministration } from '../generated/MedicationAdministration';
import type { MedicationRequest } from '../generated/MedicationRequest';
import type { MedicationsView } from '../generated/MedicationsView';
import type { NextDue } from '../generated/NextDue';
import type { PrnSummary } from '../generated/PrnSummary';
import type { RecordAdministrationOutcome } from '../generated/RecordAdministrationOutcome';

const HOUR = 3_600_000;

/** A scheduled due time of a fixture order, with the state it shows while nothing is recorded. */
export interface FixtureSlot {
  due_at: string;
  /** Declared by the fixture; the core computes it from its due window. */
  state: 'due-now' | 'overdue' | 'future';
}

/** One order of the sample data, with what the core would compute for it fixed in advance. */
export interface MedicationFixture {
  order: MedicationRequest;
  /** Its due times (none for PRN). */
  slots: FixtureSlot[];
  /**
   * The checks a "given" dose of this order fails (the core's `check_dose`
   * decides these). A high-alert order recorded without a witness adds the
   * no-witness check.
   */
  findings?: CheckFinding[];
}

export interface MedicationData {
  orders: MedicationFixture[];
  administrations: AdministrationRow[];
  reviews?: DoseReview[];
}

export interface CensusMedications {
  next_due: NextDue | null;
  overdue_doses: number;
  possible_double_dose: boolean;
}

const counts = (a: MedicationAdministration) => !a.deleted && a.status === 'completed';
const at = (iso: string) => Date.parse(iso);

function isCurrent(order: MedicationRequest): boolean {
  return !order.deleted && (order.status === 'active' || order.status === 'on-hold');
}

export class MemoryMedications {
  private readonly orders: MedicationFixture[];
  private readonly rows: AdministrationRow[];
  private readonly reviews: DoseReview[];

  constructor(data: MedicationData) {
    this.orders = structuredClone(data.orders);
    this.rows = structuredClone(data.administrations);
    this.reviews = structuredClone(data.reviews ?? []);
  }

  fixture(requestId: string): MedicationFixture | undefined {
    return this.orders.find((f) => f.order.id === requestId);
  }

  private ofPatient(patientId: string): MedicationFixture[] {
    return this.orders.filter((f) => f.order.patient_id === patientId && !f.order.deleted);
  }

  private administrationsOf(requestId: string): AdministrationRow[] {
    return this.rows
      .filter((r) => r.administration.request_id === requestId)
      .sort((a, b) => at(b.administration.given_at) - at(a.administration.given_at));
  }

  /** Current orders of a patient (active, on hold), by name: the downtime summary's list. */
  currentOrders(patientId: string): MedicationRequest[] {
    return this.ofPatient(patientId)
      .map((f) => f.order)
      .filter(isCurrent)
      .sort((a, b) => a.medication.display.localeCompare(b.medication.display));
  }

  private slot(fixture: MedicationFixture, slot: FixtureSlot): MarSlot {
    const records = this.rows
      .map((r) => r.administration)
      .filter((a) => a.request_id === fixture.order.id && a.due_at !== null && at(a.due_at) === at(slot.due_at));
    const given = records.some(counts);
    const notGiven = records.find((a) => !a.deleted && a.status === 'not-done');
    return {
      due_at: slot.due_at,
      state: given ? 'given' : notGiven ? 'not-given' : slot.state,
      not_given_reason: given ? null : (notGiven?.not_given_reason ?? null),
      administration_ids: records.map((a) => a.id),
    };
  }

  private prn(fixture: MedicationFixture, now: number): PrnSummary | null {
    const timing = fixture.order.timing;
    if (timing.kind !== 'prn') return null;
    const given = this.administrationsOf(fixture.order.id)
      .map((r) => r.administration)
      .filter((a) => counts(a) && at(a.given_at) <= now);
    const last = given[0]?.given_at ?? null;
    const recent = given.filter((a) => at(a.given_at) > now - 24 * HOUR);
    const unit = fixture.order.dose?.unit ?? null;
    const next = last === null ? null : at(last) + timing.min_interval_minutes * 60_000;
    return {
      last_given_at: last,
      minutes_since_last: last === null ? null : Math.floor((now - at(last)) / 60_000),
      doses_last_24h: recent.length,
      total_last_24h: recent
        .flatMap((a) => (a.dose && (unit === null || a.dose.unit === unit) ? [a.dose.value] : []))
        .reduce((sum, v) => sum + v, 0),
      unit,
      next_allowed_at: next !== null && next > now ? new Date(next).toISOString() : null,
    };
  }

  /** Scheduled slots with two or more "given" records that no review covers (PRN doses are not paired here). */
  private doubleDoses(patientId: string): DoubleDose[] {
    const found: DoubleDose[] = [];
    for (const fixture of this.ofPatient(patientId)) {
      const bySlot = new Map<number, MedicationAdministration[]>();
      for (const a of this.rows.map((r) => r.administration)) {
        if (a.request_id !== fixture.order.id || !counts(a) || a.due_at === null) continue;
        bySlot.set(at(a.due_at), [...(bySlot.get(at(a.due_at)) ?? []), a]);
      }
      for (const list of bySlot.values()) {
        if (list.length < 2) continue;
        const ids = list.map((a) => a.id).sort();
        const reviewed = this.reviews.some(
          (r) => !r.deleted && r.request_id === fixture.order.id && ids.every((id) => r.administration_ids.includes(id)),
        );
        if (!reviewed) found.push({ request_id: fixture.order.id, due_at: list[0]!.due_at, administration_ids: ids });
      }
    }
    return found;
  }

  view(patientId: string, start: number, end: number, now: number, zone: string): MedicationsView {
    const fixtures = this.ofPatient(patientId).sort(
      (a, b) =>
        Number(!isCurrent(a.order)) - Number(!isCurrent(b.order)) ||
        a.order.medication.display.toLowerCase().localeCompare(b.order.medication.display.toLowerCase()),
    );
    const orders: MarOrder[] = fixtures.map((fixture) => ({
      order: fixture.order,
      slots: fixture.slots.filter((s) => at(s.due_at) >= start && at(s.due_at) < end).map((s) => this.slot(fixture, s)),
      prn: this.prn(fixture, now),
      administrations: this.administrationsOf(fixture.order.id),
    }));
    return structuredClone({
      patient_id: patientId,
      window_start: new Date(start).toISOString(),
      window_end: new Date(end).toISOString(),
      now: new Date(now).toISOString(),
      time_zone: zone,
      orders,
      double_doses: this.doubleDoses(patientId),
    });
  }

  /** The census's medication columns, from the same fixed slots. */
  census(patientId: string, now: number): CensusMedications {
    let next: NextDue | null = null;
    let overdue = 0;
    for (const fixture of this.ofPatient(patientId).filter((f) => f.order.status === 'active')) {
      for (const s of fixture.slots) {
        if (at(s.due_at) < now - 24 * HOUR || at(s.due_at) >= now + 24 * HOUR) continue;
        const slot = this.slot(fixture, s);
        if (slot.state === 'overdue') overdue += 1;
        if ((slot.state === 'due-now' || slot.state === 'future') && (next === null || at(s.due_at) < at(next.due_at))) {
          next = { due_at: s.due_at, medication: fixture.order.medication.display };
        }
      }
    }
    return { next_due: next, overdue_doses: overdue, possible_double_dose: this.doubleDoses(patientId).length > 0 };
  }

  /** Of `patients`, those with a possible double dose no one has reviewed: the status bar's count. */
  doubleDosePatients(patients: Iterable<string>): number {
    return [...patients].filter((id) => this.doubleDoses(id).length > 0).length;
  }

  /**
   * Records a dose, or says which checks still need an override. Returns a
   * message instead when the entry is not one the core would accept.
   */
  record(
    patientId: string,
    entry: AdministrationEntry,
    performer: string,
    newId: () => string,
    now: number,
  ): RecordAdministrationOutcome | string {
    const fixture = this.fixture(entry.request_id);
    if (!fixture || fixture.order.patient_id !== patientId) return 'This medication order is no longer in the chart.';
    if (entry.status === 'entered-in-error') return 'Record a dose as given or not given.';
    if (entry.status === 'not-done' && entry.not_given_reason === null) return 'Say why the dose was not given.';
    const { order } = fixture;
    const findings: CheckFinding[] = [];
    if (entry.status === 'completed') {
      findings.push(...(fixture.findings ?? []));
      const witness = entry.witness?.trim() ?? '';
      if (order.high_alert && (witness.length === 0 || witness === performer)) {
        findings.push({
          check: 'no-witness',
          message: `${order.medication.display} is a high-alert medication: a second person must check the dose. Name the witness (not yourself).`,
        });
      }
    }
    const covered = (f: CheckFinding) => entry.overrides.some((o) => o.check === f.check && o.reason.trim().length > 0);
    if (findings.some((f) => !covered(f))) return { outcome: 'needs_override', findings };
    const stamp = new Date(now).toISOString();
    const administration: MedicationAdministration = {
      id: newId(),
      version: 0,
      updated_at: stamp,
      deleted: false,
      synthetic: order.synthetic,
      patient_id: patientId,
      request_id: order.id,
      due_at: entry.due_at,
      status: entry.status,
      not_given_reason: entry.status === 'not-done' ? entry.not_given_reason : null,
      dose: entry.dose ?? order.dose,
      route: entry.route ?? order.route,
      site: entry.site,
      given_at: entry.given_at ?? stamp,
      performer,
      witness: entry.witness,
      overrides: entry.overrides.filter((o) => findings.some((f) => f.check === o.check)),
      error_reason: null,
      recorded_at: stamp,
    };
    const row: AdministrationRow = { administration, pending: true };
    this.rows.push(row);
    return structuredClone({ outcome: 'saved', row, findings });
  }

  enteredInError(request: AdministrationInError, now: number): AdministrationRow | null {
    const row = this.rows.find((r) => r.administration.id === request.administration_id);
    if (!row) return null;
    row.administration.status = 'entered-in-error';
    row.administration.error_reason = request.reason.trim();
    row.administration.updated_at = new Date(now).toISOString();
    row.pending = true;
    return structuredClone(row);
  }

  /** Stores a review; false when the records named are not this patient's. */
  review(entry: DoseReviewEntry, reviewer: string, newId: () => string, now: number): boolean {
    const fixture = this.fixture(entry.request_id);
    if (!fixture || fixture.order.patient_id !== entry.patient_id) return false;
    const known = new Set(this.administrationsOf(entry.request_id).map((r) => r.administration.id));
    if (entry.administration_ids.length === 0 || !entry.administration_ids.every((id) => known.has(id))) return false;
    const stamp = new Date(now).toISOString();
    this.reviews.push({
      id: newId(),
      version: 0,
      updated_at: stamp,
      deleted: false,
      synthetic: fixture.order.synthetic,
      patient_id: entry.patient_id,
      request_id: entry.request_id,
      due_at: entry.due_at,
      administration_ids: [...entry.administration_ids],
      outcome: entry.outcome,
      note: entry.note.trim(),
      reviewed_by: reviewer,
      reviewed_at: stamp,
    });
    return true;
  }

  /** The server confirmed everything (a sync). */
  confirmAll(): void {
    for (const row of this.rows) row.pending = false;
  }
}
