// The Backend over Tauri IPC. Command names and argument names are the
// contract with src-tauri/commands/ (Tauri maps `patientId` to the Rust
// parameter `patient_id`).

import { invoke, type InvokeArgs } from '@tauri-apps/api/core';

import type { AppInfo } from '../generated/AppInfo';
import type { ChartHeader } from '../generated/ChartHeader';
import type { PatientSummary } from '../generated/PatientSummary';
import { toUiError, type Backend } from './backend';

async function call<T>(command: string, args?: InvokeArgs): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toUiError(error);
  }
}

export class TauriBackend implements Backend {
  appInfo(): Promise<AppInfo> {
    return call<AppInfo>('app_info');
  }

  census(): Promise<PatientSummary[]> {
    return call<PatientSummary[]>('census');
  }

  openChart(patientId: string): Promise<ChartHeader> {
    return call<ChartHeader>('open_chart', { patientId });
  }
}
