// An in-memory Backend for component tests and for running the UI in a plain
// browser during development (synthetic data only). It keeps charts, vitals,
// labs, a session and a sync status, derives the census from the charts and
// records every call, so tests can check that each chart view asked the
// backend (and so was audited) rather than reusing earlier data. It enforces
// the session like the Rust core: patient data only while a session is active.

import type { Allergy } from '../generated/Allergy';
import type { AllergyEntry } from '../generated/AllergyEntry';
import type { AllergyRow } from '../generated/AllergyRow';
import { ALLERGY_CURRENT } from '../generated/AllergyCurrent';
import type { AppInfo } from '../generated/AppInfo';
import type { BannerAllergy } from '../generated/BannerAllergy';
import type { BreakGlassRequest } from '../generated/BreakGlassRequest';
import type { ChartHeader } from '../generated/ChartHeader';
import type { Credentials } from '../generated/Credentials';
import type { DowntimeSummary } from '../generated/DowntimeSummary';
import type { EditsNeedingAttention } from '../generated/EditsNeedingAttention';
import type { EnrolRequestUi } from '../generated/EnrolRequestUi';
import type { EnteredInError } from '../generated/EnteredInError';
import type { Observation } from '../generated/Observation';
import type { ObservationRow } from '../generated/ObservationRow';
import type { Patient } from '../generated/Patient';
import type { PatientSummary } from '../generated/PatientSummary';
import type { SessionInfo } from '../generated/SessionInfo';
import type { SessionState } from '../generated/SessionState';
import type { SettingsView } from '../generated/SettingsView';
import type { SyncStatus } from '../generated/SyncStatus';
import type { UiError } from '../generated/UiError';
import type { VitalSpec } from '../generated/VitalSpec';
import type { VitalsEntry } from '../generated/VitalsEntry';
import { reasonProblem } from '../reasonLimits';
import type { Backend } from './backend';

export type BackendMethod = keyof Backend;

export interface BackendCall {
  method: BackendMethod;
  args: unknown[];
  /** Kept for the chart-open checks of earlier tests. */
  patientId?: string;
}

export interface MemoryUser {
  username: string;
  password: string;
  display_name: string;
}

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
  /** Where the session starts (default: signed out). */
  session?: SessionState;
  /** Make a method reject with this error (until `failures` is changed). */
  failures?: Partial<Record<BackendMethod, UiError>>;
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

export function summarize(chart: ChartHeader): PatientSummary {
  const { patient } = chart;
  const current = chart.allergies.filter((a) => a.current).map((a) => a.allergy);
  return {
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

function copy<T>(value: T): T {
  return structuredClone(value);
}

function uiError(code: string, message: string): UiError {
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
]);

let idCounter = 0;
function newId(): string {
  idCounter += 1;
  const hex = (Date.now() + idCounter).toString(16).padStart(12, '0').slice(-12);
  return `0190f5b0-0000-7000-8000-${hex}`;
}

const VITAL_FIELDS: Array<[keyof Omit<VitalsEntry, 'effective_at'>, string]> = [
  ['heart_rate', '8867-4'],
  ['systolic', '8480-6'],
  ['diastolic', '8462-4'],
  ['respiratory_rate', '9279-1'],
  ['temperature', '8310-5'],
  ['spo2', '59408-5'],
];

export class MemoryBackend implements Backend {
  readonly calls: BackendCall[] = [];
  private readonly info: AppInfo;
  private readonly charts: Map<string, ChartRecord>;
  private readonly outside: Map<string, ChartRecord>;
  private readonly scope: Set<string>;
  private readonly vitals: Map<string, ObservationRow[]>;
  private readonly labs: Map<string, ObservationRow[]>;
  private readonly pendingAllergies = new Set<string>();
  private readonly specs: VitalSpec[];
  private readonly users: MemoryUser[];
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
    this.users = options.users ?? [];
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
      },
    );
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
    this.failures = { ...options.failures };
  }

  // ---------------------------------------------------------------- helpers

  private record(method: BackendMethod, ...args: unknown[]): Promise<never> | undefined {
    const call: BackendCall = { method, args };
    if (typeof args[0] === 'string' && PATIENT_METHODS.has(method)) call.patientId = args[0];
    this.calls.push(call);
    const error = this.failures[method];
    return error ? Promise.reject(copy(error)) : undefined;
  }

  /** Rejects unless a session is active (as the Rust core does for PHI). */
  private guard(): Promise<never> | undefined {
    if (this.sessionState.state === 'signed_out') return Promise.reject(copy(SIGNED_OUT));
    if (this.sessionState.state === 'locked') return Promise.reject(copy(LOCKED));
    return undefined;
  }

  private chart(patientId: string): ChartRecord | undefined {
    return this.charts.get(patientId);
  }

  private notFound(): Promise<never> {
    return Promise.reject(
      uiError(
        'patient-not-found',
        'This patient is not in this workstation’s records. Return to the census and choose again.',
      ),
    );
  }

  private invalid(message: string): Promise<never> {
    return Promise.reject(uiError('invalid', message));
  }

  private user(): string {
    return this.sessionState.state === 'active' ? this.sessionState.session.user_id : 'unknown';
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

  unlock(password: string): Promise<SessionInfo> {
    const failed = this.record('unlock');
    if (failed) return failed;
    const state = this.sessionState;
    if (state.state !== 'locked') {
      return Promise.reject(uiError('not-locked', 'The session is not locked.'));
    }
    const user = this.users.find((u) => u.username === state.user_id);
    if (!user || user.password !== password) {
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
      this.sessionState = { state: 'locked', user_id: state.session.user_id, display_name: state.session.display_name };
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

  // ---------------------------------------------------------------- audited reads

  census(): Promise<PatientSummary[]> {
    const failed = this.record('census') ?? this.guard();
    if (failed) return failed;
    return Promise.resolve(
      [...this.charts.values()]
        .filter((c) => this.scope.has(c.patient.id))
        .map((c) => summarize(chartHeader(c)))
        .sort(compareCensus),
    );
  }

  search(query: string): Promise<PatientSummary[]> {
    const failed = this.record('search', query) ?? this.guard();
    if (failed) return failed;
    const q = query.trim().toLocaleLowerCase();
    if (q.length === 0) return Promise.resolve([]);
    const words = q.split(/[\s,]+/).filter(Boolean);
    const found = [...this.charts.values()]
      .filter((c) => this.scope.has(c.patient.id))
      .filter(({ patient: p }) => {
        if (p.mrn.toLocaleLowerCase().includes(q) || p.birth_date === q) return true;
        const name = `${p.given_name} ${p.family_name}`.toLocaleLowerCase();
        return words.every((w) => name.includes(w));
      })
      .map((c) => summarize(chartHeader(c)));
    return Promise.resolve(found);
  }

  openChart(patientId: string): Promise<ChartHeader> {
    const failed = this.record('openChart', patientId) ?? this.guard();
    if (failed) return failed;
    const chart = this.chart(patientId);
    if (!chart) return this.notFound();
    return Promise.resolve(copy(chartHeader(chart)));
  }

  viewVitals(patientId: string): Promise<ObservationRow[]> {
    const failed = this.record('viewVitals', patientId) ?? this.guard();
    if (failed) return failed;
    if (!this.chart(patientId)) return this.notFound();
    return Promise.resolve(copy(this.vitals.get(patientId) ?? []));
  }

  viewLabs(patientId: string): Promise<ObservationRow[]> {
    const failed = this.record('viewLabs', patientId) ?? this.guard();
    if (failed) return failed;
    if (!this.chart(patientId)) return this.notFound();
    return Promise.resolve(copy(this.labs.get(patientId) ?? []));
  }

  viewAllergies(patientId: string): Promise<AllergyRow[]> {
    const failed = this.record('viewAllergies', patientId) ?? this.guard();
    if (failed) return failed;
    const chart = this.chart(patientId);
    if (!chart) return this.notFound();
    return Promise.resolve(
      chart.allergies
        .filter((a) => !a.deleted)
        .map((a) => ({ allergy: copy(a), pending: this.pendingAllergies.has(a.id), current: isCurrent(a) })),
    );
  }

  editsNeedingAttention(): Promise<EditsNeedingAttention> {
    const failed = this.record('editsNeedingAttention') ?? this.guard();
    if (failed) return failed;
    return Promise.resolve(copy(this.edits));
  }

  downtimeSummary(patientId: string): Promise<DowntimeSummary> {
    const failed = this.record('downtimeSummary', patientId) ?? this.guard();
    if (failed) return failed;
    const chart = this.chart(patientId);
    if (!chart) return this.notFound();
    const since = Date.now() - 24 * 3_600_000;
    const vitals = (this.vitals.get(patientId) ?? [])
      .map((r) => r.observation)
      .filter((o) => Date.parse(o.effective_at) >= since);
    const labs = this.labs.get(patientId) ?? [];
    const latest = labs[0]?.observation.effective_at;
    const recentLabs = labs.map((r) => r.observation).filter((o) => o.effective_at === latest);
    const displayName = this.sessionState.state === 'active' ? this.sessionState.session.display_name : 'unknown';
    return Promise.resolve(
      copy({
        header: chartHeader(chart),
        vitals,
        labs: recentLabs,
        problems: [],
        generated_at: new Date().toISOString(),
        generated_by: displayName,
        data_as_of: this.status.data_as_of,
      }),
    );
  }

  // ---------------------------------------------------------------- recording

  recordVitals(patientId: string, entry: VitalsEntry): Promise<ObservationRow[]> {
    const failed = this.record('recordVitals', patientId, entry) ?? this.guard();
    if (failed) return failed;
    if (!this.chart(patientId)) return this.notFound();
    const effective = entry.effective_at ?? new Date().toISOString();
    const created: ObservationRow[] = [];
    for (const [field, loinc] of VITAL_FIELDS) {
      const value = entry[field];
      if (value === null) continue;
      const spec = this.specs.find((s) => s.loinc === loinc);
      if (!spec) continue;
      if (!Number.isFinite(value)) return this.invalid('value must be a finite number');
      if (value < spec.min || value > spec.max) {
        return this.invalid(
          `${spec.name} (LOINC ${spec.loinc}) must be between ${spec.min} and ${spec.max} ${spec.ucum}`,
        );
      }
      const band = spec.normal_low > spec.min || spec.normal_high < spec.max;
      const observation: Observation = {
        id: newId(),
        version: 0,
        updated_at: effective,
        deleted: false,
        synthetic: this.chart(patientId)?.patient.synthetic ?? false,
        patient_id: patientId,
        category: 'vital-signs',
        code: { system: 'http://loinc.org', code: spec.loinc, display: spec.display },
        panel: null,
        value: { kind: 'quantity', value, unit: spec.ucum },
        reference_range: band ? { low: spec.normal_low, high: spec.normal_high, unit: spec.ucum } : null,
        interpretation: band ? (value > spec.normal_high ? 'H' : value < spec.normal_low ? 'L' : 'N') : null,
        status: 'final',
        effective_at: effective,
        recorded_by: this.user(),
      };
      created.push({ observation, pending: true });
    }
    if (created.length === 0) return this.invalid('Enter at least one vital sign.');
    const rows = this.vitals.get(patientId) ?? [];
    this.vitals.set(patientId, [...created, ...rows]);
    this.pend(created.length);
    return Promise.resolve(copy(created));
  }

  saveAllergy(patientId: string, entry: AllergyEntry): Promise<AllergyRow> {
    const failed = this.record('saveAllergy', patientId, entry) ?? this.guard();
    if (failed) return failed;
    const chart = this.chart(patientId);
    if (!chart) return this.notFound();
    if (entry.allergen.display.trim().length === 0) return this.invalid('Enter the allergen.');
    if (entry.reactions.some((r) => r.manifestation.display.trim().length === 0)) {
      return this.invalid('Every reaction needs a manifestation.');
    }
    const now = new Date().toISOString();
    let allergy: Allergy;
    if (entry.id) {
      const existing = chart.allergies.find((a) => a.id === entry.id);
      if (!existing) return this.invalid('This allergy is no longer in the chart.');
      allergy = {
        ...existing,
        allergen: entry.allergen,
        type: entry.type,
        category: entry.category,
        clinical_status: entry.clinical_status,
        verification_status: entry.verification_status,
        criticality: entry.criticality,
        reactions: entry.reactions,
        updated_at: now,
        recorded_by: this.user(),
      };
      chart.allergies = chart.allergies.map((a) => (a.id === allergy.id ? allergy : a));
    } else {
      allergy = {
        id: newId(),
        version: 0,
        updated_at: now,
        deleted: false,
        synthetic: chart.patient.synthetic,
        patient_id: patientId,
        allergen: entry.allergen,
        type: entry.type,
        category: entry.category,
        clinical_status: entry.clinical_status,
        verification_status: entry.verification_status,
        criticality: entry.criticality,
        reactions: entry.reactions,
        recorded_at: now,
        recorded_by: this.user(),
      };
      chart.allergies = [...chart.allergies, allergy];
    }
    this.pendingAllergies.add(allergy.id);
    this.pend(1);
    return Promise.resolve({ allergy: copy(allergy), pending: true, current: isCurrent(allergy) });
  }

  markEnteredInError(request: EnteredInError): Promise<ObservationRow> {
    const failed = this.record('markEnteredInError', request) ?? this.guard();
    if (failed) return failed;
    if (request.reason.trim().length === 0) return this.invalid('Give the reason the entry is in error.');
    for (const rows of [...this.vitals.values(), ...this.labs.values()]) {
      const row = rows.find((r) => r.observation.id === request.observation_id);
      if (row) {
        row.observation.status = 'entered-in-error';
        row.observation.updated_at = new Date().toISOString();
        row.pending = true;
        this.pend(1);
        return Promise.resolve(copy(row));
      }
    }
    return this.invalid('This observation is no longer in the chart.');
  }

  reapplyConflict(mutationId: string): Promise<void> {
    const failed = this.record('reapplyConflict', mutationId) ?? this.guard() ?? this.removeConflict(mutationId);
    if (failed) return failed;
    this.pend(1);
    return Promise.resolve();
  }

  discardConflict(mutationId: string): Promise<void> {
    const failed = this.record('discardConflict', mutationId) ?? this.guard() ?? this.removeConflict(mutationId);
    return failed ?? Promise.resolve();
  }

  /** Takes a conflict off the list; a rejection when it was not there. */
  private removeConflict(mutationId: string): Promise<never> | undefined {
    const before = this.edits.conflicts.length;
    this.edits.conflicts = this.edits.conflicts.filter((c) => c.mutation_id !== mutationId);
    this.status.conflicts = this.edits.conflicts.length;
    return this.edits.conflicts.length === before
      ? Promise.reject(uiError('conflict-not-found', 'This conflict was already resolved.'))
      : undefined;
  }

  /** One edit of `records` records waiting for the server, as the status bar counts it. */
  private pend(records: number): void {
    this.status.pending_edits += records;
    this.status.pending_entries += 1;
  }
}
