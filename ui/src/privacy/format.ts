// Words for what the privacy workspace shows: audit subtypes, purposes of
// use, people, workstations and chain states. Colour is never the only
// signal: each state also has its word here.

import type { AccessReportQuery } from '../generated/AccessReportQuery';
import type { AuditSubtype } from '../generated/AuditSubtype';
import type { ChainState } from '../generated/ChainState';
import type { DeviceLabel } from '../generated/DeviceLabel';
import type { PatientLabel } from '../generated/PatientLabel';
import type { PurposeOfUse } from '../generated/PurposeOfUse';
import type { ReviewStatus } from '../generated/ReviewStatus';
import type { UserLabel } from '../generated/UserLabel';
import { formatName } from '../format';

const SUBTYPES: Record<AuditSubtype, string> = {
  'census-list': 'Ward census listed',
  'patient-search': 'Patient search',
  // One event for all a chart shows on opening (older workstations: then a separate vitals-view).
  'chart-open': 'Chart opened (header, allergies, vital signs)',
  'vitals-view': 'Vital signs viewed again',
  'labs-view': 'Lab results viewed',
  'allergies-view': 'Allergies viewed',
  print: 'Printed',
  export: 'Exported',
  'break-glass-start': 'Emergency access started',
  'break-glass-stop': 'Emergency access ended',
  login: 'Signed in',
  'login-offline': 'Signed in offline',
  logout: 'Signed out',
  lock: 'Locked',
  unlock: 'Unlocked',
  'unlock-failed': 'Unlock failed',
  'conflicts-view': 'Edits to review listed',
  'medications-view': 'Medications viewed',
  'medication-override': 'Dose check overridden',
  'double-dose-review': 'Possible double dose reviewed',
  'access-report-view': 'Access report viewed',
  'break-glass-queue-view': 'Emergency access reviews listed',
  'break-glass-review': 'Emergency access reviewed',
  'audit-chain-view': 'Audit chains viewed',
};

export function subtypeLabel(subtype: AuditSubtype): string {
  return SUBTYPES[subtype] ?? subtype;
}

const PURPOSES: Record<PurposeOfUse, string> = {
  TREAT: 'Treatment',
  ETREAT: 'Emergency treatment',
  HOPERAT: 'Operations',
  HCOMPL: 'Compliance review',
};

export function purposeLabel(purpose: PurposeOfUse): string {
  return PURPOSES[purpose] ?? purpose;
}

/** "Sam Reyes (synthetic) · dev-clinician", or the bare id of an unknown user. */
export function userLabel(user: UserLabel): string {
  if (user.display_name && user.username) return `${user.display_name} · ${user.username}`;
  return user.username ?? user.user_id;
}

export function deviceLabel(device: DeviceLabel): string {
  return device.name ?? `Unknown workstation ${device.id.slice(0, 8)}`;
}

export function patientLabel(patient: PatientLabel): string {
  return formatName(patient.family_name, patient.given_name);
}

const CHAIN_STATES: Record<ChainState, string> = {
  continuous: 'Continuous',
  broken: 'Broken',
  empty: 'Nothing uploaded',
};

export function chainStateLabel(state: ChainState): string {
  return CHAIN_STATES[state];
}

const BREAKS: Record<string, string> = {
  audit_gap: 'events missing',
  audit_altered: 'an event altered',
  audit_unlinked: 'a broken link',
  audit_foreign_device: 'another workstation’s events',
};

export function breakLabel(kind: string): string {
  return BREAKS[kind] ?? kind;
}

const STATUSES: Record<ReviewStatus, string> = {
  pending: 'Awaiting review',
  justified: 'Reviewed: appropriate',
  unjustified: 'Reviewed: not appropriate',
};

export function reviewStatusLabel(status: ReviewStatus): string {
  return STATUSES[status];
}

/** A `datetime-local` value (the workstation's time) as an RFC 3339 instant, or null. */
export function instantOf(local: string): string | null {
  if (local.trim() === '') return null;
  const ms = Date.parse(local);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** What a report is about, in words. */
export function describeQuery(query: AccessReportQuery): string {
  const parts: string[] = [];
  if (query.patient_mrn) parts.push(`patient MRN ${query.patient_mrn}`);
  if (query.username) parts.push(`user ${query.username}`);
  return parts.length === 0 ? 'every event' : parts.join(' and ');
}
