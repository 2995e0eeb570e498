import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import { PATIENT_IDS, sampleBackend } from '../backend/fixtures';
import type { AdministrationEntry } from '../generated/AdministrationEntry';
import type { AdministrationRow } from '../generated/AdministrationRow';
import type { MarOrder } from '../generated/MarOrder';
import type { MedicationRequest } from '../generated/MedicationRequest';
import type { MedicationsView } from '../generated/MedicationsView';
import { formatTiming } from '../medications';
import { renderWith } from '../test/render';
import { MedicationsTab } from './MedicationsTab';

const PATIENT = PATIENT_IDS.high;

function request(id: string, overrides: Partial<MedicationRequest>): MedicationRequest {
  return {
    id,
    version: 1,
    updated_at: '2025-03-10T08:00:00Z',
    deleted: false,
    synthetic: true,
    patient_id: PATIENT,
    medication: { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: id, display: `Drug ${id}` },
    ingredients: [],
    generic_name: null,
    strength: null,
    dose: { value: 25, unit: 'mg' },
    route: { system: 'http://snomed.info/sct', code: '26643006', display: 'Oral' },
    timing: { kind: 'once' },
    start: '2025-03-10T08:00:00Z',
    end: null,
    status: 'active',
    prescriber: 'Dr Synthetic',
    indication: null,
    instructions: null,
    high_alert: false,
    ...overrides,
  };
}

function given(id: string, requestId: string, dueAt: string | null, givenAt: string, pending = false, extra: Partial<AdministrationRow['administration']> = {}): AdministrationRow {
  return {
    pending,
    administration: {
      id,
      version: 1,
      updated_at: givenAt,
      deleted: false,
      synthetic: true,
      patient_id: PATIENT,
      request_id: requestId,
      due_at: dueAt,
      status: 'completed',
      not_given_reason: null,
      dose: { value: 25, unit: 'mg' },
      route: null,
      site: null,
      given_at: givenAt,
      performer: 'dev-clinician',
      witness: null,
      overrides: [],
      error_reason: null,
      recorded_at: givenAt,
      ...extra,
    },
  };
}

/** A view as the core sends it: every slot state, a PRN order, a stopped order; in UTC. */
function view(): MedicationsView {
  const metoprolol = request('metoprolol', {
    medication: { system: 'x', code: 'm', display: 'Metoprolol 25 mg tablet' },
    generic_name: 'metoprolol',
    timing: { kind: 'fixed_times', times: ['08:00:00', '20:00:00'] },
    instructions: 'Hold if heart rate below 55.',
  });
  const ceftriaxone = request('ceftriaxone', {
    medication: { system: 'x', code: 'c', display: 'Ceftriaxone 1 g injection' },
    dose: { value: 1, unit: 'g' },
    timing: { kind: 'every_hours', hours: 6 },
  });
  const insulin = request('insulin', {
    medication: { system: 'x', code: 'i', display: 'Insulin glargine 100 units/mL' },
    dose: { value: 10, unit: '[iU]' },
    timing: { kind: 'times_per_day', count: 3 },
    high_alert: true,
    prescriber: 'Dr K. Adeyemi (synthetic)',
  });
  const paracetamol = request('paracetamol', {
    medication: { system: 'x', code: 'p', display: 'Paracetamol 500 mg tablet' },
    dose: { value: 1, unit: 'g' },
    timing: { kind: 'prn', min_interval_minutes: 240, max_daily_dose: 4 },
  });
  const omeprazole = request('omeprazole', {
    medication: { system: 'x', code: 'o', display: 'Omeprazole 20 mg capsule' },
    status: 'stopped',
  });
  const line = (order: MedicationRequest, rest: Partial<MarOrder>): MarOrder => ({ order, slots: [], prn: null, administrations: [], ...rest });
  return {
    patient_id: PATIENT,
    window_start: '2025-03-11T10:00:00Z',
    window_end: '2025-03-13T10:00:00Z',
    now: '2025-03-12T10:00:00Z',
    time_zone: 'UTC',
    orders: [
      line(ceftriaxone, {
        slots: [
          { due_at: '2025-03-12T04:00:00Z', state: 'overdue', not_given_reason: null, administration_ids: [] },
          { due_at: '2025-03-12T10:00:00Z', state: 'due-now', not_given_reason: null, administration_ids: [] },
          { due_at: '2025-03-12T16:00:00Z', state: 'future', not_given_reason: null, administration_ids: [] },
        ],
      }),
      line(insulin, {
        slots: [{ due_at: '2025-03-12T08:00:00Z', state: 'given', not_given_reason: null, administration_ids: ['a3'] }],
        administrations: [given('a3', 'insulin', '2025-03-12T08:00:00Z', '2025-03-12T08:10:00Z', true, { witness: 'nurse-b' })],
      }),
      line(metoprolol, {
        slots: [
          { due_at: '2025-03-11T20:00:00Z', state: 'given', not_given_reason: null, administration_ids: ['a1'] },
          { due_at: '2025-03-12T08:00:00Z', state: 'not-given', not_given_reason: 'refused', administration_ids: ['a2'] },
        ],
        administrations: [
          given('a2', 'metoprolol', '2025-03-12T08:00:00Z', '2025-03-12T08:05:00Z', false, { status: 'not-done', not_given_reason: 'refused', dose: null }),
          given('a1', 'metoprolol', '2025-03-11T20:00:00Z', '2025-03-11T20:05:00Z'),
        ],
      }),
      line(paracetamol, {
        prn: {
          last_given_at: '2025-03-12T08:30:00Z',
          minutes_since_last: 90,
          doses_last_24h: 2,
          total_last_24h: 2,
          unit: 'g',
          next_allowed_at: '2025-03-12T12:30:00Z',
        },
        administrations: [given('a4', 'paracetamol', null, '2025-03-12T08:30:00Z'), given('a5', 'paracetamol', null, '2025-03-12T01:00:00Z')],
      }),
      line(omeprazole, {}),
    ],
    double_doses: [],
  };
}

function slot(orderId: string | null, state: string): HTMLElement {
  const found = screen
    .getAllByTestId('mar-slot')
    .find((s) => s.dataset['state'] === state && (orderId === null || s.dataset['orderId'] === orderId));
  if (!found) throw new Error(`no ${state} slot for ${orderId}`);
  return found;
}

describe('timing in words', () => {
  it('says each timing form as a drug chart does', () => {
    expect(formatTiming({ kind: 'fixed_times', times: ['08:00:00', '20:00:00'] })).toBe('08:00, 20:00');
    expect(formatTiming({ kind: 'every_hours', hours: 6 })).toBe('every 6 hours');
    expect(formatTiming({ kind: 'times_per_day', count: 3 })).toBe('3 times a day');
    expect(formatTiming({ kind: 'times_per_day', count: 2 })).toBe('twice a day');
    expect(formatTiming({ kind: 'once' })).toBe('once');
    expect(formatTiming({ kind: 'prn', min_interval_minutes: 240, max_daily_dose: 4 }, 'g')).toBe('as needed, at least 4 h apart, max 4 g/24 h');
    expect(formatTiming({ kind: 'prn', min_interval_minutes: 90, max_daily_dose: null })).toBe('as needed, at least 1 h 30 min apart');
  });
});

describe('MedicationsTab', () => {
  it('shows the current orders and each slot state from the view, in words and icons', async () => {
    const backend = sampleBackend();
    vi.spyOn(backend, 'medications').mockResolvedValue(view());
    renderWith(backend, <MedicationsTab patientId={PATIENT} />);
    const orders = await screen.findByTestId('medication-orders');
    const rows = within(orders).getAllByTestId('medication-order');
    expect(rows.map((r) => r.dataset['orderId'])).toEqual(['ceftriaxone', 'insulin', 'metoprolol', 'paracetamol']);
    const metoprolol = rows[2]!;
    expect(metoprolol).toHaveTextContent('Metoprolol 25 mg tablet');
    expect(metoprolol).toHaveTextContent('metoprolol');
    expect(within(metoprolol).getByTestId('order-timing')).toHaveTextContent('08:00, 20:00');
    expect(metoprolol).toHaveTextContent('Active');
    expect(metoprolol).toHaveTextContent('Dr Synthetic');
    expect(metoprolol).toHaveTextContent('Hold if heart rate below 55.');
    expect(within(rows[0]!).getByTestId('order-timing')).toHaveTextContent('every 6 hours');
    expect(within(rows[1]!).getByTestId('order-timing')).toHaveTextContent('3 times a day');
    expect(within(rows[1]!).getByTestId('high-alert')).toHaveTextContent('High-alert');
    expect(within(rows[3]!).getByTestId('order-timing')).toHaveTextContent('as needed, at least 4 h apart, max 4 g/24 h');
    // The stopped order is listed apart.
    expect(within(screen.getByTestId('other-orders')).getByTestId('medication-order')).toHaveAttribute('data-status', 'stopped');

    const grid = screen.getByTestId('mar-grid');
    // One column per due time: 20:00, 04:00, 08:00, 10:00, 16:00.
    expect(within(grid).getAllByRole('columnheader').map((h) => h.textContent)).toEqual([
      'Medication',
      'Tue 11 Mar',
      'Wed 12 Mar',
      '20:00',
      '04:00',
      '08:00',
      '10:00',
      '16:00',
    ]);
    expect(slot('ceftriaxone', 'overdue')).toHaveTextContent('⚠ Overdue');
    expect(slot('ceftriaxone', 'due-now')).toHaveTextContent('● Due now');
    expect(slot('ceftriaxone', 'future')).toHaveTextContent('○ Due');
    expect(slot('metoprolol', 'given')).toHaveTextContent('✓ Given20:05');
    expect(slot('metoprolol', 'not-given')).toHaveTextContent('✗ Not givenRefused');
    expect(slot('metoprolol', 'not-given')).toHaveAccessibleName(/Metoprolol 25 mg tablet, due Wed 12 Mar 08:00: Not given, Refused/);
    // Saved on this workstation, not yet confirmed by the server.
    const pending = slot('insulin', 'given');
    expect(pending).toHaveAttribute('data-pending', 'true');
    expect(within(pending).getByTestId('slot-pending')).toHaveTextContent('Pending');
    expect(slot('metoprolol', 'given')).toHaveAttribute('data-pending', 'false');

    const prn = screen.getByTestId('prn-order');
    expect(within(prn).getByTestId('prn-last')).toHaveTextContent('Wed 12 Mar 08:30 (1 h 30 min ago)');
    expect(within(prn).getByTestId('prn-24h')).toHaveTextContent('2 doses, 2 g');
    expect(within(prn).getByTestId('prn-next')).toHaveTextContent('Not before Wed 12 Mar 12:30');
    expect(screen.queryByTestId('double-dose-banner')).not.toBeInTheDocument();
  });

  it('asks the core for the chosen window', async () => {
    const backend = sampleBackend();
    const { user } = renderWith(backend, <MedicationsTab patientId={PATIENT} />);
    await screen.findByTestId('mar-grid');
    expect(backend.calls.filter((c) => c.method === 'medications').map((c) => c.args.slice(1))).toEqual([[null, null]]);
    await user.selectOptions(screen.getByTestId('mar-window'), 'ahead48');
    await waitFor(() => expect(backend.count('medications')).toBe(2));
    const [, start, end] = backend.calls.filter((c) => c.method === 'medications')[1]!.args as [string, string, string];
    expect((Date.parse(end) - Date.parse(start)) / 3_600_000).toBe(73);
  });

  it('records a dose that fails a check: the findings in words, a reason each, then the override; pending until synced', async () => {
    const backend = sampleBackend();
    const { user } = renderWith(backend, <MedicationsTab patientId={PATIENT} />);
    await screen.findByTestId('mar-grid');
    // Amoxicillin, due now, for a patient with anaphylaxis to penicillin.
    await user.click(slot(null, 'due-now'));
    const form = screen.getByTestId('record-dose');
    expect(within(form).queryByTestId('dose-witness')).not.toBeInTheDocument();
    expect(within(form).getByTestId('dose-value')).toHaveValue('500');
    await user.click(within(form).getByTestId('record-dose-submit'));

    const finding = await screen.findByTestId('check-finding');
    expect(finding).toHaveAttribute('data-check', 'allergy');
    expect(finding).toHaveTextContent('The patient has a recorded allergy to Penicillin G');
    expect(backend.count('recordAdministration')).toBe(1);
    expect(backend.status.pending_entries).toBe(0);

    // The reason is required.
    await user.click(within(form).getByTestId('record-dose-submit'));
    expect(screen.getByTestId('record-dose-error')).toHaveTextContent('Give a reason for each check you override');
    expect(backend.count('recordAdministration')).toBe(1);

    await user.type(screen.getByTestId('override-reason'), 'Tolerated amoxicillin in 2023; confirmed by Dr Adeyemi');
    await user.click(within(form).getByTestId('record-dose-submit'));
    await waitFor(() => expect(screen.queryByTestId('record-dose')).not.toBeInTheDocument());
    const second = backend.calls.filter((c) => c.method === 'recordAdministration')[1]!.args[1] as AdministrationEntry;
    expect(second.status).toBe('completed');
    expect(second.due_at).not.toBeNull();
    expect(second.dose).toBeNull(); // the order's dose, unchanged
    expect(second.overrides).toEqual([{ check: 'allergy', reason: 'Tolerated amoxicillin in 2023; confirmed by Dr Adeyemi' }]);

    // Read again from the core: given, pending sync.
    await waitFor(() => expect(backend.count('medications')).toBe(2));
    const done = await waitFor(() => {
      const s = screen.getAllByTestId('mar-slot').find((e) => e.dataset['dueAt'] === second.due_at && e.dataset['orderId'] === second.request_id);
      expect(s).toHaveAttribute('data-state', 'given');
      return s!;
    });
    expect(done).toHaveAttribute('data-pending', 'true');
    expect(backend.status.pending_entries).toBe(1);
    const row = screen.getAllByTestId('administration-row')[0]!;
    expect(row).toHaveTextContent('Allergy: Tolerated amoxicillin');
    expect(within(row).getByTestId('pending-badge')).toBeInTheDocument();

    // The server confirms it; read again, the pending marker goes.
    await backend.syncNow();
    await user.click(screen.getByTestId('mar-refresh'));
    await waitFor(() => {
      const s = screen.getAllByTestId('mar-slot').find((e) => e.dataset['dueAt'] === second.due_at && e.dataset['orderId'] === second.request_id);
      expect(s).toHaveAttribute('data-pending', 'false');
    });
    expect(backend.count('medications')).toBe(3);
  });

  it('records a dose not given, with its reason', async () => {
    const backend = sampleBackend();
    const { user } = renderWith(backend, <MedicationsTab patientId={PATIENT_IDS.none} />);
    await screen.findByTestId('mar-grid');
    const future = slot(null, 'future');
    const dueAt = future.dataset['dueAt'];
    await user.click(future);
    await user.click(screen.getByTestId('dose-not-given'));
    await user.click(screen.getByTestId('record-dose-submit'));
    expect(screen.getByTestId('record-dose-error')).toHaveTextContent('Say why the dose was not given.');
    await user.selectOptions(screen.getByTestId('not-given-reason'), 'patient-away');
    await user.click(screen.getByTestId('record-dose-submit'));
    await waitFor(() => expect(screen.queryByTestId('record-dose')).not.toBeInTheDocument());
    const entry = backend.calls.find((c) => c.method === 'recordAdministration')!.args[1] as AdministrationEntry;
    expect(entry).toMatchObject({ status: 'not-done', not_given_reason: 'patient-away', dose: null, overrides: [] });
    await waitFor(() => {
      const answered = screen.getAllByTestId('mar-slot').find((s) => s.dataset['dueAt'] === dueAt)!;
      expect(answered).toHaveAttribute('data-state', 'not-given');
      expect(answered).toHaveTextContent('✗ Not givenPatient away');
    });
  });

  it('asks for a witness for a high-alert medicine; naming one clears the finding', async () => {
    const backend = sampleBackend();
    const { user } = renderWith(backend, <MedicationsTab patientId={PATIENT} />);
    await screen.findByTestId('mar-grid');
    const enoxaparin = screen.getAllByTestId('mar-row').find((r) => r.textContent?.includes('Enoxaparin'))!;
    await user.click(within(enoxaparin).getAllByTestId('mar-slot').find((s) => s.dataset['state'] === 'future')!);
    await user.click(screen.getByTestId('record-dose-submit'));
    expect(await screen.findByTestId('check-finding')).toHaveAttribute('data-check', 'no-witness');
    await user.type(screen.getByTestId('dose-witness'), 'nurse-b');
    expect(screen.queryByTestId('check-finding')).not.toBeInTheDocument();
    await user.click(screen.getByTestId('record-dose-submit'));
    await waitFor(() => expect(screen.queryByTestId('record-dose')).not.toBeInTheDocument());
    const last = backend.calls.filter((c) => c.method === 'recordAdministration').at(-1)!.args[1] as AdministrationEntry;
    expect(last).toMatchObject({ witness: 'nurse-b', overrides: [] });
  });

  it('gives a PRN dose from "Give" and shows it in the last 24 hours', async () => {
    const backend = sampleBackend();
    const { user } = renderWith(backend, <MedicationsTab patientId={PATIENT} />);
    const prn = await screen.findByTestId('prn-order');
    expect(within(prn).getByTestId('prn-24h')).toHaveTextContent('2 doses, 2 g');
    await user.click(within(prn).getByTestId('prn-give'));
    await user.click(screen.getByTestId('record-dose-submit'));
    expect(await screen.findByTestId('check-finding')).toHaveAttribute('data-check', 'prn-interval');
    await user.type(screen.getByTestId('override-reason'), 'Pyrexia 39.2, prescriber agreed');
    await user.click(screen.getByTestId('record-dose-submit'));
    await waitFor(() => expect(within(screen.getByTestId('prn-order')).getByTestId('prn-24h')).toHaveTextContent('3 doses, 3 g'));
    const entry = backend.calls.filter((c) => c.method === 'recordAdministration').at(-1)!.args[1] as AdministrationEntry;
    expect(entry.due_at).toBeNull();
  });

  it('shows a possible double dose prominently and records the review', async () => {
    const backend = sampleBackend();
    const reported = vi.fn();
    const { user } = renderWith(backend, <MedicationsTab patientId={PATIENT} onDoubleDoses={reported} />);
    const banner = await screen.findByTestId('double-dose-banner');
    expect(banner).toHaveTextContent('Possible double dose');
    expect(banner).toHaveTextContent('Metoprolol tartrate 25 mg tablet');
    const records = within(banner).getAllByTestId('double-dose-record');
    expect(records).toHaveLength(2);
    expect(records.map((r) => r.textContent)).toEqual([expect.stringContaining('dev-clinician'), expect.stringContaining('nurse-b')]);
    expect(reported).toHaveBeenLastCalledWith(1);
    // The slot says so too.
    expect(screen.getAllByTestId('mar-slot').filter((s) => s.className.includes('slot-double'))).toHaveLength(1);

    await user.click(within(banner).getByTestId('review-double-dose'));
    await user.click(screen.getByTestId('review-double-dose-submit'));
    expect(screen.getByTestId('review-double-dose-error')).toHaveTextContent('Choose what the review found.');
    await user.click(screen.getByTestId('review-outcome-double-dose-confirmed'));
    await user.click(screen.getByTestId('review-double-dose-submit'));
    expect(screen.getByTestId('review-double-dose-error')).toHaveTextContent('Write what you found');
    expect(backend.count('reviewDoubleDose')).toBe(0);
    await user.type(screen.getByTestId('review-note'), 'Both doses given. HR 58, BP 104/66; prescriber informed, obs hourly.');
    await user.click(screen.getByTestId('review-double-dose-submit'));

    await waitFor(() => expect(screen.queryByTestId('double-dose-banner')).not.toBeInTheDocument());
    const review = backend.calls.find((c) => c.method === 'reviewDoubleDose')!.args[0];
    expect(review).toMatchObject({ patient_id: PATIENT, outcome: 'double-dose-confirmed', note: expect.stringContaining('prescriber informed') });
    expect((review as { administration_ids: string[] }).administration_ids).toHaveLength(2);
    expect(reported).toHaveBeenLastCalledWith(0);
    expect(backend.status.double_dose_patients).toBe(0);
  });

  it('marks an administration entered in error with a reason; it stays, struck through', async () => {
    const backend = sampleBackend();
    const { user } = renderWith(backend, <MedicationsTab patientId={PATIENT} />);
    const table = await screen.findByTestId('administrations-table');
    const duplicate = within(table).getAllByTestId('administration-row').find((r) => r.textContent?.includes('nurse-b') && r.textContent.includes('Metoprolol'))!;
    await user.click(within(duplicate).getByTestId('administration-entered-in-error'));
    await user.click(screen.getByTestId('administration-error-submit'));
    expect(screen.getByTestId('administration-error-error')).toHaveTextContent('Give the reason');
    await user.type(screen.getByTestId('administration-error-reason'), 'Charted twice: one dose given at 08:07');
    await user.click(screen.getByTestId('administration-error-submit'));
    await waitFor(() => {
      const row = screen.getAllByTestId('administration-row').find((r) => r.dataset['administrationId'] === duplicate.dataset['administrationId'])!;
      expect(row).toHaveAttribute('data-status', 'entered-in-error');
      expect(row).toHaveTextContent('Charted twice');
    });
    // One "given" record is left: no double dose any more.
    expect(screen.queryByTestId('double-dose-banner')).not.toBeInTheDocument();
  });
});
