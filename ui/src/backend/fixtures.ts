// Synthetic patients for component tests and for running the UI in a plain
// browser (`npm run dev` without Tauri). Unmistakably synthetic, like the
// Rust generator's output: SYN- MRNs, 555 phone numbers, `synthetic: true`.
// Nothing here is a real person; values are generated from a fixed seed.

import type { Allergy } from '../generated/Allergy';
import type { AppInfo } from '../generated/AppInfo';
import type { Coding } from '../generated/Coding';
import type { EditsNeedingAttention } from '../generated/EditsNeedingAttention';
import type { Interpretation } from '../generated/Interpretation';
import type { Observation } from '../generated/Observation';
import type { ObservationRow } from '../generated/ObservationRow';
import type { Patient } from '../generated/Patient';
import type { Sex } from '../generated/Sex';
import type { SettingValue } from '../generated/SettingValue';
import type { SettingsView } from '../generated/SettingsView';
import type { SyncStatus } from '../generated/SyncStatus';
import type { VitalSpec } from '../generated/VitalSpec';
import { ageInYears } from '../format';
import { sampleMedications, sampleNews2 } from './fixturesMedications';
import { MemoryBackend, type ChartRecord, type MemoryBackendOptions, type MemoryUser } from './memory';
import { PRIVACY_USER, samplePrivacy } from './fixturesPrivacy';

const SNOMED = 'http://snomed.info/sct';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const LOINC = 'http://loinc.org';

const ROW_VERSION = 1;
const HOUR = 3_600_000;

const coding = (system: string, code: string, display: string): Coding => ({ system, code, display });

export const PATIENT_IDS = {
  high: '0190f5a0-0000-7000-8000-000000000001',
  none: '0190f5a0-0000-7000-8000-000000000002',
  mixed: '0190f5a0-0000-7000-8000-000000000003',
  /** Not on this workstation's ward: reachable only by break-the-glass. */
  outside: '0190f5a0-0000-7000-8000-000000000009',
} as const;

/** The MRN of the out-of-scope patient (break-the-glass). */
export const OUTSIDE_MRN = 'SYN-209876';

/** LOINC codes of the vital signs (protocol/src/vitals.rs). */
export const VITAL_LOINC = {
  heartRate: '8867-4',
  respiratoryRate: '9279-1',
  systolic: '8480-6',
  diastolic: '8462-4',
  temperature: '8310-5',
  spo2: '59408-5',
  weight: '29463-7',
  height: '8302-2',
} as const;

/** The same limits and bands as `VITAL_SPECS` in protocol/src/vitals.rs. */
export function vitalSpecs(): VitalSpec[] {
  const spec = (
    loinc: string,
    name: string,
    display: string,
    ucum: string,
    min: number,
    max: number,
    normal_low: number,
    normal_high: number,
  ): VitalSpec => ({ loinc, name, display, ucum, min, max, normal_low, normal_high });
  return [
    spec(VITAL_LOINC.heartRate, 'heart rate', 'Heart rate', '/min', 20, 300, 60, 100),
    spec(VITAL_LOINC.respiratoryRate, 'respiratory rate', 'Respiratory rate', '/min', 2, 80, 12, 20),
    spec(VITAL_LOINC.systolic, 'systolic blood pressure', 'Systolic blood pressure', 'mm[Hg]', 40, 300, 90, 139),
    spec(VITAL_LOINC.diastolic, 'diastolic blood pressure', 'Diastolic blood pressure', 'mm[Hg]', 20, 200, 60, 89),
    spec(VITAL_LOINC.temperature, 'body temperature', 'Body temperature', 'Cel', 25, 45, 36.1, 37.9),
    spec(
      VITAL_LOINC.spo2,
      'oxygen saturation',
      'Oxygen saturation in Arterial blood by Pulse oximetry',
      '%',
      40,
      100,
      94,
      100,
    ),
    spec(VITAL_LOINC.weight, 'body weight', 'Body weight', 'kg', 0.2, 650, 0.2, 650),
    spec(VITAL_LOINC.height, 'body height', 'Body height', 'cm', 20, 280, 20, 280),
  ];
}

export function appInfo(overrides: Partial<AppInfo> = {}): AppInfo {
  return {
    version: '0.1.0',
    environment: 'development',
    synthetic_data: true,
    user_id: 'dev-clinician',
    data_age_warning_minutes: 120,
    // The same limits as `ReasonLimits::BREAK_GLASS` in protocol/src/workstation.rs.
    break_glass_reason: { min_chars: 10, max_chars: 500 },
    ...overrides,
  };
}

/** Sign-in accounts of the in-memory backend (synthetic). */
export const USERS: MemoryUser[] = [
  { username: 'dev-clinician', password: 'synthetic', display_name: 'Sam Reyes (synthetic)' },
  { username: 'nurse-b', password: 'synthetic-b', display_name: 'Jo Tanaka (synthetic)' },
  // A privacy officer (no clinician role): opens on the privacy workspace.
  PRIVACY_USER,
];

export function patient(overrides: Partial<Patient> & Pick<Patient, 'id'>): Patient {
  return {
    version: ROW_VERSION,
    updated_at: '2025-01-10T09:00:00Z',
    deleted: false,
    synthetic: true,
    mrn: 'SYN-000000',
    given_name: 'Test',
    family_name: 'Patient',
    birth_date: '1960-01-01',
    sex: 'unknown',
    phone: '+15555550100',
    email: null,
    address: null,
    preferred_language: 'en',
    location: 'Ward 7B',
    bed: null,
    source_system: 'wardbook-synthetic',
    ...overrides,
  };
}

let allergyCounter = 0;

export function allergy(patientId: string, overrides: Partial<Allergy> = {}): Allergy {
  allergyCounter += 1;
  return {
    id: `0190f5a1-0000-7000-8000-${String(allergyCounter).padStart(12, '0')}`,
    version: ROW_VERSION,
    updated_at: '2025-01-10T09:00:00Z',
    deleted: false,
    synthetic: true,
    patient_id: patientId,
    allergen: coding(RXNORM, '7980', 'Penicillin G'),
    type: 'allergy',
    category: 'medication',
    clinical_status: 'active',
    verification_status: 'confirmed',
    criticality: 'low',
    reactions: [],
    recorded_at: '2024-03-12T10:30:00Z',
    recorded_by: 'dev-clinician',
    ...overrides,
  };
}

/**
 * Three charts: high-criticality allergies, none at all, and a mix of
 * statuses; the first two in beds 4 and 12 of Ward 7B, the third not yet
 * placed on a ward.
 */
export function sampleCharts(): ChartRecord[] {
  const high = patient({
    id: PATIENT_IDS.high,
    mrn: 'SYN-104233',
    given_name: 'Amelia',
    family_name: 'Okafor',
    birth_date: '1948-11-02',
    sex: 'female',
    location: 'Ward 7B',
    bed: '4',
  });
  const none = patient({
    id: PATIENT_IDS.none,
    mrn: 'SYN-104587',
    given_name: 'Tomasz',
    family_name: 'Lindqvist',
    birth_date: '1979-06-21',
    sex: 'male',
    location: 'Ward 7B',
    // Two digits after one: the census goes 4 then 12, not by text.
    bed: '12',
  });
  const mixed = patient({
    id: PATIENT_IDS.mixed,
    mrn: 'SYN-105012',
    given_name: 'Priya',
    family_name: 'Marchetti',
    birth_date: '1992-02-29',
    sex: 'female',
    location: null,
  });
  return [
    {
      patient: high,
      age_years: ageInYears(high.birth_date) ?? 0,
      allergies: [
        allergy(high.id, {
          allergen: coding(RXNORM, '7980', 'Penicillin G'),
          criticality: 'high',
          reactions: [
            { manifestation: coding(SNOMED, '39579001', 'Anaphylaxis'), severity: 'severe' },
            { manifestation: coding(SNOMED, '126485001', 'Urticaria'), severity: 'moderate' },
          ],
        }),
        allergy(high.id, {
          allergen: coding(SNOMED, '256349002', 'Peanut'),
          category: 'food',
          criticality: 'low',
          verification_status: 'unconfirmed',
          reactions: [{ manifestation: coding(SNOMED, '418290006', 'Itching'), severity: 'mild' }],
        }),
      ],
    },
    { patient: none, age_years: ageInYears(none.birth_date) ?? 0, allergies: [] },
    {
      patient: mixed,
      age_years: ageInYears(mixed.birth_date) ?? 0,
      allergies: [
        allergy(mixed.id, {
          allergen: coding(RXNORM, '2670', 'Codeine'),
          type: 'intolerance',
          criticality: 'unable-to-assess',
          reactions: [{ manifestation: coding(SNOMED, '422587007', 'Nausea'), severity: 'mild' }],
        }),
        allergy(mixed.id, {
          allergen: coding(SNOMED, '111088007', 'Latex'),
          category: 'environment',
          criticality: 'high',
          verification_status: 'refuted',
          reactions: [],
        }),
        allergy(mixed.id, {
          allergen: coding(RXNORM, '1191', 'Aspirin'),
          criticality: 'low',
          verification_status: 'entered-in-error',
        }),
      ],
    },
  ];
}

/** A patient of another ward: only break-the-glass reaches this chart. */
export function outsideChart(): ChartRecord {
  const p = patient({
    id: PATIENT_IDS.outside,
    mrn: OUTSIDE_MRN,
    given_name: 'Rosa',
    family_name: 'Delacroix',
    birth_date: '1961-08-14',
    sex: 'female',
    location: 'Ward 3A',
    bed: '12',
  });
  return {
    patient: p,
    age_years: ageInYears(p.birth_date) ?? 0,
    allergies: [
      allergy(p.id, {
        allergen: coding(RXNORM, '10180', 'Sulfamethoxazole'),
        criticality: 'high',
        reactions: [{ manifestation: coding(SNOMED, '271807003', 'Rash'), severity: 'severe' }],
      }),
    ],
  };
}

// ---------------------------------------------------------------- generated series

/** A small seeded generator (mulberry32): the same series every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let observationCounter = 0;

function observationId(): string {
  observationCounter += 1;
  return `0190f5a2-0000-7000-8000-${String(observationCounter).padStart(12, '0')}`;
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

export function interpretVital(spec: VitalSpec, value: number): Interpretation | null {
  const band = spec.normal_low > spec.min || spec.normal_high < spec.max;
  if (!band) return null;
  if (value > spec.normal_high) return 'H';
  if (value < spec.normal_low) return 'L';
  return 'N';
}

export function vitalObservation(
  patientId: string,
  spec: VitalSpec,
  value: number,
  effectiveAt: string,
  overrides: Partial<Observation> = {},
): Observation {
  const band = spec.normal_low > spec.min || spec.normal_high < spec.max;
  return {
    id: observationId(),
    version: ROW_VERSION,
    updated_at: effectiveAt,
    deleted: false,
    synthetic: true,
    patient_id: patientId,
    category: 'vital-signs',
    code: coding(LOINC, spec.loinc, spec.display),
    panel: null,
    value: { kind: 'quantity', value, unit: spec.ucum },
    reference_range: band ? { low: spec.normal_low, high: spec.normal_high, unit: spec.ucum } : null,
    interpretation: interpretVital(spec, value),
    status: 'final',
    effective_at: effectiveAt,
    recorded_by: 'wardbook-synthetic',
    ...overrides,
  };
}

interface VitalsProfile {
  seed: number;
  /** Start and end (now) values; the series moves between them with noise. */
  hr: [number, number];
  sbp: [number, number];
  dbp: [number, number];
  rr: [number, number];
  temp: [number, number];
  spo2: [number, number];
}

const PROFILES: Record<string, VitalsProfile> = {
  // Deteriorating over four days: tachycardia, fever, falling SpO2 and BP.
  [PATIENT_IDS.high]: { seed: 11, hr: [82, 114], sbp: [132, 96], dbp: [78, 58], rr: [16, 25], temp: [36.9, 38.6], spo2: [97, 91] },
  [PATIENT_IDS.none]: { seed: 23, hr: [74, 70], sbp: [124, 120], dbp: [80, 76], rr: [14, 14], temp: [36.7, 36.8], spo2: [98, 98] },
  [PATIENT_IDS.mixed]: { seed: 37, hr: [96, 104], sbp: [112, 108], dbp: [70, 66], rr: [18, 19], temp: [37.2, 37.6], spo2: [96, 95] },
  [PATIENT_IDS.outside]: { seed: 41, hr: [88, 92], sbp: [146, 152], dbp: [92, 94], rr: [18, 18], temp: [36.8, 36.9], spo2: [95, 94] },
};

/**
 * Vital signs every 4 hours over the last four days, newest first, for one
 * patient, with a recorded-in-error entry kept (struck through in the UI).
 */
export function vitalsSeries(patientId: string, now: Date = new Date()): ObservationRow[] {
  const profile = PROFILES[patientId] ?? PROFILES[PATIENT_IDS.none]!;
  const random = seeded(profile.seed);
  const specs = new Map(vitalSpecs().map((s) => [s.loinc, s]));
  const points = 24;
  const last = new Date(now);
  last.setMinutes(0, 0, 0);
  last.setTime(last.getTime() - (last.getHours() % 4) * HOUR);
  const rows: ObservationRow[] = [];
  for (let i = points - 1; i >= 0; i -= 1) {
    const t = new Date(last.getTime() - i * 4 * HOUR).toISOString();
    const f = (points - 1 - i) / (points - 1);
    const lerp = ([a, b]: [number, number]) => a + (b - a) * f * f;
    const noise = (spread: number) => (random() - 0.5) * 2 * spread;
    const values: Array<[string, number]> = [
      [VITAL_LOINC.heartRate, Math.round(lerp(profile.hr) + noise(5))],
      [VITAL_LOINC.systolic, Math.round(lerp(profile.sbp) + noise(6))],
      [VITAL_LOINC.diastolic, Math.round(lerp(profile.dbp) + noise(4))],
      [VITAL_LOINC.respiratoryRate, Math.round(lerp(profile.rr) + noise(1.5))],
      [VITAL_LOINC.temperature, round(lerp(profile.temp) + noise(0.2), 1)],
      [VITAL_LOINC.spo2, Math.min(100, Math.round(lerp(profile.spo2) + noise(1)))],
    ];
    for (const [loinc, value] of values) {
      const spec = specs.get(loinc)!;
      rows.push({ observation: vitalObservation(patientId, spec, value, t), pending: false });
    }
  }
  // One heart rate typed against the wrong patient, then marked entered in error.
  const hr = specs.get(VITAL_LOINC.heartRate)!;
  const wrongAt = new Date(last.getTime() - 6 * HOUR).toISOString();
  rows.push({
    observation: vitalObservation(patientId, hr, 148, wrongAt, { status: 'entered-in-error', recorded_by: 'nurse-b' }),
    pending: false,
  });
  return rows.sort((a, b) => b.observation.effective_at.localeCompare(a.observation.effective_at));
}

interface LabSpec {
  loinc: string;
  display: string;
  unit: string;
  range: [number, number];
  female?: [number, number];
  critical: [number | null, number | null];
  decimals: number;
  /** Baseline for this generator. */
  base: number;
}

export const CBC_PANEL = coding(LOINC, '58410-2', 'CBC panel - Blood by Automated count');
export const BMP_PANEL = coding(LOINC, '51990-0', 'Basic metabolic panel - Blood');

const CBC: LabSpec[] = [
  { loinc: '6690-2', display: 'Leukocytes [#/volume] in Blood by Automated count', unit: '10*3/uL', range: [4, 11], critical: [2, 30], decimals: 1, base: 8.2 },
  { loinc: '789-8', display: 'Erythrocytes [#/volume] in Blood by Automated count', unit: '10*6/uL', range: [4.5, 5.9], female: [4, 5.2], critical: [null, null], decimals: 2, base: 4.6 },
  { loinc: '718-7', display: 'Hemoglobin [Mass/volume] in Blood', unit: 'g/dL', range: [13.5, 17.5], female: [12, 15.5], critical: [7, 20], decimals: 1, base: 13.4 },
  { loinc: '4544-3', display: 'Hematocrit [Volume Fraction] of Blood by Automated count', unit: '%', range: [41, 53], female: [36, 46], critical: [null, null], decimals: 1, base: 41 },
  { loinc: '777-3', display: 'Platelets [#/volume] in Blood by Automated count', unit: '10*3/uL', range: [150, 400], critical: [20, 1000], decimals: 0, base: 250 },
];

const BMP: LabSpec[] = [
  { loinc: '2951-2', display: 'Sodium [Moles/volume] in Serum or Plasma', unit: 'mmol/L', range: [135, 145], critical: [125, 155], decimals: 0, base: 139 },
  { loinc: '2823-3', display: 'Potassium [Moles/volume] in Serum or Plasma', unit: 'mmol/L', range: [3.5, 5.1], critical: [2.8, 6], decimals: 1, base: 4.2 },
  { loinc: '2075-0', display: 'Chloride [Moles/volume] in Serum or Plasma', unit: 'mmol/L', range: [98, 107], critical: [80, 120], decimals: 0, base: 102 },
  { loinc: '1963-8', display: 'Bicarbonate [Moles/volume] in Serum or Plasma', unit: 'mmol/L', range: [22, 29], critical: [10, 40], decimals: 0, base: 25 },
  { loinc: '3094-0', display: 'Urea nitrogen [Mass/volume] in Serum or Plasma', unit: 'mg/dL', range: [7, 20], critical: [null, 100], decimals: 0, base: 14 },
  { loinc: '2160-0', display: 'Creatinine [Mass/volume] in Serum or Plasma', unit: 'mg/dL', range: [0.7, 1.3], female: [0.6, 1.1], critical: [null, null], decimals: 2, base: 0.9 },
  { loinc: '2345-7', display: 'Glucose [Mass/volume] in Serum or Plasma', unit: 'mg/dL', range: [70, 99], critical: [50, 400], decimals: 0, base: 92 },
];

/** Per-patient drift of some analytes across the draws (factor at the last draw). */
const LAB_DRIFT: Record<string, Record<string, number>> = {
  [PATIENT_IDS.high]: { '6690-2': 2.1, '2823-3': 1.52, '2160-0': 1.9, '3094-0': 2.4, '1963-8': 0.78 },
  [PATIENT_IDS.mixed]: { '718-7': 0.74, '4544-3': 0.78, '789-8': 0.8 },
  [PATIENT_IDS.none]: { '2345-7': 1.45 },
};

function labRange(spec: LabSpec, sex: Sex): [number, number] {
  if (!spec.female) return spec.range;
  if (sex === 'female') return spec.female;
  if (sex === 'male') return spec.range;
  return [Math.min(spec.range[0], spec.female[0]), Math.max(spec.range[1], spec.female[1])];
}

export function interpretLab(value: number, range: [number, number], critical: [number | null, number | null]): Interpretation {
  if (critical[1] !== null && value > critical[1]) return 'HH';
  if (critical[0] !== null && value < critical[0]) return 'LL';
  if (value > range[1]) return 'H';
  if (value < range[0]) return 'L';
  return 'N';
}

/** A CBC and a BMP on admission and each morning since, newest first. */
export function labSeries(patientId: string, sex: Sex, now: Date = new Date()): ObservationRow[] {
  const random = seeded((PROFILES[patientId]?.seed ?? 5) * 7);
  const drift = LAB_DRIFT[patientId] ?? {};
  const morning = new Date(now);
  morning.setHours(6, 0, 0, 0);
  if (morning.getTime() > now.getTime()) morning.setTime(morning.getTime() - 24 * HOUR);
  const draws = 4;
  const rows: ObservationRow[] = [];
  for (let d = draws - 1; d >= 0; d -= 1) {
    const at = new Date(morning.getTime() - d * 24 * HOUR).toISOString();
    const f = (draws - 1 - d) / (draws - 1);
    for (const [panel, specs] of [
      [CBC_PANEL, CBC],
      [BMP_PANEL, BMP],
    ] as const) {
      for (const spec of specs) {
        const factor = 1 + ((drift[spec.loinc] ?? 1) - 1) * f;
        const value = round(spec.base * factor * (1 + (random() - 0.5) * 0.06), spec.decimals);
        const range = labRange(spec, sex);
        rows.push({
          observation: {
            id: observationId(),
            version: ROW_VERSION,
            updated_at: at,
            deleted: false,
            synthetic: true,
            patient_id: patientId,
            category: 'laboratory',
            code: coding(LOINC, spec.loinc, spec.display),
            panel,
            value: { kind: 'quantity', value, unit: spec.unit },
            reference_range: { low: range[0], high: range[1], unit: spec.unit },
            interpretation: interpretLab(value, range, spec.critical),
            status: 'final',
            effective_at: at,
            recorded_by: 'lab-synthetic',
          },
          pending: false,
        });
      }
    }
  }
  return rows.sort((a, b) => b.observation.effective_at.localeCompare(a.observation.effective_at));
}

// ---------------------------------------------------------------- status, settings, edits

export function syncStatus(overrides: Partial<SyncStatus> = {}, now: Date = new Date()): SyncStatus {
  const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000).toISOString();
  return {
    enrolled: true,
    server_url: 'https://wardbook-sync.synthetic.invalid',
    online: true,
    state_since: minutesAgo(95),
    last_success: minutesAgo(3),
    data_as_of: minutesAgo(3),
    pending_edits: 0,
    pending_entries: 0,
    pending_audit_events: 0,
    conflicts: 1,
    rejected_edits: 1,
    initial_sync: null,
    last_error: null,
    double_dose_patients: 0,
    integrity: { state: 'ok', checked_at: null, problems: 0 },
    ...overrides,
  };
}

const setting = (value: string | null, locked = false): SettingValue => ({
  value,
  locked,
  source: locked ? 'policy' : 'default',
});

export function settingsView(overrides: Partial<SettingsView> = {}): SettingsView {
  return {
    version: '0.1.0',
    environment: 'development',
    environment_source: 'environment',
    data_dir: setting('/home/synthetic/.local/share/wardbook'),
    policy_file: '/etc/wardbook/policy.toml',
    user_settings_file: null,
    server_url: setting('https://wardbook-sync.synthetic.invalid', true),
    ca_file: setting(null),
    idle_lock_minutes: setting('10', true),
    offline_login_hours: setting('72'),
    data_age_warning_minutes: setting('120'),
    break_glass_minutes: setting('60', true),
    audit_retention_days: setting('30'),
    sync_interval_seconds: setting('60'),
    updates_allowed: setting('false', true),
    enrolled: true,
    device_id: '0190f5a9-0000-7000-8000-00000000d001',
    locations: ['WARD-7B'],
    ...overrides,
  };
}

/** A conflict on an allergy edit and a rejected vitals edit. */
export function sampleEdits(charts: ChartRecord[], now: Date = new Date()): EditsNeedingAttention {
  const high = charts.find((c) => c.patient.id === PATIENT_IDS.high);
  const none = charts.find((c) => c.patient.id === PATIENT_IDS.none);
  const edits: EditsNeedingAttention = { conflicts: [], rejected: [] };
  const peanut = high?.allergies.find((a) => a.allergen.display === 'Peanut');
  if (high && peanut) {
    const mine: Allergy = {
      ...peanut,
      verification_status: 'confirmed',
      criticality: 'high',
      reactions: [
        { manifestation: coding(SNOMED, '418290006', 'Itching'), severity: 'mild' },
        { manifestation: coding(SNOMED, '267038008', 'Oedema'), severity: 'moderate' },
      ],
      recorded_by: 'dev-clinician',
      updated_at: new Date(now.getTime() - 50 * 60_000).toISOString(),
    };
    const server: Allergy = {
      ...peanut,
      version: peanut.version + 1,
      clinical_status: 'inactive',
      recorded_by: 'nurse-b',
      updated_at: new Date(now.getTime() - 40 * 60_000).toISOString(),
    };
    edits.conflicts.push({
      mutation_id: '0190f5a8-0000-7000-8000-00000000c001',
      patient_id: high.patient.id,
      patient_name: `${high.patient.family_name.toUpperCase()}, ${high.patient.given_name}`,
      mrn: high.patient.mrn,
      created_at: mine.updated_at,
      author: 'dev-clinician',
      mine: { type: 'allergy', allergy: mine },
      server: { type: 'allergy', allergy: server },
    });
  }
  if (none) {
    const spec = vitalSpecs().find((s) => s.loinc === VITAL_LOINC.respiratoryRate)!;
    const at = new Date(now.getTime() - 5 * HOUR).toISOString();
    edits.rejected.push({
      mutation_id: '0190f5a8-0000-7000-8000-00000000c002',
      patient_id: none.patient.id,
      patient_name: `${none.patient.family_name.toUpperCase()}, ${none.patient.given_name}`,
      mrn: none.patient.mrn,
      created_at: at,
      mine: { type: 'observation', observation: vitalObservation(none.patient.id, spec, 18, at, { version: 0 }) },
      reason:
        'The patient had moved out of this workstation’s ward when the edit reached the server. Record it again on the patient’s new ward if it is still needed.',
    });
  }
  return edits;
}

export function sampleBackend(overrides: Partial<MemoryBackendOptions> = {}): MemoryBackend {
  const now = new Date();
  const charts = overrides.charts ?? sampleCharts();
  const all = [...charts, outsideChart()];
  const vitals: Record<string, ObservationRow[]> = {};
  const labs: Record<string, ObservationRow[]> = {};
  for (const chart of all) {
    vitals[chart.patient.id] = vitalsSeries(chart.patient.id, now);
    labs[chart.patient.id] = labSeries(chart.patient.id, chart.patient.sex, now);
  }
  return new MemoryBackend({
    appInfo: appInfo(),
    charts,
    outOfScope: [outsideChart()],
    vitals,
    labs,
    vitalSpecs: vitalSpecs(),
    syncStatus: syncStatus({}, now),
    settings: settingsView(),
    edits: sampleEdits(charts, now),
    users: USERS,
    medications: sampleMedications(now),
    news2: sampleNews2(),
    privacy: samplePrivacy(charts, outsideChart(), now),
    session: {
      state: 'active',
      session: {
        user_id: 'dev-clinician',
        display_name: 'Sam Reyes (synthetic)',
        mode: 'online',
        started_at: new Date(now.getTime() - 20 * 60_000).toISOString(),
        idle_lock_minutes: 10,
        break_glass: [],
      },
    },
    ...overrides,
  });
}
