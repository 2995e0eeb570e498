// An in-memory Backend for component tests and for running the UI in a plain
// browser during development (synthetic data only). It keeps charts, vitals,
// labs, a session and a sync status, derives the census from the charts and
// records every call, so tests can check that each chart view asked the
// backend (and so was audited) rather than reusing earlier data. It enforces
// the session like the Rust core: patient data only while a session is active.
// The state, the frame and sessions live in memoryStore.ts, medication
// orders and the MAR in memoryMedications.ts.

import type { AccessReport } from '../generated/AccessReport';
import type { AccessReportQuery } from '../generated/AccessReportQuery';
import type { AdministrationEntry } from '../generated/AdministrationEntry';
import type { AdministrationInError } from '../generated/AdministrationInError';
import type { AdministrationRow } from '../generated/AdministrationRow';
import type { Allergy } from '../generated/Allergy';
import type { AllergyEntry } from '../generated/AllergyEntry';
import type { AllergyRow } from '../generated/AllergyRow';
import type { AuditChainStatus } from '../generated/AuditChainStatus';
import type { BreakGlassAccess } from '../generated/BreakGlassAccess';
import type { BreakGlassQueue } from '../generated/BreakGlassQueue';
import type { BreakGlassReviewRequest } from '../generated/BreakGlassReviewRequest';
import type { DowntimeSummary } from '../generated/DowntimeSummary';
import type { EditsNeedingAttention } from '../generated/EditsNeedingAttention';
import type { DoseReviewEntry } from '../generated/DoseReviewEntry';
import type { EnteredInError } from '../generated/EnteredInError';
import type { ExportedFile } from '../generated/ExportedFile';
import type { ExportFormat } from '../generated/ExportFormat';
import type { MarPrint } from '../generated/MarPrint';
import type { MedicationsView } from '../generated/MedicationsView';
import type { Observation } from '../generated/Observation';
import type { ObservationRow } from '../generated/ObservationRow';
import type { OpenedChart } from '../generated/OpenedChart';
import type { PatientSummary } from '../generated/PatientSummary';
import type { PrivacyAccess } from '../generated/PrivacyAccess';
import type { QueueFilter } from '../generated/QueueFilter';
import type { RecordAdministrationOutcome } from '../generated/RecordAdministrationOutcome';
import type { VitalsEntry } from '../generated/VitalsEntry';
import type { Backend } from './backend';
import { chartHeader, compareCensus, isCurrent, summarize, type ChartRecord } from './memoryCharts';
import { copy, MemoryStore, newId, TIME_ZONE, uiError } from './memoryStore';
import { settle } from './memoryPrivacy';

export { bannerAllergy, chartHeader, compareBeds, compareCensus, isCurrent, summarize, type ChartRecord } from './memoryCharts';
export { MemoryStore, type BackendCall, type BackendMethod, type MemoryBackendOptions, type MemoryUser } from './memoryStore';

const VITAL_FIELDS: Array<[keyof Omit<VitalsEntry, 'effective_at' | 'on_oxygen' | 'consciousness'>, string]> = [
  ['heart_rate', '8867-4'],
  ['systolic', '8480-6'],
  ['diastolic', '8462-4'],
  ['respiratory_rate', '9279-1'],
  ['temperature', '8310-5'],
  ['spo2', '59408-5'],
];

export class MemoryBackend extends MemoryStore implements Backend {
  // ---------------------------------------------------------------- audited reads

  census(): Promise<PatientSummary[]> {
    const failed = this.record('census') ?? this.guard();
    if (failed) return failed;
    return Promise.resolve(
      [...this.charts.values()]
        .filter((c) => this.scope.has(c.patient.id))
        .map((c) => this.summary(c))
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
      .map((c) => this.summary(c));
    return Promise.resolve(found);
  }

  openChart(patientId: string): Promise<OpenedChart> {
    const failed = this.record('openChart', patientId) ?? this.guard();
    if (failed) return failed;
    const chart = this.chart(patientId);
    if (!chart) return this.notFound();
    return Promise.resolve(copy({ header: chartHeader(chart), vitals: this.vitals.get(patientId) ?? [] }));
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
        medications: this.meds.currentOrders(patientId),
        generated_at: new Date().toISOString(),
        generated_by: displayName,
        data_as_of: this.status.data_as_of,
      }),
    );
  }

  medications(patientId: string, windowStart: string | null = null, windowEnd: string | null = null): Promise<MedicationsView> {
    const failed = this.record('medications', patientId, windowStart, windowEnd) ?? this.guard();
    if (failed) return failed;
    if (!this.chart(patientId)) return this.notFound();
    const now = Date.now();
    const start = windowStart ? Date.parse(windowStart) : now - 24 * 3_600_000;
    const end = windowEnd ? Date.parse(windowEnd) : now + 24 * 3_600_000;
    if (!(start < end)) return this.invalid('The window must end after it starts.');
    return Promise.resolve(this.meds.view(patientId, start, end, now, TIME_ZONE));
  }

  printMar(patientId: string | null, hoursAhead: number): Promise<MarPrint> {
    const failed = this.record('printMar', patientId, hoursAhead) ?? this.guard();
    if (failed) return failed;
    if (hoursAhead !== 24 && hoursAhead !== 48) return this.invalid('Print 24 or 48 hours ahead.');
    const now = Date.now();
    let charts: ChartRecord[];
    if (patientId === null) {
      charts = [...this.charts.values()]
        .filter((c) => this.scope.has(c.patient.id))
        .sort((a, b) => compareCensus(summarize(chartHeader(a)), summarize(chartHeader(b))));
    } else {
      const chart = this.chart(patientId);
      if (!chart) return this.notFound();
      charts = [chart];
    }
    const window: [number, number] = [now - 24 * 3_600_000, now + hoursAhead * 3_600_000];
    return Promise.resolve({
      printed_at: new Date(now).toISOString(),
      hours_ahead: hoursAhead,
      pages: charts.map((c) => ({
        header: copy(chartHeader(c)),
        medications: this.meds.view(c.patient.id, window[0], window[1], now, TIME_ZONE),
      })),
    });
  }

  // ---------------------------------------------------------------- recording

  recordAdministration(patientId: string, entry: AdministrationEntry): Promise<RecordAdministrationOutcome> {
    const failed = this.record('recordAdministration', patientId, entry) ?? this.guard();
    if (failed) return failed;
    if (!this.chart(patientId)) return this.notFound();
    const outcome = this.meds.record(patientId, copy(entry), this.user(), newId, Date.now());
    if (typeof outcome === 'string') return this.invalid(outcome);
    if (outcome.outcome === 'saved') {
      this.pend(1);
      this.status.double_dose_patients = this.meds.doubleDosePatients(this.scope);
    }
    return Promise.resolve(outcome);
  }

  administrationEnteredInError(request: AdministrationInError): Promise<AdministrationRow> {
    const failed = this.record('administrationEnteredInError', request) ?? this.guard();
    if (failed) return failed;
    if (request.reason.trim().length === 0) return this.invalid('Give the reason the record is in error.');
    const row = this.meds.enteredInError(request, Date.now());
    if (!row) return this.invalid('This administration is no longer in the chart.');
    this.pend(1);
    this.status.double_dose_patients = this.meds.doubleDosePatients(this.scope);
    return Promise.resolve(row);
  }

  reviewDoubleDose(entry: DoseReviewEntry): Promise<void> {
    const failed = this.record('reviewDoubleDose', entry) ?? this.guard();
    if (failed) return failed;
    if (entry.note.trim().length === 0) return this.invalid('Write what was found and done in the review note.');
    if (!this.meds.review(entry, this.user(), newId, Date.now())) {
      return this.invalid('These records are no longer in the chart.');
    }
    this.pend(1);
    this.status.double_dose_patients = this.meds.doubleDosePatients(this.scope);
    return Promise.resolve();
  }


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

  // ---------------------------------------------------------------- the privacy workspace

  privacyAccess(): Promise<PrivacyAccess> {
    const failed = this.record('privacyAccess') ?? this.guard() ?? this.online();
    return failed ?? Promise.resolve(this.privacy.access(this.user()));
  }

  accessReport(query: AccessReportQuery): Promise<AccessReport> {
    const failed = this.record('accessReport', query) ?? this.officer();
    return failed ?? settle(this.privacy.report(query));
  }

  printAccessReport(query: AccessReportQuery): Promise<AccessReport> {
    const failed = this.record('printAccessReport', query) ?? this.officer();
    return failed ?? settle(this.privacy.report({ ...query, page: 1, page_size: 500 }));
  }

  exportAccessReport(query: AccessReportQuery, format: ExportFormat): Promise<ExportedFile> {
    const failed = this.record('exportAccessReport', query, format) ?? this.officer();
    if (failed) return failed;
    const answer = this.privacy.report({ ...query, page: 1, page_size: 500 });
    if ('error' in answer) return Promise.reject(answer.error);
    const report = answer.value;
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const path = `${this.settingsState.data_dir.value ?? '/tmp'}/exports/wardbook-access-report-${stamp}.${format === 'csv' ? 'csv' : 'json'}`;
    return Promise.resolve({ path, format, events: report.total });
  }

  breakGlassQueue(filter: QueueFilter): Promise<BreakGlassQueue> {
    const failed = this.record('breakGlassQueue', filter) ?? this.officer();
    return failed ?? Promise.resolve(this.privacy.queue(filter));
  }

  reviewBreakGlass(accessId: string, review: BreakGlassReviewRequest): Promise<BreakGlassAccess> {
    const failed = this.record('reviewBreakGlass', accessId, review) ?? this.officer();
    return failed ?? settle(this.privacy.review(accessId, review, this.privacy.user(this.user()), new Date()));
  }

  auditChains(): Promise<AuditChainStatus> {
    const failed = this.record('auditChains') ?? this.officer();
    return failed ?? Promise.resolve(this.privacy.chains(new Date()));
  }

  /** Rejects when the session or the service cannot serve the workspace (as the core does). */
  private online(): Promise<never> | undefined {
    const offline = this.status.online === false || (this.sessionState.state === 'active' && this.sessionState.session.mode === 'offline');
    return offline
      ? Promise.reject(
          uiError(
            'needs_service',
            'The privacy workspace needs the sync service, which cannot be reached (or this session started offline). Reconnect, then sign in online and try again.',
          ),
        )
      : undefined;
  }

  private officer(): Promise<never> | undefined {
    const failed = this.guard() ?? this.online();
    if (failed) return failed;
    return this.privacy.roles(this.user()).includes('privacy_officer')
      ? undefined
      : Promise.reject(
          uiError('not_privacy_officer', 'Your account does not hold the privacy officer role, so the privacy workspace is not available.'),
        );
  }

  /** One edit of `records` records waiting for the server, as the status bar counts it. */
  private pend(records: number): void {
    this.status.pending_edits += records;
    this.status.pending_entries += 1;
  }
}

