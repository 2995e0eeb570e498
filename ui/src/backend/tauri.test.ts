import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it } from 'vitest';

import { PATIENT_IDS, appInfo, sampleCharts } from './fixtures';
import { chartHeader, summarize } from './memory';
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
      if (cmd === 'census') return charts.map((c) => summarize(chartHeader(c)));
      if (cmd === 'open_chart') return { header: chartHeader(charts[0]!), vitals: [] };
      throw new Error(`unexpected command ${cmd}`);
    });
    const backend = new TauriBackend();

    expect((await backend.appInfo()).synthetic_data).toBe(true);
    expect(await backend.census()).toHaveLength(3);
    expect((await backend.openChart(PATIENT_IDS.high)).header.patient.id).toBe(PATIENT_IDS.high);

    expect(calls.map((c) => c.cmd)).toEqual(['app_info', 'census', 'open_chart']);
    expect(calls[2]?.args).toEqual({ patientId: PATIENT_IDS.high });
  });

  it('maps every Backend method to its snake_case command and contract arguments', async () => {
    const calls: Array<{ cmd: string; args: unknown }> = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      return null;
    });
    const b = new TauriBackend();
    const vitals = { effective_at: null, heart_rate: 72, systolic: null, diastolic: null, respiratory_rate: null, temperature: null, spo2: null };
    const allergyEntry = {
      id: null,
      base_version: null,
      allergen: { system: '', code: '', display: 'Latex' },
      type: 'allergy' as const,
      category: 'environment' as const,
      clinical_status: 'active' as const,
      verification_status: 'unconfirmed' as const,
      criticality: 'low' as const,
      reactions: [],
    };
    const administration = {
      request_id: 'r1',
      due_at: '2025-03-12T08:00:00Z',
      status: 'completed' as const,
      not_given_reason: null,
      dose: null,
      route: null,
      site: null,
      given_at: null,
      witness: null,
      overrides: [{ check: 'allergy' as const, reason: 'Prescriber confirmed: tolerated before' }],
    };
    const review = {
      patient_id: PATIENT_IDS.high,
      request_id: 'r1',
      due_at: '2025-03-12T08:00:00Z',
      administration_ids: ['a1', 'a2'],
      outcome: 'duplicate-record' as const,
      note: 'One dose given; second record typed twice',
    };
    const id = PATIENT_IDS.high;
    const expected: Array<[() => Promise<unknown>, string, unknown]> = [
      [() => b.syncStatus(), 'sync_status', {}],
      [() => b.syncNow(), 'sync_now', {}],
      [() => b.vitalSpecs(), 'vital_specs', {}],
      [() => b.settings(), 'settings', {}],
      [() => b.enroll({ server_url: null, code: 'ABC' }), 'enroll', { request: { server_url: null, code: 'ABC' } }],
      [() => b.session(), 'session', {}],
      [() => b.signIn({ username: 'u', password: 'p' }), 'sign_in', { credentials: { username: 'u', password: 'p' } }],
      [
        () => b.signIn({ username: 'u', password: 'p', provider: 'ad' }),
        'sign_in',
        { credentials: { username: 'u', password: 'p', provider: 'ad' } },
      ],
      [() => b.loginProviders(), 'login_providers', {}],
      [() => b.signInOidc('sso'), 'sign_in_oidc', { provider: 'sso' }],
      [() => b.cancelOidc(), 'cancel_oidc', {}],
      [
        () => b.signInPin({ username: 'u', password: '480213', provider: 'sso' }),
        'sign_in_pin',
        { credentials: { username: 'u', password: '480213', provider: 'sso' } },
      ],
      [() => b.setPin({ pin: '480213', confirm: '480213' }), 'set_pin', { entry: { pin: '480213', confirm: '480213' } }],
      [() => b.unlock('p'), 'unlock', { password: 'p' }],
      [() => b.lock(), 'lock', {}],
      [() => b.signOut(), 'sign_out', {}],
      [() => b.activity(), 'activity', {}],
      [() => b.breakGlass({ mrn: 'SYN-1', reason: 'Cardiac arrest' }), 'break_glass', { request: { mrn: 'SYN-1', reason: 'Cardiac arrest' } }],
      [() => b.census(), 'census', {}],
      [() => b.search('okafor'), 'search', { query: 'okafor' }],
      [() => b.openChart(id), 'open_chart', { patientId: id }],
      [() => b.viewVitals(id), 'view_vitals', { patientId: id }],
      [() => b.viewLabs(id), 'view_labs', { patientId: id }],
      [() => b.viewAllergies(id), 'view_allergies', { patientId: id }],
      [() => b.editsNeedingAttention(), 'edits_needing_attention', {}],
      [() => b.downtimeSummary(id), 'downtime_summary', { patientId: id }],
      [() => b.recordVitals(id, vitals), 'record_vitals', { patientId: id, entry: vitals }],
      [() => b.saveAllergy(id, allergyEntry), 'save_allergy', { patientId: id, entry: allergyEntry }],
      [() => b.markEnteredInError({ observation_id: 'o1', reason: 'wrong patient' }), 'mark_entered_in_error', { request: { observation_id: 'o1', reason: 'wrong patient' } }],
      [() => b.medications(id), 'medications', { patientId: id, windowStart: null, windowEnd: null }],
      [
        () => b.medications(id, '2025-03-12T08:00:00Z', '2025-03-13T08:00:00Z'),
        'medications',
        { patientId: id, windowStart: '2025-03-12T08:00:00Z', windowEnd: '2025-03-13T08:00:00Z' },
      ],
      [() => b.printMar(id, 24), 'print_mar', { patientId: id, hoursAhead: 24 }],
      [() => b.printMar(null, 48), 'print_mar', { patientId: null, hoursAhead: 48 }],
      [() => b.recordAdministration(id, administration), 'record_administration', { patientId: id, entry: administration }],
      [
        () => b.administrationEnteredInError({ administration_id: 'a1', reason: 'wrong patient' }),
        'administration_entered_in_error',
        { request: { administration_id: 'a1', reason: 'wrong patient' } },
      ],
      [() => b.reviewDoubleDose(review), 'review_double_dose', { entry: review }],
      [() => b.reapplyConflict('m1'), 'reapply_conflict', { mutationId: 'm1' }],
      [() => b.discardConflict('m2'), 'discard_conflict', { mutationId: 'm2' }],
    ];
    for (const [run] of expected) await run();
    expect(calls.map((c) => c.cmd)).toEqual(expected.map(([, cmd]) => cmd));
    calls.forEach((c, i) => {
      const want = expected[i]![2];
      // Commands without arguments send none (mockIPC sees undefined or {}).
      expect(c.args ?? {}).toEqual(want);
    });
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
