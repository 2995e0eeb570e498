// Synthetic patients for component tests and for running the UI in a plain
// browser (`npm run dev` without Tauri). Unmistakably synthetic, like the
// Rust generator's output: SYN- MRNs, 555 phone numbers, `synthetic: true`.

import type { Allergy } from '../generated/Allergy';
import type { AppInfo } from '../generated/AppInfo';
import type { ChartHeader } from '../generated/ChartHeader';
import type { Coding } from '../generated/Coding';
import type { Patient } from '../generated/Patient';
import { ageInYears } from '../format';
import { MemoryBackend, type MemoryBackendOptions } from './memory';

const SNOMED = 'http://snomed.info/sct';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

const ROW_VERSION = 1;

const coding = (system: string, code: string, display: string): Coding => ({ system, code, display });

export const PATIENT_IDS = {
  high: '0190f5a0-0000-7000-8000-000000000001',
  none: '0190f5a0-0000-7000-8000-000000000002',
  mixed: '0190f5a0-0000-7000-8000-000000000003',
} as const;

export function appInfo(overrides: Partial<AppInfo> = {}): AppInfo {
  return {
    version: '0.1.0',
    environment: 'development',
    synthetic_data: true,
    user_id: 'dev-clinician',
    ...overrides,
  };
}

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

/** Three charts: high-criticality allergies, none at all, and a mix of statuses. */
export function sampleCharts(): ChartHeader[] {
  const high = patient({
    id: PATIENT_IDS.high,
    mrn: 'SYN-104233',
    given_name: 'Amelia',
    family_name: 'Okafor',
    birth_date: '1948-11-02',
    sex: 'female',
    location: 'Ward 7B · Bed 4',
  });
  const none = patient({
    id: PATIENT_IDS.none,
    mrn: 'SYN-104587',
    given_name: 'Tomasz',
    family_name: 'Lindqvist',
    birth_date: '1979-06-21',
    sex: 'male',
    location: 'Ward 7B · Bed 9',
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

export function sampleBackend(overrides: Partial<MemoryBackendOptions> = {}): MemoryBackend {
  return new MemoryBackend({ appInfo: appInfo(), charts: sampleCharts(), ...overrides });
}
