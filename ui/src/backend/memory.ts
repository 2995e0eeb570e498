// An in-memory Backend for component tests and for running the UI in a plain
// browser during development. It holds charts, derives the census from them
// and records every call, so tests can check that each chart view asked the
// backend (and so was audited) rather than reusing earlier data.

import type { Allergy } from '../generated/Allergy';
import type { AppInfo } from '../generated/AppInfo';
import type { ChartHeader } from '../generated/ChartHeader';
import type { PatientSummary } from '../generated/PatientSummary';
import type { UiError } from '../generated/UiError';
import type { Backend } from './backend';

export type BackendCall =
  | { method: 'appInfo' }
  | { method: 'census' }
  | { method: 'openChart'; patientId: string };

export type BackendMethod = BackendCall['method'];

export interface MemoryBackendOptions {
  appInfo: AppInfo;
  charts: ChartHeader[];
  /** Make a method reject with this error (until `failNext` is changed). */
  failures?: Partial<Record<BackendMethod, UiError>>;
}

/** Counts as in the census: active and not refuted or entered in error. */
export function isCurrentAllergy(allergy: Allergy): boolean {
  return (
    allergy.clinical_status === 'active' &&
    allergy.verification_status !== 'refuted' &&
    allergy.verification_status !== 'entered-in-error'
  );
}

export function summarize(chart: ChartHeader): PatientSummary {
  const { patient, allergies } = chart;
  const current = allergies.filter((a) => !a.deleted && isCurrentAllergy(a));
  return {
    id: patient.id,
    mrn: patient.mrn,
    given_name: patient.given_name,
    family_name: patient.family_name,
    birth_date: patient.birth_date,
    sex: patient.sex,
    location: patient.location,
    active_allergy_count: current.length,
    has_high_criticality_allergy: current.some((a) => a.criticality === 'high'),
    synthetic: patient.synthetic,
  };
}

function copy<T>(value: T): T {
  return structuredClone(value);
}

export class MemoryBackend implements Backend {
  readonly calls: BackendCall[] = [];
  private readonly info: AppInfo;
  private readonly charts: Map<string, ChartHeader>;
  failures: Partial<Record<BackendMethod, UiError>>;

  constructor(options: MemoryBackendOptions) {
    this.info = options.appInfo;
    this.charts = new Map(options.charts.map((c) => [c.patient.id, c]));
    this.failures = { ...options.failures };
  }

  private fail(method: BackendMethod): Promise<never> | undefined {
    const error = this.failures[method];
    return error ? Promise.reject(copy(error)) : undefined;
  }

  appInfo(): Promise<AppInfo> {
    this.calls.push({ method: 'appInfo' });
    return this.fail('appInfo') ?? Promise.resolve(copy(this.info));
  }

  census(): Promise<PatientSummary[]> {
    this.calls.push({ method: 'census' });
    return this.fail('census') ?? Promise.resolve([...this.charts.values()].map(summarize));
  }

  openChart(patientId: string): Promise<ChartHeader> {
    this.calls.push({ method: 'openChart', patientId });
    const failure = this.fail('openChart');
    if (failure) return failure;
    const chart = this.charts.get(patientId);
    if (!chart) {
      const error: UiError = {
        code: 'patient-not-found',
        message: 'This patient is not in this workstation’s records. Return to the census and choose again.',
      };
      return Promise.reject(error);
    }
    return Promise.resolve(copy(chart));
  }

  /** How many times a chart was requested (each request is an audited read). */
  chartOpens(patientId: string): number {
    return this.calls.filter((c) => c.method === 'openChart' && c.patientId === patientId).length;
  }
}
