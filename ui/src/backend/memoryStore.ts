// The in-memory backend's state, its bookkeeping (every call recorded, the
// session enforced like the Rust core: patient data only while a session is
// active), and the calls that show no patient data: the frame, settings,
// enrolment and sessions. memory.ts builds the patient calls on it.

import type { AppInfo } from '../generated/AppInfo';
import type { BreakGlassRequest } from '../generated/BreakGlassRequest';
import type { Credentials } from '../generated/Credentials';
import type { EditsNeedingAttention } from '../generated/EditsNeedingAttention';
import type { EnrolRequestUi } from '../generated/EnrolRequestUi';
import type { News2Score } from '../generated/News2Score';
import type { ObservationRow } from '../generated/ObservationRow';
import type { PatientSummary } from '../generated/PatientSummary';
import type { PinEntry } from '../generated/PinEntry';
import type { SessionInfo } from '../generated/SessionInfo';
import type { SessionMode } from '../generated/SessionMode';
import type { SessionState } from '../generated/SessionState';
import type { SettingsView } from '../generated/SettingsView';
import type { SignInOptions } from '../generated/SignInOptions';
import type { SyncStatus } from '../generated/SyncStatus';
import type { UiError } from '../generated/UiError';
import type { VitalSpec } from '../generated/VitalSpec';
import { reasonProblem } from '../reasonLimits';
import type { Backend } from './backend';
import { chartHeader, summarize, type ChartRecord } from './memoryCharts';
import { MemoryMedications, type MedicationData } from './memoryMedications';
import { MemorySignIn, type MemoryUser } from './memorySignIn';
import { MemoryPrivacy, NO_PRIVACY_DATA, type PrivacyData } from './memoryPrivacy';

export type BackendMethod = keyof Backend;

export interface BackendCall {
  method: BackendMethod;
  args: unknown[];
  /** Kept for the chart-open checks of earlier tests. */
  patientId?: string;
}

export type { MemoryUser } from './memorySignIn';

export interface MemoryBackendOptions {
  appInfo: AppInfo;
  charts: ChartRecord[];
  /** Charts of other wards, reachable only by break-the-glass (by MRN). */
  outOfScope?: ChartRecord[];
  vitals?: Record<string, ObservationRow[]>;
  labs?: Record<string, ObservationRow[]>;
  vitalSpecs?: VitalSpec[];
  syncStatus?: SyncStatus;
  settings?: SettingsView;
  edits?: EditsNeedingAttention;
  users?: MemoryUser[];
  /** The sign-in screen's providers (default: none, local accounts allowed). */
  signInOptions?: SignInOptions;
  /** Where the session starts (default: signed out). */
  session?: SessionState;
  /** Medication orders with their fixed due times, and administrations. */
  medications?: MedicationData;
  /** NEWS2 per patient id, as the core would send it on the census. */
  news2?: Record<string, News2Score | null>;
  /** Make a method reject with this error (until `failures` is changed). */
  failures?: Partial<Record<BackendMethod, UiError>>;
  /** The privacy officer's workspace: roles, audit events, accesses, chains. */
  privacy?: PrivacyData;
}

export function copy<T>(value: T): T {
  return structuredClone(value);
}

export function uiError(code: string, message: string): UiError {
  return { code, message };
}

const SIGNED_OUT: UiError = uiError('signed_out', 'No one is signed in. Sign in to see patient records.');
const LOCKED: UiError = uiError('locked', 'The session is locked. Enter your password to continue.');

const PATIENT_METHODS = new Set<BackendMethod>([
  'openChart',
  'viewVitals',
  'viewLabs',
  'viewAllergies',
  'downtimeSummary',
  'recordVitals',
  'saveAllergy',
  'medications',
  'recordAdministration',
  'printMar',
]);

/** The zone due times are shown in: the browser's own here (the core sends the hospital's). */
export const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

let idCounter = 0;
export function newId(): string {
  idCounter += 1;
  const hex = (Date.now() + idCounter).toString(16).padStart(12, '0').slice(-12);
  return `0190f5b0-0000-7000-8000-${hex}`;
}

/**
 * The in-memory backend's state and the calls that need no patient data:
 * the frame, settings, enrolment and sessions. {@link MemoryBackend} adds
 * the patient data (memory.ts).
 */
export abstract class MemoryStore {
  readonly calls: BackendCall[] = [];
  protected readonly info: AppInfo;
  protected readonly charts: Map<string, ChartRecord>;
  protected readonly outside: Map<string, ChartRecord>;
  protected readonly scope: Set<string>;
  protected readonly vitals: Map<string, ObservationRow[]>;
  protected readonly labs: Map<string, ObservationRow[]>;
  protected readonly pendingAllergies = new Set<string>();
  protected readonly specs: VitalSpec[];
  protected readonly users: MemoryUser[];
  protected readonly news2: Map<string, News2Score | null>;
  readonly meds: MemoryMedications;
  /** The providers, the browser sign-in (a test completes it) and workstation PINs. */
  readonly signInFlow: MemorySignIn;
  readonly privacy: MemoryPrivacy;
  status: SyncStatus;
  settingsState: SettingsView;
  edits: EditsNeedingAttention;
  sessionState: SessionState;
  failures: Partial<Record<BackendMethod, UiError>>;
  activityCount = 0;

  constructor(options: MemoryBackendOptions) {
    this.info = options.appInfo;
    this.charts = new Map(options.charts.map((c) => [c.patient.id, copy(c)]));
    this.scope = new Set(this.charts.keys());
    this.outside = new Map((options.outOfScope ?? []).map((c) => [c.patient.mrn, copy(c)]));
    this.vitals = new Map(Object.entries(copy(options.vitals ?? {})));
    this.labs = new Map(Object.entries(copy(options.labs ?? {})));
    this.specs = copy(options.vitalSpecs ?? []);
    this.users = copy(options.users ?? []);
    this.status = copy(
      options.syncStatus ?? {
        enrolled: false,
        server_url: null,
        online: null,
        state_since: null,
        last_success: null,
        data_as_of: null,
        pending_edits: 0,
        pending_entries: 0,
        pending_audit_events: 0,
        conflicts: 0,
        rejected_edits: 0,
        initial_sync: null,
        last_error: null,
        double_dose_patients: 0,
        integrity: { state: 'ok', checked_at: null, problems: 0 },
      },
    );
    this.meds = new MemoryMedications(options.medications ?? { orders: [], administrations: [] });
    this.news2 = new Map(Object.entries(copy(options.news2 ?? {})));
    this.privacy = new MemoryPrivacy(copy(options.privacy ?? NO_PRIVACY_DATA));
    this.status.double_dose_patients = this.meds.doubleDosePatients(this.scope);
    this.edits = copy(options.edits ?? { conflicts: [], rejected: [] });
    this.settingsState = copy(
      options.settings ?? {
        version: this.info.version,
        environment: this.info.environment,
        environment_source: 'default',
        data_dir: { value: '/tmp/wardbook-synthetic', locked: false, source: 'default' },
        policy_file: null,
        user_settings_file: null,
        server_url: { value: null, locked: false, source: 'default' },
        ca_file: { value: null, locked: false, source: 'default' },
        idle_lock_minutes: { value: '10', locked: false, source: 'default' },
        offline_login_hours: { value: '72', locked: false, source: 'default' },
        data_age_warning_minutes: { value: '120', locked: false, source: 'default' },
        break_glass_minutes: { value: '60', locked: false, source: 'default' },
        audit_retention_days: { value: '30', locked: false, source: 'default' },
        sync_interval_seconds: { value: '60', locked: false, source: 'default' },
        updates_allowed: { value: 'false', locked: false, source: 'default' },
        enrolled: false,
        device_id: '0190f5a9-0000-7000-8000-00000000d000',
        locations: [],
      },
    );
    this.sessionState = copy(options.session ?? { state: 'signed_out' });
    this.signInFlow = new MemorySignIn(
      {
        users: () => this.users,
        online: () => this.status.online !== false,
        state: () => this.sessionState,
        setState: (state) => {
          this.sessionState = copy(state);
        },
        start: (user, mode) => this.startSession(user, mode),
      },
      options.signInOptions,
    );
    this.failures = { ...options.failures };
  }

  // ---------------------------------------------------------------- helpers

  protected record(method: BackendMethod, ...args: unknown[]): Promise<never> | undefined {
    const call: BackendCall = { method, args };
    if (typeof args[0] === 'string' && PATIENT_METHODS.has(method)) call.patientId = args[0];
    this.calls.push(call);
    const error = this.failures[method];
    return error ? Promise.reject(copy(error)) : undefined;
  }

  /** Rejects unless a session is active (as the Rust core does for PHI). */
  protected guard(): Promise<never> | undefined {
    if (this.sessionState.state === 'signed_out') return Promise.reject(copy(SIGNED_OUT));
    if (this.sessionState.state === 'locked') return Promise.reject(copy(LOCKED));
    return undefined;
  }

  protected chart(patientId: string): ChartRecord | undefined {
    return this.charts.get(patientId);
  }

  protected notFound(): Promise<never> {
    return Promise.reject(
      uiError(
        'patient-not-found',
        'This patient is not in this workstation’s records. Return to the census and choose again.',
      ),
    );
  }

  protected invalid(message: string): Promise<never> {
    return Promise.reject(uiError('invalid', message));
  }

  protected user(): string {
    return this.sessionState.state === 'active' ? this.sessionState.session.user_id : 'unknown';
  }

  /** A census row: the chart, its medication columns and NEWS2 (when the fixture has one). */
  protected summary(chart: ChartRecord): PatientSummary {
    const id = chart.patient.id;
    return summarize(chartHeader(chart), this.meds.census(id, Date.now()), this.news2.get(id) ?? null);
  }

  /** How many times a chart was requested (each request is an audited read). */
  chartOpens(patientId: string): number {
    return this.count('openChart', patientId);
  }

  /** How many times `method` was called (for `patientId` when given). */
  count(method: BackendMethod, patientId?: string): number {
    return this.calls.filter((c) => c.method === method && (patientId === undefined || c.patientId === patientId))
      .length;
  }

  // ---------------------------------------------------------------- the frame

  appInfo(): Promise<AppInfo> {
    return this.record('appInfo') ?? Promise.resolve(copy(this.info));
  }

  syncStatus(): Promise<SyncStatus> {
    return this.record('syncStatus') ?? Promise.resolve(copy(this.status));
  }

  syncNow(): Promise<void> {
    const failed = this.record('syncNow');
    if (failed) return failed;
    if (this.status.online !== false && this.status.enrolled) {
      const now = new Date().toISOString();
      this.status.last_success = now;
      this.status.data_as_of = now;
      this.status.pending_edits = 0;
      this.status.pending_entries = 0;
      this.status.pending_audit_events = 0;
      this.status.last_error = null;
      for (const rows of [...this.vitals.values(), ...this.labs.values()]) {
        for (const row of rows) row.pending = false;
      }
      this.pendingAllergies.clear();
      this.meds.confirmAll();
    }
    return Promise.resolve();
  }

  vitalSpecs(): Promise<VitalSpec[]> {
    return this.record('vitalSpecs') ?? Promise.resolve(copy(this.specs));
  }

  settings(): Promise<SettingsView> {
    return this.record('settings') ?? Promise.resolve(copy(this.settingsState));
  }

  enroll(request: EnrolRequestUi): Promise<SettingsView> {
    const failed = this.record('enroll', request);
    if (failed) return failed;
    if (this.settingsState.enrolled) {
      return Promise.reject(uiError('already-enrolled', 'This workstation is already enrolled.'));
    }
    if (request.code.trim().length === 0) {
      return this.invalid('Enter the enrolment code IT gave you.');
    }
    const server = this.settingsState.server_url.locked ? this.settingsState.server_url.value : request.server_url;
    if (!server || !/^https:\/\//.test(server)) {
      return this.invalid('Enter the server address, starting with https://.');
    }
    this.settingsState.server_url = { ...this.settingsState.server_url, value: server };
    this.settingsState.enrolled = true;
    this.settingsState.locations = ['WARD-7B'];
    this.status.enrolled = true;
    this.status.server_url = server;
    return Promise.resolve(copy(this.settingsState));
  }

  // ---------------------------------------------------------------- sessions

  session(): Promise<SessionState> {
    return this.record('session') ?? Promise.resolve(copy(this.sessionState));
  }

  signIn(credentials: Credentials): Promise<SessionInfo> {
    const failed = this.record('signIn', { username: credentials.username });
    if (failed) return failed;
    const user = this.users.find((u) => u.username === credentials.username.trim());
    if (!user || user.password !== credentials.password) {
      return Promise.reject(
        uiError('invalid-credentials', 'The username or password is not correct. Check them and try again.'),
      );
    }
    const session: SessionInfo = {
      user_id: user.username,
      display_name: user.display_name,
      mode: this.status.online === false ? 'offline' : 'online',
      started_at: new Date().toISOString(),
      idle_lock_minutes: Number(this.settingsState.idle_lock_minutes.value ?? 10),
      break_glass: [],
    };
    this.sessionState = { state: 'active', session };
    return Promise.resolve(copy(session));
  }

  loginProviders(): Promise<SignInOptions> {
    return this.record('loginProviders') ?? this.signInFlow.loginProviders();
  }

  signInOidc(provider: string): Promise<SessionState> {
    return this.record('signInOidc', provider) ?? this.signInFlow.signInOidc(provider);
  }

  cancelOidc(): Promise<void> {
    return this.record('cancelOidc') ?? this.signInFlow.cancelOidc();
  }

  signInPin(credentials: Credentials): Promise<SessionInfo> {
    return this.record('signInPin', { username: credentials.username }) ?? this.signInFlow.signInPin(credentials);
  }

  setPin(entry: PinEntry): Promise<SessionInfo> {
    return this.record('setPin') ?? this.signInFlow.setPin(entry);
  }

  /** An active session for `user`, as the core answers a sign-in. */
  private startSession(user: MemoryUser, mode: SessionMode): SessionInfo {
    const session: SessionInfo = {
      user_id: user.username,
      display_name: user.display_name,
      mode,
      started_at: new Date().toISOString(),
      idle_lock_minutes: Number(this.settingsState.idle_lock_minutes.value ?? 10),
      break_glass: [],
    };
    this.sessionState = { state: 'active', session };
    return copy(session);
  }

  unlock(password: string): Promise<SessionInfo> {
    const failed = this.record('unlock');
    if (failed) return failed;
    const state = this.sessionState;
    if (state.state !== 'locked') {
      return Promise.reject(uiError('not-locked', 'The session is not locked.'));
    }
    const user = this.users.find((u) => u.username === state.user_id);
    if (user?.provider !== undefined) {
      // A browser sign-in's clinician unlocks with the workstation PIN.
      const wrong = this.signInFlow.checkPin(user, password);
      if (wrong) return wrong;
    } else if (!user || user.password !== password) {
      return Promise.reject(uiError('unlock-failed', 'The password is not correct. Try again.'));
    }
    const session: SessionInfo = {
      user_id: user.username,
      display_name: user.display_name,
      mode: this.status.online === false ? 'offline' : 'online',
      started_at: new Date().toISOString(),
      idle_lock_minutes: Number(this.settingsState.idle_lock_minutes.value ?? 10),
      break_glass: this.lockedBreakGlass,
    };
    this.sessionState = { state: 'active', session };
    return Promise.resolve(copy(session));
  }

  private lockedBreakGlass: SessionInfo['break_glass'] = [];

  lock(): Promise<void> {
    const failed = this.record('lock');
    if (failed) return failed;
    const state = this.sessionState;
    if (state.state === 'active') {
      this.lockedBreakGlass = state.session.break_glass;
      const user = this.users.find((u) => u.username === state.session.user_id);
      this.sessionState = {
        state: 'locked',
        user_id: state.session.user_id,
        display_name: state.session.display_name,
        unlock_with: user?.provider !== undefined ? 'pin' : 'password',
      };
    }
    return Promise.resolve();
  }

  signOut(): Promise<void> {
    const failed = this.record('signOut');
    if (failed) return failed;
    this.sessionState = { state: 'signed_out' };
    this.lockedBreakGlass = [];
    return Promise.resolve();
  }

  activity(): Promise<void> {
    const failed = this.record('activity');
    if (failed) return failed;
    this.activityCount += 1;
    return Promise.resolve();
  }

  breakGlass(request: BreakGlassRequest): Promise<string> {
    const failed = this.record('breakGlass', { mrn: request.mrn });
    if (failed) return failed;
    const guard = this.guard();
    if (guard) return guard;
    const limits = this.info.break_glass_reason;
    if (reasonProblem(request.reason, limits) !== null) {
      return this.invalid(
        `Give the reason for emergency access in ${limits.min_chars} to ${limits.max_chars} characters (spaces not counted in the minimum).`,
      );
    }
    if (this.status.online === false) {
      return Promise.reject(
        uiError(
          'offline',
          'Emergency access needs a connection to the server, and Wardbook is offline. Use the downtime procedure.',
        ),
      );
    }
    const mrn = request.mrn.trim().toUpperCase();
    const inScope = [...this.charts.values()].find((c) => c.patient.mrn === mrn);
    if (inScope && this.scope.has(inScope.patient.id)) return Promise.resolve(inScope.patient.id);
    const chart = this.outside.get(mrn);
    if (!chart) {
      return Promise.reject(uiError('patient-not-found', 'No patient has this MRN. Check the number and try again.'));
    }
    const minutes = Number(this.settingsState.break_glass_minutes.value ?? 60);
    const now = Date.now();
    this.charts.set(chart.patient.id, chart);
    if (this.sessionState.state === 'active') {
      this.sessionState.session.break_glass.push({
        access_id: newId(),
        patient_id: chart.patient.id,
        started_at: new Date(now).toISOString(),
        expires_at: new Date(now + minutes * 60_000).toISOString(),
      });
    }
    return Promise.resolve(chart.patient.id);
  }
}
