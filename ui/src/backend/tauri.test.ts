import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it } from 'vitest';

import { PATIENT_IDS, appInfo, sampleCharts } from './fixtures';
import { summarize } from './memory';
import { TauriBackend } from './tauri';

// The IPC contract with src-tauri/commands/: command names, argument names
// and how rejections reach the UI.
describe('TauriBackend', () => {
  afterEach(() => clearMocks());

  it('calls app_info, census and open_chart with the contract argument names', async () => {
    const calls: Array<{ cmd: string; args: unknown }> = [];
    const charts = sampleCharts();
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      if (cmd === 'app_info') return appInfo();
      if (cmd === 'census') return charts.map(summarize);
      if (cmd === 'open_chart') return charts[0];
      throw new Error(`unexpected command ${cmd}`);
    });
    const backend = new TauriBackend();

    expect((await backend.appInfo()).synthetic_data).toBe(true);
    expect(await backend.census()).toHaveLength(3);
    expect((await backend.openChart(PATIENT_IDS.high)).patient.id).toBe(PATIENT_IDS.high);

    expect(calls.map((c) => c.cmd)).toEqual(['app_info', 'census', 'open_chart']);
    expect(calls[2]?.args).toEqual({ patientId: PATIENT_IDS.high });
  });

  it('rejects with the UiError the command returned', async () => {
    mockIPC(() => {
      throw { code: 'patient-not-found', message: 'This patient is not on this workstation.' };
    });
    await expect(new TauriBackend().openChart(PATIENT_IDS.none)).rejects.toEqual({
      code: 'patient-not-found',
      message: 'This patient is not on this workstation.',
    });
  });

  it('wraps a plain string rejection as a UiError', async () => {
    mockIPC(() => {
      throw 'command open_chart not found';
    });
    await expect(new TauriBackend().openChart(PATIENT_IDS.none)).rejects.toEqual({
      code: 'unexpected',
      message: 'command open_chart not found',
    });
  });
});
