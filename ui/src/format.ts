// Display formatting. Dates are shown as "12 Mar 1954": unambiguous in every
// locale, which a numeric date is not. Date-only values ("YYYY-MM-DD") are
// formatted from their parts, never through `Date`, so no time zone can shift
// a date of birth by a day.

import type { AllergyCategory } from './generated/AllergyCategory';
import type { AllergyClinicalStatus } from './generated/AllergyClinicalStatus';
import type { AllergyVerificationStatus } from './generated/AllergyVerificationStatus';
import type { Criticality } from './generated/Criticality';
import type { Environment } from './generated/Environment';
import type { ReactionSeverity } from './generated/ReactionSeverity';
import type { Sex } from './generated/Sex';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

interface DateParts {
  year: number;
  month: number; // 1-12
  day: number;
}

function parseDateOnly(value: string): DateParts | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!match) return null;
  const [, y, m, d] = match;
  const parts = { year: Number(y), month: Number(m), day: Number(d) };
  if (parts.month < 1 || parts.month > 12 || parts.day < 1 || parts.day > 31) return null;
  return parts;
}

/** "1954-03-12" -> "12 Mar 1954"; unparseable input is shown as given. */
export function formatDate(value: string): string {
  const parts = parseDateOnly(value);
  if (!parts) return value;
  return `${String(parts.day).padStart(2, '0')} ${MONTHS[parts.month - 1] ?? '???'} ${parts.year}`;
}

/** An RFC 3339 timestamp as the local calendar date, "12 Mar 2024". */
export function formatTimestampDate(value: string): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return `${String(date.getDate()).padStart(2, '0')} ${MONTHS[date.getMonth()] ?? '???'} ${date.getFullYear()}`;
}

/** Whole years from a "YYYY-MM-DD" birth date to `today` (local date). */
export function ageInYears(birthDate: string, today: Date = new Date()): number | null {
  const birth = parseDateOnly(birthDate);
  if (!birth) return null;
  const month = today.getMonth() + 1;
  const day = today.getDate();
  let age = today.getFullYear() - birth.year;
  if (month < birth.month || (month === birth.month && day < birth.day)) age -= 1;
  return age < 0 ? 0 : age;
}

/** "FAMILY, Given": the form clinicians scan lists by. */
export function formatName(familyName: string, givenName: string): string {
  return `${familyName.toLocaleUpperCase()}, ${givenName}`;
}

const SEX: Record<Sex, string> = { male: 'Male', female: 'Female', other: 'Other', unknown: 'Unknown' };

export function formatSex(sex: Sex): string {
  return SEX[sex];
}

const ENVIRONMENT: Record<Environment, string> = {
  production: 'Production',
  development: 'Development',
  test: 'Test',
};

export function formatEnvironment(environment: Environment): string {
  return ENVIRONMENT[environment];
}

const CRITICALITY: Record<Criticality, string> = {
  high: 'HIGH',
  low: 'Low',
  'unable-to-assess': 'Unable to assess',
};

export function formatCriticality(criticality: Criticality): string {
  return CRITICALITY[criticality];
}

const VERIFICATION: Record<AllergyVerificationStatus, string> = {
  confirmed: 'confirmed',
  unconfirmed: 'unconfirmed',
  refuted: 'refuted',
  'entered-in-error': 'entered in error',
};

export function formatVerification(status: AllergyVerificationStatus): string {
  return VERIFICATION[status];
}

const CLINICAL: Record<AllergyClinicalStatus, string> = {
  active: 'active',
  inactive: 'inactive',
  resolved: 'resolved',
};

export function formatClinicalStatus(status: AllergyClinicalStatus): string {
  return CLINICAL[status];
}

const CATEGORY: Record<AllergyCategory, string> = {
  food: 'Food',
  medication: 'Medication',
  environment: 'Environment',
  biologic: 'Biologic',
};

export function formatCategory(category: AllergyCategory): string {
  return CATEGORY[category];
}

const SEVERITY: Record<ReactionSeverity, string> = { mild: 'mild', moderate: 'moderate', severe: 'severe' };

export function formatSeverity(severity: ReactionSeverity): string {
  return SEVERITY[severity];
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** An RFC 3339 timestamp as local "HH:MM", with the date when not today: "12 Mar 2024 09:05". */
export function formatDateTime(value: string, now: Date = new Date()): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  const time = `${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
  const sameDay =
    date.getFullYear() === now.getFullYear() && date.getMonth() === now.getMonth() && date.getDate() === now.getDate();
  return sameDay ? time : `${formatTimestampDate(value)} ${time}`;
}

/** Always with the date: "12 Mar 2024 09:05". */
export function formatFullDateTime(value: string): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return `${formatTimestampDate(value)} ${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

/** A duration in words for a status bar: "just now", "3 min", "2 h 5 min", "3 d 4 h". */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  if (minutes < 1) return 'less than a minute';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}

/** "3 min ago", "just now". */
export function formatAgo(value: string, now: Date = new Date()): string {
  const ms = now.getTime() - new Date(value).getTime();
  if (Number.isNaN(ms)) return value;
  if (ms < 60_000) return 'just now';
  return `${formatDuration(ms)} ago`;
}

const UNITS: Record<string, string> = {
  'mm[Hg]': 'mmHg',
  Cel: '°C',
  '10*3/uL': '×10³/µL',
  '10*6/uL': '×10⁶/µL',
  uL: 'µL',
};

/** UCUM codes as clinicians write them: "mm[Hg]" -> "mmHg", "Cel" -> "°C". */
export function formatUnit(ucum: string): string {
  return UNITS[ucum] ?? ucum;
}

/** A number without float noise: 37.80000001 -> "37.8". */
export function formatNumber(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}
