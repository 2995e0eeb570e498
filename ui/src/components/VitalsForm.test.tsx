import { screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import { PATIENT_IDS, sampleBackend, vitalSpecs } from '../backend/fixtures';
import { renderWith } from '../test/render';
import { VitalsForm } from './VitalsForm';

function setup(backend = sampleBackend()) {
  const onSaved = vi.fn();
  const utils = renderWith(
    backend,
    <VitalsForm patientId={PATIENT_IDS.none} specs={vitalSpecs()} onSaved={onSaved} onCancel={() => undefined} />,
  );
  const field = (name: string) => document.querySelector<HTMLInputElement>(`input[name="${name}"]`)!;
  const wrapper = (name: string) => field(name).closest<HTMLElement>('.vital-field')!;
  return { ...utils, onSaved, field, wrapper };
}

describe('VitalsForm', () => {
  it('shows the normal range and the accepted limits next to each field', () => {
    const { field } = setup();
    for (const name of ['heart_rate', 'systolic', 'diastolic', 'respiratory_rate', 'temperature', 'spo2']) {
      expect(field(name)).toBeInTheDocument();
    }
    expect(screen.getByTestId('limits-heart_rate')).toHaveTextContent('Normal 60–100 /min. Accepted 20–300 /min.');
    expect(screen.getByTestId('limits-temperature')).toHaveTextContent('Normal 36.1–37.9 °C');
    expect(screen.getByTestId('limits-systolic')).toHaveTextContent('mmHg');
  });

  it('highlights a value outside the normal range as it is typed', async () => {
    const { user, field, wrapper } = setup();
    await user.type(field('heart_rate'), '128');
    expect(wrapper('heart_rate')).toHaveAttribute('data-flag', 'H');
    expect(wrapper('heart_rate')).toHaveClass('is-abnormal');
    expect(wrapper('heart_rate')).toHaveTextContent('Above normal');
    await user.type(field('spo2'), '89');
    expect(wrapper('spo2')).toHaveAttribute('data-flag', 'L');
    expect(wrapper('spo2')).toHaveTextContent('Below normal');
    await user.type(field('respiratory_rate'), '16');
    expect(wrapper('respiratory_rate')).toHaveAttribute('data-flag', 'none');
  });

  it('refuses an impossible value with the reason, before sending anything', async () => {
    const { user, field, wrapper, backend, onSaved } = setup();
    await user.type(field('heart_rate'), '900');
    expect(field('heart_rate')).toHaveAttribute('aria-invalid', 'true');
    expect(wrapper('heart_rate')).toHaveTextContent('must be between 20 and 300 /min');
    await user.click(screen.getByTestId('vitals-submit'));
    expect(screen.getByTestId('vitals-error')).toHaveTextContent(
      'Not recorded. Heart rate 900 /min is not possible: it must be between 20 and 300 /min.',
    );
    expect(backend.count('recordVitals')).toBe(0);
    expect(onSaved).not.toHaveBeenCalled();
  });

  it('refuses an empty form', async () => {
    const { user, backend } = setup();
    await user.click(screen.getByTestId('vitals-submit'));
    expect(screen.getByTestId('vitals-error')).toHaveTextContent('Enter at least one vital sign.');
    expect(backend.count('recordVitals')).toBe(0);
  });

  it('shows the backend error message when recording fails', async () => {
    const backend = sampleBackend({
      failures: { recordVitals: { code: 'store-unavailable', message: 'The vital signs could not be saved. Try again.' } },
    });
    const { user, field, onSaved } = setup(backend);
    await user.type(field('heart_rate'), '72');
    await user.click(screen.getByTestId('vitals-submit'));
    expect(await screen.findByTestId('vitals-error')).toHaveTextContent('The vital signs could not be saved. Try again.');
    expect(onSaved).not.toHaveBeenCalled();
  });

  it('sends the filled-in values only, as numbers', async () => {
    const { user, field, backend, onSaved } = setup();
    await user.type(field('heart_rate'), '72');
    await user.type(field('temperature'), '37,2');
    await user.click(screen.getByTestId('vitals-submit'));
    await vi.waitFor(() => expect(onSaved).toHaveBeenCalled());
    const call = backend.calls.find((c) => c.method === 'recordVitals')!;
    expect(call.args[1]).toEqual({
      effective_at: null,
      heart_rate: 72,
      systolic: null,
      diastolic: null,
      respiratory_rate: null,
      temperature: 37.2,
      spo2: null,
      on_oxygen: null,
      consciousness: null,
    });
    expect(onSaved.mock.calls[0]![0]).toHaveLength(2);
  });

  const select = (name: string) => document.querySelector<HTMLSelectElement>(`select[name="${name}"]`)!;

  it('offers on oxygen and ACVPU for NEWS2, not recorded by default', () => {
    setup();
    expect(screen.getByLabelText('On oxygen')).toBe(select('on_oxygen'));
    expect(screen.getByLabelText('Consciousness (ACVPU)')).toBe(select('consciousness'));
    expect(select('on_oxygen').value).toBe('');
    expect(select('consciousness').value).toBe('');
    expect([...select('on_oxygen').options].map((o) => o.text)).toEqual([
      'Not recorded',
      'No (air)',
      'Yes (supplemental oxygen)',
    ]);
    expect([...select('consciousness').options].map((o) => [o.value, o.text])).toEqual([
      ['', 'Not recorded'],
      ['alert', 'Alert'],
      ['new-confusion', 'New confusion'],
      ['voice', 'Voice'],
      ['pain', 'Pain'],
      ['unresponsive', 'Unresponsive'],
    ]);
  });

  it('sends on oxygen as a boolean and consciousness as its ACVPU code, then clears them', async () => {
    const { user, field, backend, onSaved } = setup();
    await user.type(field('respiratory_rate'), '22');
    await user.selectOptions(select('on_oxygen'), 'yes');
    await user.selectOptions(select('consciousness'), 'new-confusion');
    await user.click(screen.getByTestId('vitals-submit'));
    await vi.waitFor(() => expect(onSaved).toHaveBeenCalled());
    const call = backend.calls.find((c) => c.method === 'recordVitals')!;
    expect(call.args[1]).toMatchObject({ respiratory_rate: 22, on_oxygen: true, consciousness: 'new-confusion' });
    expect(select('on_oxygen').value).toBe('');
    expect(select('consciousness').value).toBe('');
  });

  it('sends breathing air as false', async () => {
    const { user, field, backend, onSaved } = setup();
    await user.type(field('heart_rate'), '72');
    await user.selectOptions(select('on_oxygen'), 'no');
    await user.selectOptions(select('consciousness'), 'alert');
    await user.click(screen.getByTestId('vitals-submit'));
    await vi.waitFor(() => expect(onSaved).toHaveBeenCalled());
    const call = backend.calls.find((c) => c.method === 'recordVitals')!;
    expect(call.args[1]).toMatchObject({ heart_rate: 72, on_oxygen: false, consciousness: 'alert' });
  });

  it('accepts a set with only consciousness or oxygen recorded', async () => {
    const { user, backend } = setup();
    await user.selectOptions(select('consciousness'), 'voice');
    await user.click(screen.getByTestId('vitals-submit'));
    await vi.waitFor(() => expect(backend.count('recordVitals')).toBe(1));
    const call = backend.calls.find((c) => c.method === 'recordVitals')!;
    expect(call.args[1]).toMatchObject({ heart_rate: null, on_oxygen: null, consciousness: 'voice' });
  });
});
