// The UI's only door to patient data. Components receive a `Backend` from
// context and never call Tauri directly, so they can be tested against the
// in-memory implementation (the pattern GitButler uses for its desktop UI).
//
// Every method that returns PHI is audited on the Rust side before the data
// is returned. The UI therefore never caches chart data: showing a chart
// means calling `openChart` again.

import type { AccessReport } from '../generated/AccessReport';
import type { AccessReportQuery } from '../generated/AccessReportQuery';
import type { AdministrationEntry } from '../generated/AdministrationEntry';
import type { AdministrationInError } from '../generated/AdministrationInError';
import type { AdministrationRow } from '../generated/AdministrationRow';
import type { AllergyEntry } from '../generated/AllergyEntry';
import type { AllergyRow } from '../generated/AllergyRow';
import type { AppInfo } from '../generated/AppInfo';
import type { AuditChainStatus } from '../generated/AuditChainStatus';
import type { BreakGlassAccess } from '../generated/BreakGlassAccess';
import type { BreakGlassQueue } from '../generated/BreakGlassQueue';
import type { BreakGlassReviewRequest } from '../generated/BreakGlassReviewRequest';
import type { BreakGlassRequest } from '../generated/BreakGlassRequest';
import type { Credentials } from '../generated/Credentials';
import type { DowntimeSummary } from '../generated/DowntimeSummary';
import type { EditsNeedingAttention } from '../generated/EditsNeedingAttention';
import type { ExportedFile } from '../generated/ExportedFile';
import type { ExportFormat } from '../generated/ExportFormat';
import type { EnrolRequestUi } from '../generated/EnrolRequestUi';
import type { DoseReviewEntry } from '../generated/DoseReviewEntry';
import type { EnteredInError } from '../generated/EnteredInError';
import type { MarPrint } from '../generated/MarPrint';
import type { MedicationsView } from '../generated/MedicationsView';
import type { ObservationRow } from '../generated/ObservationRow';
import type { OpenedChart } from '../generated/OpenedChart';
import type { PatientSummary } from '../generated/PatientSummary';
import type { PinEntry } from '../generated/PinEntry';
import type { PrivacyAccess } from '../generated/PrivacyAccess';
import type { QueueFilter } from '../generated/QueueFilter';
import type { RecordAdministrationOutcome } from '../generated/RecordAdministrationOutcome';
import type { SessionInfo } from '../generated/SessionInfo';
import type { SessionState } from '../generated/SessionState';
import type { SettingsView } from '../generated/SettingsView';
import type { SignInOptions } from '../generated/SignInOptions';
import type { SyncStatus } from '../generated/SyncStatus';
import type { UiError } from '../generated/UiError';
import type { VitalSpec } from '../generated/VitalSpec';
import type { VitalsEntry } from '../generated/VitalsEntry';

/**
 * Command names (Tauri) are the snake_case of the method names; arguments
 * are passed as one object whose keys are camelCase of the Rust parameters
 * (see tauri.ts). Every method rejects with a UiError.
 */
export interface Backend {
  // ---- the frame, needs no session
  /** Facts for the frame: version, environment, synthetic data, user, data-age threshold. */
  appInfo(): Promise<AppInfo>;
  /** Online/offline, data age, pending edits and audit events, conflicts, initial-sync progress. */
  syncStatus(): Promise<SyncStatus>;
  /** Starts a sync cycle in the background; resolves at once. */
  syncNow(): Promise<void>;
  /** The plausibility limits and normal bands the backend enforces. */
  vitalSpecs(): Promise<VitalSpec[]>;
  /** Server, enrolment, data directory, version; policy-set values are locked. */
  settings(): Promise<SettingsView>;
  /** First-run enrolment from the settings screen. */
  enroll(request: EnrolRequestUi): Promise<SettingsView>;

  // ---- sessions (audited: login, login-offline, logout, lock, unlock, unlock-failed)
  /** Where the session stands; polled by the UI every few seconds. */
  session(): Promise<SessionState>;
  /**
   * A password (a local account, or `credentials.provider`'s LDAP directory):
   * online when the server answers, else offline against the local verifier.
   */
  signIn(credentials: Credentials): Promise<SessionInfo>;
  /** The sign-in screen's providers: the service's list, or the one kept (`fresh` false). */
  loginProviders(): Promise<SignInOptions>;
  /**
   * The hospital's browser sign-in (OpenID Connect): the core opens the
   * system browser and resolves once it came back, with the new session's
   * state (`pin_setup` until the clinician chose a workstation PIN, else
   * `active`). Rejects with `cancelled` (cancelOidc), `sign_in_expired`, or
   * `oidc_unreachable` (offline: sign in with the PIN instead).
   */
  signInOidc(provider: string): Promise<SessionState>;
  /** Stops waiting for the browser. */
  cancelOidc(): Promise<void>;
  /** Offline sign-in with the workstation PIN (in `password`); `online_available` when the provider answers. */
  signInPin(credentials: Credentials): Promise<SessionInfo>;
  /** Sets the workstation PIN of a session in `pin_setup`; rejects with `pin_invalid` and the rule in words. */
  setPin(entry: PinEntry): Promise<SessionInfo>;
  /** Unlocks a locked session (same clinician, password again). */
  unlock(password: string): Promise<SessionInfo>;
  lock(): Promise<void>;
  signOut(): Promise<void>;
  /** Keyboard or pointer activity: postpones the idle lock. Throttle to once per few seconds. */
  activity(): Promise<void>;
  /** Emergency access to a patient outside this ward (online only); resolves to the patient id. */
  breakGlass(request: BreakGlassRequest): Promise<string>;

  // ---- audited reads (each call is one audit event: never cache the result)
  /** The patients of this workstation's ward(s). Audited as a census list. */
  census(): Promise<PatientSummary[]>;
  /** Name, MRN or date of birth (YYYY-MM-DD); empty query: [] with no audit event. */
  search(query: string): Promise<PatientSummary[]>;
  /**
   * What a chart shows on opening: the header, the allergies and the first
   * tab's vital signs (newest first). Audited as one chart open.
   */
  openChart(patientId: string): Promise<OpenedChart>;
  /** Vital signs, newest first, when the tab is opened again. Audited as vitals-view. */
  viewVitals(patientId: string): Promise<ObservationRow[]>;
  /** Laboratory results, newest first. Audited as labs-view. */
  viewLabs(patientId: string): Promise<ObservationRow[]>;
  /** The full allergy list. Audited as allergies-view. */
  viewAllergies(patientId: string): Promise<AllergyRow[]>;
  /** Conflicts and rejected edits, both versions side by side. Audited. */
  editsNeedingAttention(): Promise<EditsNeedingAttention>;
  /** The printable summary; audited as a print event. */
  downtimeSummary(patientId: string): Promise<DowntimeSummary>;
  /**
   * Orders and the MAR over `[windowStart, windowEnd)` (null: 24 hours
   * either side of now), with slot states and possible double doses as the
   * core computed them. Audited as a medications view.
   */
  medications(patientId: string, windowStart?: string | null, windowEnd?: string | null): Promise<MedicationsView>;
  /**
   * The MAR printout of one patient, or of the whole ward (null) one
   * patient a page, with blank slots `hoursAhead` (24 or 48) ahead. Audited
   * as a print per patient.
   */
  printMar(patientId: string | null, hoursAhead: number): Promise<MarPrint>;

  // ---- recording (each goes to the outbox; pending until the server confirms)
  /** Records the filled-in vitals; rejects with code "invalid" and the limit named. */
  recordVitals(patientId: string, entry: VitalsEntry): Promise<ObservationRow[]>;
  saveAllergy(patientId: string, entry: AllergyEntry): Promise<AllergyRow>;
  markEnteredInError(request: EnteredInError): Promise<ObservationRow>;
  /**
   * A dose given or not given. The core runs the safety checks first:
   * `needs_override` (nothing saved) until each failed check has an override
   * with a reason in `entry.overrides`; `saved` (pending) otherwise.
   */
  recordAdministration(patientId: string, entry: AdministrationEntry): Promise<RecordAdministrationOutcome>;
  /** Marks an administration entered in error; the reason is required. */
  administrationEnteredInError(request: AdministrationInError): Promise<AdministrationRow>;
  /** A clinician's review of a possible double dose (clears the flag when it covers every record). */
  reviewDoubleDose(entry: DoseReviewEntry): Promise<void>;
  reapplyConflict(mutationId: string): Promise<void>;
  discardConflict(mutationId: string): Promise<void>;

  // ---- the privacy officer's workspace (online only: the service's data,
  // fetched with the signed-in user's session; each view is audited in this
  // workstation's chain, purpose HCOMPL; offline rejects with `needs_service`)
  /** Whether the signed-in user is a privacy officer (and a clinician). Counts only, not audited. */
  privacyAccess(): Promise<PrivacyAccess>;
  /** Who viewed a patient (MRN) or what a user viewed, over a period; one page. Audited as access-report-view. */
  accessReport(query: AccessReportQuery): Promise<AccessReport>;
  /** The report to print (its first 500 rows). Audited as a print. */
  printAccessReport(query: AccessReportQuery): Promise<AccessReport>;
  /** The whole report saved as a file (CSV, or FHIR AuditEvents). Audited as an export. */
  exportAccessReport(query: AccessReportQuery, format: ExportFormat): Promise<ExportedFile>;
  /** The break-the-glass review queue. Audited as break-glass-queue-view. */
  breakGlassQueue(filter: QueueFilter): Promise<BreakGlassQueue>;
  /** Records a review (final; the note is required). Audited as break-glass-review. */
  reviewBreakGlass(accessId: string, review: BreakGlassReviewRequest): Promise<BreakGlassAccess>;
  /** Every workstation's audit chain as the service verifies it. Audited as audit-chain-view. */
  auditChains(): Promise<AuditChainStatus>;
}

/** Error code used when a failure did not come from the backend as a UiError. */
export const UNEXPECTED_ERROR = 'unexpected';

export function isUiError(value: unknown): value is UiError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['code'] === 'string' && typeof v['message'] === 'string';
}

/**
 * Whatever a backend call rejected with, as a UiError. The backend rejects
 * with `UiError` objects; anything else (a string from the IPC layer, a
 * thrown Error) is wrapped so the UI always has a message to show. The
 * original text is kept: it comes from our own code and carries no PHI.
 */
export function toUiError(error: unknown): UiError {
  if (isUiError(error)) return { code: error.code, message: error.message };
  if (typeof error === 'string' && error.length > 0) {
    return { code: UNEXPECTED_ERROR, message: error };
  }
  if (error instanceof Error && error.message.length > 0) {
    return { code: UNEXPECTED_ERROR, message: error.message };
  }
  return {
    code: UNEXPECTED_ERROR,
    message: 'Wardbook could not complete the request. Try again; if it keeps failing, contact IT support.',
  };
}
