// The UI's only door to patient data. Components receive a `Backend` from
// context and never call Tauri directly, so they can be tested against the
// in-memory implementation (the pattern GitButler uses for its desktop UI).
//
// Every method that returns PHI is audited on the Rust side before the data
// is returned. The UI therefore never caches chart data: showing a chart
// means calling `openChart` again.

import type { AppInfo } from '../generated/AppInfo';
import type { ChartHeader } from '../generated/ChartHeader';
import type { PatientSummary } from '../generated/PatientSummary';
import type { UiError } from '../generated/UiError';

export interface Backend {
  /** Facts for the frame: version, environment, synthetic data, user. */
  appInfo(): Promise<AppInfo>;
  /** The patients of this workstation's ward(s). Audited as a list view. */
  census(): Promise<PatientSummary[]>;
  /** The chart header and allergies of one patient. Audited as a chart open. */
  openChart(patientId: string): Promise<ChartHeader>;
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
