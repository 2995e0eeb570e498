// The chart store's pure helpers for the in-memory backend: allergies with
// the core's verdicts, census rows, and the census order. Each follows a
// rule of the Rust core through a table the core writes (ALLERGY_CURRENT,
// BED_ORDER, checked in memory.test.ts) rather than typing it again.

import type { Allergy } from '../generated/Allergy';
import { ALLERGY_CURRENT } from '../generated/AllergyCurrent';
import type { BannerAllergy } from '../generated/BannerAllergy';
import type { ChartHeader } from '../generated/ChartHeader';
import type { News2Score } from '../generated/News2Score';
import type { Patient } from '../generated/Patient';
import type { PatientSummary } from '../generated/PatientSummary';
import type { CensusMedications } from './memoryMedications';

/**
 * A chart as the store holds it: plain allergies. What the backend sends
 * adds each allergy's verdict, as the Rust `ChartHeader` does when it is
 * serialized.
 */
export interface ChartRecord {
  patient: Patient;
  age_years: number;
  allergies: Allergy[];
}

/**
 * The Rust core's `Allergy::is_current`, looked up in the table a protocol
 * test generates from it: this stand-in for the core does not type the rule
 * a second time.
 */
export function isCurrent(allergy: Allergy): boolean {
  const verdict = ALLERGY_CURRENT.find(
    (v) =>
      v.clinical_status === allergy.clinical_status &&
      v.verification_status === allergy.verification_status &&
      v.deleted === allergy.deleted,
  );
  if (!verdict) throw new Error(`no verdict for ${allergy.clinical_status}/${allergy.verification_status}`);
  return verdict.current;
}

/** An allergy with its verdict, as the core sends it. */
export function bannerAllergy(allergy: Allergy): BannerAllergy {
  return { allergy, current: isCurrent(allergy) };
}

/** The chart header as the core sends it. */
export function chartHeader(chart: ChartRecord): ChartHeader {
  return { patient: chart.patient, age_years: chart.age_years, allergies: chart.allergies.map(bannerAllergy) };
}

const NO_MEDICATIONS: CensusMedications = { next_due: null, overdue_doses: 0, possible_double_dose: false };

/** A census row; NEWS2 as the fixture gives it (the core scores the latest vitals). */
export function summarize(
  chart: ChartHeader,
  medications: CensusMedications = NO_MEDICATIONS,
  news2: News2Score | null = null,
): PatientSummary {
  const { patient } = chart;
  const current = chart.allergies.filter((a) => a.current).map((a) => a.allergy);
  return {
    ...medications,
    news2,
    id: patient.id,
    mrn: patient.mrn,
    given_name: patient.given_name,
    family_name: patient.family_name,
    birth_date: patient.birth_date,
    sex: patient.sex,
    location: patient.location,
    bed: patient.bed,
    active_allergy_count: current.length,
    has_high_criticality_allergy: current.some((a) => a.criticality === 'high'),
    synthetic: patient.synthetic,
  };
}

/** A bed name's runs of ASCII digits and of other characters. */
function bedRuns(bed: string): string[] {
  return bed.match(/[0-9]+|[^0-9]+/g) ?? [];
}

function textOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `order` of two values, with null after every value. */
function nullsLast<T>(a: T | null, b: T | null, order: (a: T, b: T) => number): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  return order(a, b);
}

/** Two runs of a bed name: digits by value (however long), a number before a word, words ignoring case. */
function runOrder(a: string, b: string): number {
  const aNumber = /^[0-9]/.test(a);
  const bNumber = /^[0-9]/.test(b);
  if (aNumber && bNumber) {
    const x = a.replace(/^0+/, '');
    const y = b.replace(/^0+/, '');
    return x.length - y.length || textOrder(x, y);
  }
  if (aNumber !== bNumber) return aNumber ? -1 : 1;
  return textOrder(a.toLowerCase(), b.toLowerCase());
}

function naturalOrder(a: string, b: string): number {
  const x = bedRuns(a);
  const y = bedRuns(b);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    const order = runOrder(x[i]!, y[i]!);
    if (order !== 0) return order;
  }
  return x.length - y.length || textOrder(a, b);
}

/**
 * The Rust core's `bed_order` (protocol/src/patient.rs), for this stand-in's
 * census: "2" before "10", no bed last. A test checks it against
 * `BED_ORDER`, which the core writes.
 */
export function compareBeds(a: string | null, b: string | null): number {
  return nullsLast(a, b, naturalOrder);
}

/**
 * The census's order, as the Rust store gives it: by location (none last),
 * by bed ({@link compareBeds}), then by name ignoring case.
 */
export function compareCensus(a: PatientSummary, b: PatientSummary): number {
  return (
    nullsLast(a.location, b.location, textOrder) ||
    compareBeds(a.bed, b.bed) ||
    textOrder(a.family_name.toLowerCase(), b.family_name.toLowerCase()) ||
    textOrder(a.given_name.toLowerCase(), b.given_name.toLowerCase())
  );
}
