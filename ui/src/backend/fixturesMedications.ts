// Synthetic medication orders, administrations and NEWS2 scores for the
// sample patients of fixtures.ts. Due times are laid out around `now` on the
// hour, with the state each shows fixed here (see memoryMedications.ts: the
// in-memory backend does not compute due times or checks).

import type { AdministrationRow } from '../generated/AdministrationRow';
import type { CheckFinding } from '../generated/CheckFinding';
import type { Coding } from '../generated/Coding';
import type { MedicationAdministration } from '../generated/MedicationAdministration';
import type { MedicationRequest } from '../generated/MedicationRequest';
import type { News2Score } from '../generated/News2Score';
import type { NotGivenReason } from '../generated/NotGivenReason';
import type { Timing } from '../generated/Timing';
import { PATIENT_IDS } from './fixtures';
import type { FixtureSlot, MedicationData, MedicationFixture } from './memoryMedications';

const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const SNOMED = 'http://snomed.info/sct';
const HOUR = 3_600_000;

const ROUTES = {
  oral: { system: SNOMED, code: '26643006', display: 'Oral' },
  iv: { system: SNOMED, code: '47625008', display: 'Intravenous' },
  subcut: { system: SNOMED, code: '34206005', display: 'Subcutaneous' },
} satisfies Record<string, Coding>;

let counter = 0;
const id = (prefix: string) => {
  counter += 1;
  return `${prefix}-0000-7000-8000-${String(counter).padStart(12, '0')}`;
};

interface OrderSpec {
  patient: string;
  code: string;
  display: string;
  generic: string;
  strength: string;
  dose: [number, string];
  route: Coding;
  timing: Timing;
  /** Hours before now the order started. */
  startedHoursAgo: number;
  status?: MedicationRequest['status'];
  /** Hours before now a stopped or completed order ended. */
  endedHoursAgo?: number;
  highAlert?: boolean;
  instructions?: string;
  indication?: string;
  prescriber?: string;
}

function order(spec: OrderSpec, now: Date): MedicationRequest {
  return {
    id: id('0190f5b1'),
    version: 1,
    updated_at: new Date(now.getTime() - spec.startedHoursAgo * HOUR).toISOString(),
    deleted: false,
    synthetic: true,
    patient_id: spec.patient,
    medication: { system: RXNORM, code: spec.code, display: spec.display },
    ingredients: [],
    generic_name: spec.generic,
    strength: spec.strength,
    dose: { value: spec.dose[0], unit: spec.dose[1] },
    route: spec.route,
    timing: spec.timing,
    start: new Date(now.getTime() - spec.startedHoursAgo * HOUR).toISOString(),
    end: spec.endedHoursAgo === undefined ? null : new Date(now.getTime() - spec.endedHoursAgo * HOUR).toISOString(),
    status: spec.status ?? 'active',
    prescriber: spec.prescriber ?? 'Dr K. Adeyemi (synthetic)',
    indication: spec.indication ?? null,
    instructions: spec.instructions ?? null,
    high_alert: spec.highAlert ?? false,
  };
}

/** The hour `now` is in: slots are whole hours from it. */
function hourOf(now: Date): number {
  const hour = new Date(now);
  hour.setMinutes(0, 0, 0);
  return hour.getTime();
}

/**
 * Due times every `every` hours through `first` hours from the current
 * hour, over three days either side, not before the order's start. Before
 * the current hour a slot is overdue until something is recorded, in the
 * current hour it is due now, after it future (a fixed stand-in for the
 * core's due window).
 */
function slots(now: Date, first: number, every: number, o: MedicationRequest): FixtureSlot[] {
  const base = hourOf(now);
  const out: FixtureSlot[] = [];
  for (let offset = first - Math.ceil((first + 72) / every) * every; offset <= 72; offset += every) {
    const due = base + offset * HOUR;
    if (due < Date.parse(o.start) || (o.end !== null && due >= Date.parse(o.end))) continue;
    out.push({ due_at: new Date(due).toISOString(), state: offset < 0 ? 'overdue' : offset === 0 ? 'due-now' : 'future' });
  }
  return out;
}

/** The local clock times of `slots` (for a fixed-times order's words). */
function clockTimes(now: Date, first: number, every: number): string[] {
  const times = new Set<string>();
  for (let k = 0; k < 24 / every; k += 1) {
    const t = new Date(hourOf(now) + (first + k * every) * HOUR);
    times.add(`${String(t.getHours()).padStart(2, '0')}:00:00`);
  }
  return [...times].sort();
}

function administration(
  o: MedicationRequest,
  dueAt: string | null,
  givenAt: number,
  overrides: Partial<MedicationAdministration> = {},
): AdministrationRow {
  const stamp = new Date(givenAt).toISOString();
  return {
    administration: {
      id: id('0190f5b2'),
      version: 1,
      updated_at: stamp,
      deleted: false,
      synthetic: true,
      patient_id: o.patient_id,
      request_id: o.id,
      due_at: dueAt,
      status: 'completed',
      not_given_reason: null,
      dose: o.dose,
      route: o.route,
      site: null,
      given_at: stamp,
      performer: 'dev-clinician',
      witness: null,
      overrides: [],
      error_reason: null,
      recorded_at: stamp,
      ...overrides,
    },
    pending: false,
  };
}

interface History {
  /** Past slots (hours from the current hour) left unrecorded: overdue. */
  missed?: number[];
  notGiven?: Record<number, NotGivenReason>;
  /** Past slots recorded as given twice, from two workstations: a possible double dose. */
  twice?: number[];
  witness?: string;
}

/** "Given" records for the past slots of a scheduled order, a few minutes late, except as `history` says. */
function pastRecords(o: MedicationRequest, due: FixtureSlot[], now: Date, history: History = {}): AdministrationRow[] {
  const base = hourOf(now);
  const rows: AdministrationRow[] = [];
  for (const slot of due) {
    const t = Date.parse(slot.due_at);
    const offset = Math.round((t - base) / HOUR);
    if (offset >= 0 || t < now.getTime() - 72 * HOUR || history.missed?.includes(offset)) continue;
    const reason = history.notGiven?.[offset];
    if (reason) {
      rows.push(administration(o, slot.due_at, t + 10 * 60_000, { status: 'not-done', not_given_reason: reason, dose: null }));
      continue;
    }
    rows.push(administration(o, slot.due_at, t + 7 * 60_000, { witness: history.witness ?? null }));
    if (history.twice?.includes(offset)) {
      rows.push(administration(o, slot.due_at, t + 22 * 60_000, { performer: 'nurse-b', witness: history.witness ?? null }));
    }
  }
  return rows;
}

/** Orders for the three ward patients and the out-of-ward one. */
export function sampleMedications(now: Date = new Date()): MedicationData {
  const orders: MedicationFixture[] = [];
  const administrations: AdministrationRow[] = [];
  const scheduled = (spec: OrderSpec, first: number, every: number, history?: History, findings?: CheckFinding[]) => {
    const o = order(spec, now);
    if (o.timing.kind === 'fixed_times') o.timing = { kind: 'fixed_times', times: clockTimes(now, first, every) };
    const due = slots(now, first, every, o);
    orders.push({ order: o, slots: due, ...(findings ? { findings } : {}) });
    administrations.push(...pastRecords(o, due, now, history));
    return o;
  };
  const prn = (spec: OrderSpec, givenHoursAgo: number[], findings?: CheckFinding[]) => {
    const o = order(spec, now);
    orders.push({ order: o, slots: [], ...(findings ? { findings } : {}) });
    for (const h of givenHoursAgo) administrations.push(administration(o, null, now.getTime() - h * HOUR));
    return o;
  };

  // ---- Amelia Okafor: anaphylaxis to penicillin, deteriorating.
  const high = PATIENT_IDS.high;
  scheduled(
    {
      patient: high,
      code: '308182',
      display: 'Amoxicillin 500 mg capsule',
      generic: 'amoxicillin',
      strength: '500 mg per capsule',
      dose: [500, 'mg'],
      route: ROUTES.oral,
      timing: { kind: 'every_hours', hours: 8 },
      startedHoursAgo: 1,
      indication: 'Community-acquired pneumonia',
    },
    0,
    8,
    {},
    [
      {
        check: 'allergy',
        message:
          'The patient has a recorded allergy to Penicillin G, in the same drug class (penicillins) as Amoxicillin 500 mg capsule. Do not give it unless a prescriber has confirmed it is safe; give the reason to override.',
      },
    ],
  );
  scheduled(
    {
      patient: high,
      code: '854235',
      display: 'Enoxaparin 40 mg/0.4 mL injection',
      generic: 'enoxaparin',
      strength: '40 mg in 0.4 mL',
      dose: [40, 'mg'],
      route: ROUTES.subcut,
      timing: { kind: 'times_per_day', count: 1 },
      startedHoursAgo: 70,
      highAlert: true,
      indication: 'VTE prophylaxis',
    },
    3,
    24,
    { witness: 'nurse-b' },
  );
  scheduled(
    {
      patient: high,
      code: '866924',
      display: 'Metoprolol tartrate 25 mg tablet',
      generic: 'metoprolol',
      strength: '25 mg per tablet',
      dose: [25, 'mg'],
      route: ROUTES.oral,
      timing: { kind: 'fixed_times', times: [] },
      startedHoursAgo: 70,
      instructions: 'Hold if heart rate below 55 or systolic below 95; tell the prescriber.',
    },
    -4,
    12,
    // Two workstations, offline, both charted the same dose.
    { twice: [-4], notGiven: { [-16]: 'held' } },
  );
  prn(
    {
      patient: high,
      code: '198440',
      display: 'Paracetamol 500 mg tablet',
      generic: 'paracetamol (acetaminophen)',
      strength: '500 mg per tablet',
      dose: [1, 'g'],
      route: ROUTES.oral,
      timing: { kind: 'prn', min_interval_minutes: 240, max_daily_dose: 4 },
      startedHoursAgo: 70,
      indication: 'Pain or fever',
    },
    [7, 2],
    [
      {
        check: 'prn-interval',
        message:
          'Another dose of Paracetamol 500 mg tablet was given less than 240 minutes from this one; the order allows one every 240 minutes at most.',
      },
    ],
  );
  scheduled(
    {
      patient: high,
      code: '1665005',
      display: 'Ceftriaxone 1 g injection',
      generic: 'ceftriaxone',
      strength: '1 g vial',
      dose: [1, 'g'],
      route: ROUTES.iv,
      timing: { kind: 'every_hours', hours: 24 },
      startedHoursAgo: 70,
      endedHoursAgo: 30,
      status: 'stopped',
    },
    -50,
    24,
  );

  // ---- Tomasz Lindqvist: no allergies; a refused dose.
  const none = PATIENT_IDS.none;
  scheduled(
    {
      patient: none,
      code: '197517',
      display: 'Omeprazole 20 mg capsule',
      generic: 'omeprazole',
      strength: '20 mg per capsule',
      dose: [20, 'mg'],
      route: ROUTES.oral,
      timing: { kind: 'times_per_day', count: 1 },
      startedHoursAgo: 60,
      instructions: 'Before breakfast.',
    },
    5,
    24,
    { notGiven: { [-19]: 'refused' } },
  );
  prn(
    {
      patient: none,
      code: '312086',
      display: 'Ondansetron 4 mg/2 mL injection',
      generic: 'ondansetron',
      strength: '4 mg in 2 mL',
      dose: [4, 'mg'],
      route: ROUTES.iv,
      timing: { kind: 'prn', min_interval_minutes: 480, max_daily_dose: 16 },
      startedHoursAgo: 30,
      indication: 'Nausea or vomiting',
    },
    [],
  );

  // ---- Priya Marchetti: an overdue antibiotic, a high-alert PRN opioid.
  const mixed = PATIENT_IDS.mixed;
  scheduled(
    {
      patient: mixed,
      code: '1665005',
      display: 'Ceftriaxone 1 g injection',
      generic: 'ceftriaxone',
      strength: '1 g vial',
      dose: [1, 'g'],
      route: ROUTES.iv,
      timing: { kind: 'every_hours', hours: 24 },
      startedHoursAgo: 50,
    },
    -3,
    24,
    { missed: [-3] },
  );
  prn(
    {
      patient: mixed,
      code: '1728355',
      display: 'Morphine sulfate 10 mg/mL injection',
      generic: 'morphine',
      strength: '10 mg per mL',
      dose: [2.5, 'mg'],
      route: ROUTES.subcut,
      timing: { kind: 'prn', min_interval_minutes: 60, max_daily_dose: 20 },
      startedHoursAgo: 20,
      highAlert: true,
      indication: 'Severe pain',
    },
    [5],
  );

  // ---- Rosa Delacroix (other ward).
  scheduled(
    {
      patient: PATIENT_IDS.outside,
      code: '197361',
      display: 'Amlodipine 5 mg tablet',
      generic: 'amlodipine',
      strength: '5 mg per tablet',
      dose: [5, 'mg'],
      route: ROUTES.oral,
      timing: { kind: 'fixed_times', times: [] },
      startedHoursAgo: 60,
    },
    6,
    24,
  );

  return { orders, administrations };
}

/** NEWS2 per sample patient, as the core would score their latest vitals (fixed here, not computed). */
export function sampleNews2(): Record<string, News2Score | null> {
  return {
    // Deteriorating: 7, high.
    [PATIENT_IDS.high]: {
      total: 7,
      risk: 'high',
      any_red: false,
      complete: true,
      missing: [],
      parameters: [
        { parameter: 'respiration-rate', score: 2 },
        { parameter: 'spo2', score: 2 },
        { parameter: 'air-or-oxygen', score: 0 },
        { parameter: 'systolic-bp', score: 1 },
        { parameter: 'pulse', score: 1 },
        { parameter: 'consciousness', score: 0 },
        { parameter: 'temperature', score: 1 },
      ],
    },
    // Well, but no consciousness or oxygen recorded yet: incomplete.
    [PATIENT_IDS.none]: {
      total: 0,
      risk: 'low',
      any_red: false,
      complete: false,
      missing: ['air-or-oxygen', 'consciousness'],
      parameters: [
        { parameter: 'respiration-rate', score: 0 },
        { parameter: 'spo2', score: 0 },
        { parameter: 'systolic-bp', score: 0 },
        { parameter: 'pulse', score: 0 },
        { parameter: 'temperature', score: 0 },
      ],
    },
    [PATIENT_IDS.mixed]: {
      total: 3,
      risk: 'low',
      any_red: false,
      complete: true,
      missing: [],
      parameters: [
        { parameter: 'respiration-rate', score: 0 },
        { parameter: 'spo2', score: 1 },
        { parameter: 'air-or-oxygen', score: 0 },
        { parameter: 'systolic-bp', score: 1 },
        { parameter: 'pulse', score: 1 },
        { parameter: 'consciousness', score: 0 },
        { parameter: 'temperature', score: 0 },
      ],
    },
    [PATIENT_IDS.outside]: null,
  };
}
