// The Backend over Tauri IPC. Command names and argument names are the
// contract with src-tauri/commands/: the command is the snake_case of the
// method, and arguments go as one object with camelCase keys (Tauri maps
// `patientId` to the Rust parameter `patient_id`).

import { invoke, type InvokeArgs } from '@tauri-apps/api/core';

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
import type { VitalSpec } from '../generated/VitalSpec';
import type { VitalsEntry } from '../generated/VitalsEntry';
import { toUiError, type Backend } from './backend';

async function call<T>(command: string, args?: InvokeArgs): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toUiError(error);
  }
}

export class TauriBackend implements Backend {
  // ---- the frame
  appInfo(): Promise<AppInfo> {
    return call<AppInfo>('app_info');
  }
  syncStatus(): Promise<SyncStatus> {
    return call<SyncStatus>('sync_status');
  }
  syncNow(): Promise<void> {
    return call<void>('sync_now');
  }
  vitalSpecs(): Promise<VitalSpec[]> {
    return call<VitalSpec[]>('vital_specs');
  }
  settings(): Promise<SettingsView> {
    return call<SettingsView>('settings');
  }
  enroll(request: EnrolRequestUi): Promise<SettingsView> {
    return call<SettingsView>('enroll', { request });
  }

  // ---- sessions
  session(): Promise<SessionState> {
    return call<SessionState>('session');
  }
  signIn(credentials: Credentials): Promise<SessionInfo> {
    return call<SessionInfo>('sign_in', { credentials });
  }
  loginProviders(): Promise<SignInOptions> {
    return call<SignInOptions>('login_providers');
  }
  signInOidc(provider: string): Promise<SessionState> {
    return call<SessionState>('sign_in_oidc', { provider });
  }
  cancelOidc(): Promise<void> {
    return call<void>('cancel_oidc');
  }
  signInPin(credentials: Credentials): Promise<SessionInfo> {
    return call<SessionInfo>('sign_in_pin', { credentials });
  }
  setPin(entry: PinEntry): Promise<SessionInfo> {
    return call<SessionInfo>('set_pin', { entry });
  }
  unlock(password: string): Promise<SessionInfo> {
    return call<SessionInfo>('unlock', { password });
  }
  lock(): Promise<void> {
    return call<void>('lock');
  }
  signOut(): Promise<void> {
    return call<void>('sign_out');
  }
  activity(): Promise<void> {
    return call<void>('activity');
  }
  breakGlass(request: BreakGlassRequest): Promise<string> {
    return call<string>('break_glass', { request });
  }

  // ---- audited reads
  census(): Promise<PatientSummary[]> {
    return call<PatientSummary[]>('census');
  }
  search(query: string): Promise<PatientSummary[]> {
    return call<PatientSummary[]>('search', { query });
  }
  openChart(patientId: string): Promise<OpenedChart> {
    return call<OpenedChart>('open_chart', { patientId });
  }
  viewVitals(patientId: string): Promise<ObservationRow[]> {
    return call<ObservationRow[]>('view_vitals', { patientId });
  }
  viewLabs(patientId: string): Promise<ObservationRow[]> {
    return call<ObservationRow[]>('view_labs', { patientId });
  }
  viewAllergies(patientId: string): Promise<AllergyRow[]> {
    return call<AllergyRow[]>('view_allergies', { patientId });
  }
  editsNeedingAttention(): Promise<EditsNeedingAttention> {
    return call<EditsNeedingAttention>('edits_needing_attention');
  }
  downtimeSummary(patientId: string): Promise<DowntimeSummary> {
    return call<DowntimeSummary>('downtime_summary', { patientId });
  }
  medications(patientId: string, windowStart: string | null = null, windowEnd: string | null = null): Promise<MedicationsView> {
    return call<MedicationsView>('medications', { patientId, windowStart, windowEnd });
  }
  printMar(patientId: string | null, hoursAhead: number): Promise<MarPrint> {
    return call<MarPrint>('print_mar', { patientId, hoursAhead });
  }

  // ---- recording
  recordVitals(patientId: string, entry: VitalsEntry): Promise<ObservationRow[]> {
    return call<ObservationRow[]>('record_vitals', { patientId, entry });
  }
  saveAllergy(patientId: string, entry: AllergyEntry): Promise<AllergyRow> {
    return call<AllergyRow>('save_allergy', { patientId, entry });
  }
  markEnteredInError(request: EnteredInError): Promise<ObservationRow> {
    return call<ObservationRow>('mark_entered_in_error', { request });
  }
  recordAdministration(patientId: string, entry: AdministrationEntry): Promise<RecordAdministrationOutcome> {
    return call<RecordAdministrationOutcome>('record_administration', { patientId, entry });
  }
  administrationEnteredInError(request: AdministrationInError): Promise<AdministrationRow> {
    return call<AdministrationRow>('administration_entered_in_error', { request });
  }
  reviewDoubleDose(entry: DoseReviewEntry): Promise<void> {
    return call<void>('review_double_dose', { entry });
  }
  reapplyConflict(mutationId: string): Promise<void> {
    return call<void>('reapply_conflict', { mutationId });
  }
  discardConflict(mutationId: string): Promise<void> {
    return call<void>('discard_conflict', { mutationId });
  }

  // ---- the privacy officer's workspace
  privacyAccess(): Promise<PrivacyAccess> {
    return call<PrivacyAccess>('privacy_access');
  }
  accessReport(query: AccessReportQuery): Promise<AccessReport> {
    return call<AccessReport>('access_report', { query });
  }
  printAccessReport(query: AccessReportQuery): Promise<AccessReport> {
    return call<AccessReport>('print_access_report', { query });
  }
  exportAccessReport(query: AccessReportQuery, format: ExportFormat): Promise<ExportedFile> {
    return call<ExportedFile>('export_access_report', { query, format });
  }
  breakGlassQueue(filter: QueueFilter): Promise<BreakGlassQueue> {
    return call<BreakGlassQueue>('break_glass_queue', { filter });
  }
  reviewBreakGlass(accessId: string, review: BreakGlassReviewRequest): Promise<BreakGlassAccess> {
    return call<BreakGlassAccess>('review_break_glass', { accessId, review });
  }
  auditChains(): Promise<AuditChainStatus> {
    return call<AuditChainStatus>('audit_chains');
  }
}
