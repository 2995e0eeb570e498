import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import { OUTSIDE_MRN, PATIENT_IDS, sampleBackend } from './backend/fixtures';
import { renderApp } from './test/render';

const signedOut = () => sampleBackend({ session: { state: 'signed_out' } });

function row(patientId: string): HTMLElement {
  const found = screen.getAllByTestId('census-row').find((r) => r.dataset['patientId'] === patientId);
  if (!found) throw new Error(`no census row for ${patientId}`);
  return found;
}

async function openChart(user: ReturnType<typeof renderApp>['user'], patientId: string) {
  await screen.findAllByTestId('census-row');
  await user.click(row(patientId));
  await screen.findByTestId('chart-header');
}

describe('sign-in and lock', () => {
  it('signs in, locks with no patient data in the DOM, and unlocks', async () => {
    const { user, backend } = renderApp(signedOut());
    // Signed out: the status bar is there, no patient data is.
    expect(await screen.findByTestId('sign-in-form')).toBeInTheDocument();
    expect(screen.getByTestId('status-bar')).toBeInTheDocument();
    expect(screen.queryByTestId('census-table')).not.toBeInTheDocument();

    await user.type(screen.getByTestId('sign-in-username'), 'dev-clinician');
    await user.type(screen.getByTestId('sign-in-password'), 'wrong');
    await user.click(screen.getByTestId('sign-in-submit'));
    expect(await screen.findByTestId('sign-in-error')).toHaveTextContent(
      'The username or password is not correct. Check them and try again.',
    );

    await user.type(screen.getByTestId('sign-in-password'), 'synthetic');
    await user.click(screen.getByTestId('sign-in-submit'));
    expect(await screen.findByTestId('session-mode')).toHaveTextContent('Online session');
    await openChart(user, PATIENT_IDS.high);
    expect(document.body).toHaveTextContent('OKAFOR, Amelia');

    await user.click(screen.getByTestId('lock-now'));
    const lock = await screen.findByTestId('lock-screen');
    expect(lock).toHaveTextContent('Sam Reyes (synthetic)');
    // Unmounted, not hidden: nothing of the patient anywhere in the DOM.
    expect(document.body.innerHTML).not.toMatch(/okafor/i);
    expect(document.body.innerHTML).not.toContain('SYN-104233');
    expect(screen.queryByTestId('chart-header')).not.toBeInTheDocument();
    expect(screen.queryByTestId('census-table')).not.toBeInTheDocument();
    expect(screen.getByTestId('status-bar')).toBeInTheDocument();
    expect(document.title).toBe('Wardbook');

    await user.type(screen.getByTestId('unlock-password'), 'nope');
    await user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('unlock-error')).toHaveTextContent('The password is not correct. Try again.');

    await user.type(screen.getByTestId('unlock-password'), 'synthetic');
    await user.click(screen.getByTestId('unlock-submit'));
    // Back on the same chart, read (and audited) again.
    expect(await screen.findByTestId('chart-header')).toHaveTextContent('OKAFOR, Amelia');
    expect(backend.chartOpens(PATIENT_IDS.high)).toBe(2);
  });

  it('says when a sign-in is offline', async () => {
    const backend = signedOut();
    backend.status.online = false;
    const { user } = renderApp(backend);
    await user.type(await screen.findByTestId('sign-in-username'), 'dev-clinician');
    await user.type(screen.getByTestId('sign-in-password'), 'synthetic');
    await user.click(screen.getByTestId('sign-in-submit'));
    expect(await screen.findByTestId('session-mode')).toHaveTextContent('Offline session');
  });

  it('switches to the lock screen when a call finds the session locked by idleness', async () => {
    const backend = sampleBackend();
    const { user } = renderApp(backend);
    await screen.findAllByTestId('census-row');
    // The core locked the session on idle; the next call is refused.
    await backend.lock();
    await user.click(row(PATIENT_IDS.high));
    expect(await screen.findByTestId('lock-screen')).toBeInTheDocument();
    expect(document.body.innerHTML).not.toMatch(/okafor/i);
  });

  it('"Sign in as someone else" shows the sign-in form and starts on the census', async () => {
    const backend = sampleBackend();
    const { user } = renderApp(backend);
    await openChart(user, PATIENT_IDS.high);
    await user.click(screen.getByTestId('lock-now'));
    await user.click(await screen.findByTestId('switch-user'));
    await user.type(screen.getByTestId('sign-in-username'), 'nurse-b');
    await user.type(screen.getByTestId('sign-in-password'), 'synthetic-b');
    await user.click(screen.getByTestId('sign-in-submit'));
    expect(await screen.findByTestId('census-table')).toBeInTheDocument();
    expect(screen.getByTestId('user-id')).toHaveTextContent('Jo Tanaka (synthetic)');
  });

  it('signs out', async () => {
    const { user } = renderApp(sampleBackend());
    await screen.findAllByTestId('census-row');
    await user.click(screen.getByTestId('sign-out'));
    expect(await screen.findByTestId('sign-in-form')).toBeInTheDocument();
    expect(screen.queryByTestId('census-table')).not.toBeInTheDocument();
  });

  it('reports activity, at most once per 5 seconds', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await screen.findAllByTestId('census-row');
    await user.keyboard('a');
    await user.keyboard('b');
    await user.keyboard('c');
    expect(backend.count('activity')).toBe(1);
  });
});

describe('search', () => {
  it('searches as you type; ArrowDown and Enter open the chart', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await screen.findAllByTestId('census-row');
    const search = screen.getByTestId('patient-search');
    await user.click(search);
    await user.type(search, 'marchetti');
    await waitFor(() => expect(backend.calls.some((c) => c.method === 'search' && c.args[0] === 'marchetti')).toBe(true));
    expect(screen.getAllByTestId('census-row')).toHaveLength(1);
    await user.keyboard('{ArrowDown}');
    expect(row(PATIENT_IDS.mixed)).toHaveAttribute('aria-selected', 'true');
    expect(search).toHaveAttribute('aria-activedescendant', `patient-row-${PATIENT_IDS.mixed}`);
    await user.keyboard('{Enter}');
    expect(await screen.findByTestId('chart-header')).toHaveTextContent('MARCHETTI, Priya');
  });

  it('moves through several results with the arrows', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await screen.findAllByTestId('census-row');
    const search = screen.getByTestId('patient-search');
    await user.type(search, 'SYN-10');
    await waitFor(() => expect(backend.count('search')).toBeGreaterThan(0));
    await user.keyboard('{ArrowDown}{ArrowDown}');
    expect(row(PATIENT_IDS.none)).toHaveAttribute('aria-selected', 'true');
    await user.keyboard('{ArrowUp}');
    expect(row(PATIENT_IDS.high)).toHaveAttribute('aria-selected', 'true');
    await user.keyboard('{Enter}');
    expect(await screen.findByTestId('chart-header')).toHaveTextContent('OKAFOR, Amelia');
  });

  it('finds by date of birth and goes back to the census on an empty query', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await screen.findAllByTestId('census-row');
    await user.type(screen.getByTestId('patient-search'), '1979-06-21');
    await waitFor(() => expect(backend.count('search')).toBe(1));
    expect(screen.getAllByTestId('census-row')).toHaveLength(1);
    await user.clear(screen.getByTestId('patient-search'));
    expect(screen.getAllByTestId('census-row')).toHaveLength(3);
  });
});

describe('chart tabs', () => {
  it('opens on Vitals with the latest set, five trend plots and the table; each tab is read on opening', async () => {
    // The chart open answers the vitals tab too (one audited read); a tab opened later is read again.
    const { user, backend } = renderApp(sampleBackend());
    await openChart(user, PATIENT_IDS.high);
    expect(screen.getByTestId('tab-vitals')).toHaveAttribute('aria-selected', 'true');
    const plots = await screen.findByTestId('vitals-plot');
    for (const name of ['heart-rate', 'blood-pressure', 'respiratory-rate', 'temperature', 'spo2']) {
      expect(within(plots).getByTestId(`vitals-plot-${name}`)).toBeInTheDocument();
    }
    expect(within(plots).getByTestId('vitals-plot-blood-pressure').querySelector('[role="img"]')).toHaveAttribute(
      'aria-label',
      expect.stringMatching(/Systolic: latest .*Diastolic: latest/),
    );
    const table = screen.getByTestId('vitals-table');
    const voided = within(table).getAllByTestId('vitals-row').filter((r) => r.dataset['status'] === 'entered-in-error');
    expect(voided.length).toBeGreaterThan(0);
    expect(voided[0]!).toHaveTextContent('Entered in error');
    expect(voided[0]!.querySelector('s')).not.toBeNull();
    expect(backend.chartOpens(PATIENT_IDS.high)).toBe(1);
    expect(backend.count('viewVitals', PATIENT_IDS.high)).toBe(0);

    await user.click(screen.getByTestId('tab-labs'));
    const panels = await screen.findAllByTestId('labs-panel');
    expect(panels.map((p) => p.dataset['panel'])).toEqual(['58410-2', '51990-0']);
    expect(screen.getByTestId('critical-results')).toHaveTextContent('Potassium');
    const critical = screen.getAllByTestId('result-flag').find((f) => f.dataset['flag'] === 'HH');
    expect(critical).toHaveTextContent('CRITICAL HIGH');

    await user.click(screen.getByTestId('tab-vitals'));
    await screen.findByTestId('vitals-table');
    expect(backend.count('viewVitals', PATIENT_IDS.high)).toBe(1);
    expect(backend.chartOpens(PATIENT_IDS.high)).toBe(1);
  });

  it('tabs are keyboard navigable (arrows move, Enter opens)', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await openChart(user, PATIENT_IDS.none);
    screen.getByTestId('tab-vitals').focus();
    await user.keyboard('{ArrowRight}');
    expect(screen.getByTestId('tab-labs')).toHaveFocus();
    expect(backend.count('viewLabs')).toBe(0);
    await user.keyboard('{End}');
    expect(screen.getByTestId('tab-medications')).toHaveFocus();
    await user.keyboard('{ArrowLeft}');
    expect(screen.getByTestId('tab-allergies')).toHaveFocus();
    expect(backend.count('medications')).toBe(0);
    await user.keyboard('{Enter}');
    expect(screen.getByTestId('tab-allergies')).toHaveAttribute('aria-selected', 'true');
    expect(await screen.findByTestId('allergies-list')).toBeInTheDocument();
  });

  it('shows a labs trend for the selected analyte', async () => {
    const { user } = renderApp(sampleBackend());
    await openChart(user, PATIENT_IDS.high);
    await user.click(screen.getByTestId('tab-labs'));
    await screen.findAllByTestId('labs-panel');
    await user.click(screen.getAllByRole('button', { name: 'Potassium' })[0]!);
    expect(screen.getByTestId('lab-trend-plot')).toHaveTextContent('Potassium: trend');
  });

  it('records vitals: the new rows show as pending and the status bar counts the set as one edit', async () => {
    const { user } = renderApp(sampleBackend());
    await openChart(user, PATIENT_IDS.none);
    await screen.findByTestId('vitals-table');
    expect(screen.queryAllByTestId('pending-badge')).toHaveLength(0);
    await user.click(screen.getByTestId('record-vitals'));
    const form = screen.getByTestId('vitals-form');
    await user.type(form.querySelector('input[name="heart_rate"]')!, '88');
    await user.type(form.querySelector('input[name="spo2"]')!, '97');
    await user.click(screen.getByTestId('vitals-submit'));
    await waitFor(() => expect(screen.queryByTestId('vitals-form')).not.toBeInTheDocument());
    expect(within(screen.getByTestId('vitals-table')).getAllByTestId('pending-badge')).toHaveLength(2);
    await waitFor(() => expect(screen.getByTestId('status-pending-edits')).toHaveTextContent('1 edit to upload'));
  });

  it('marks an observation entered in error with a required reason; it stays, struck through', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await openChart(user, PATIENT_IDS.none);
    const table = await screen.findByTestId('vitals-table');
    const first = within(table).getAllByTestId('vitals-row')[0]!;
    const id = first.dataset['observationId']!;
    await user.click(within(first).getByTestId('entered-in-error'));
    await user.click(screen.getByTestId('entered-in-error-submit'));
    expect(screen.getByTestId('entered-in-error-error')).toHaveTextContent('Give the reason');
    expect(backend.count('markEnteredInError')).toBe(0);
    await user.type(screen.getByTestId('entered-in-error-reason'), 'Recorded against the wrong patient');
    await user.click(screen.getByTestId('entered-in-error-submit'));
    await waitFor(() => {
      const marked = within(screen.getByTestId('vitals-table'))
        .getAllByTestId('vitals-row')
        .find((r) => r.dataset['observationId'] === id)!;
      expect(marked).toHaveAttribute('data-status', 'entered-in-error');
      expect(within(marked).getByTestId('pending-badge')).toBeInTheDocument();
    });
  });

  it('adds and edits allergies; the banner shows the change', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await openChart(user, PATIENT_IDS.none);
    await user.click(screen.getByTestId('tab-allergies'));
    await screen.findByTestId('allergies-list');
    await user.click(screen.getByTestId('new-allergy'));
    const form = screen.getByTestId('allergy-form');
    await user.type(within(form).getByTestId('allergy-allergen'), 'Amoxicillin');
    await user.selectOptions(form.querySelector('select[name="criticality"]')!, 'high');
    await user.type(form.querySelector('input[name="reaction-0-manifestation"]')!, 'Rash');
    await user.selectOptions(form.querySelector('select[name="reaction-0-severity"]')!, 'moderate');
    await user.click(screen.getByTestId('allergy-submit'));
    const row = await screen.findByTestId('allergy-row');
    expect(row).toHaveTextContent('Amoxicillin');
    expect(within(row).getByTestId('pending-badge')).toBeInTheDocument();
    const entry = backend.calls.find((c) => c.method === 'saveAllergy')!.args[1] as { allergen: unknown; reactions: unknown };
    expect(entry.allergen).toEqual({ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '723', display: 'Amoxicillin' });
    expect(screen.getByTestId('allergy-banner')).toHaveClass('tone-high');

    await user.click(within(row).getByTestId('edit-allergy'));
    await user.selectOptions(screen.getByTestId('allergy-form').querySelector('select[name="verification_status"]')!, 'confirmed');
    await user.click(screen.getByTestId('allergy-submit'));
    await waitFor(() => expect(screen.getByTestId('allergy-row')).toHaveAttribute('data-verification', 'confirmed'));
    const update = backend.calls.filter((c) => c.method === 'saveAllergy')[1]!.args[1] as { id: string | null; base_version: number | null };
    expect(update.id).not.toBeNull();
    expect(update.base_version).toBe(0);
  });
});

describe('downtime summary and emergency access', () => {
  it('opens a printable summary and prints it', async () => {
    const print = vi.spyOn(window, 'print').mockImplementation(() => undefined);
    const { user, backend } = renderApp(sampleBackend());
    await openChart(user, PATIENT_IDS.high);
    await user.click(screen.getByTestId('downtime-summary'));
    const view = await screen.findByTestId('downtime-summary-view');
    expect(view).toHaveTextContent('OKAFOR, Amelia');
    expect(view).toHaveTextContent('Penicillin G');
    expect(view).toHaveTextContent('Vital signs, last 24 hours');
    expect(view).toHaveTextContent('None recorded in Wardbook');
    expect(view).toHaveTextContent(/Generated .* by Sam Reyes \(synthetic\)/);
    expect(view).toHaveTextContent('Data as of');
    expect(backend.count('downtimeSummary', PATIENT_IDS.high)).toBe(1);
    await user.click(screen.getByTestId('print-summary'));
    expect(print).toHaveBeenCalled();
  });

  it('requires a reason of 10 characters and opens the chart with the emergency banner', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await screen.findAllByTestId('census-row');
    await user.click(screen.getByTestId('break-glass'));
    const form = screen.getByTestId('break-glass-form');
    expect(form).toHaveTextContent('reviewed by the privacy office');
    await user.type(screen.getByTestId('break-glass-mrn'), OUTSIDE_MRN);
    await user.type(screen.getByTestId('break-glass-reason'), 'urgent');
    await user.click(screen.getByTestId('break-glass-submit'));
    expect(screen.getByTestId('break-glass-error')).toHaveTextContent('at least 10 characters');
    expect(backend.count('breakGlass')).toBe(0);
    await user.type(screen.getByTestId('break-glass-reason'), ': cardiac arrest in the corridor');
    await user.click(screen.getByTestId('break-glass-submit'));
    expect(await screen.findByTestId('chart-header')).toHaveTextContent('DELACROIX, Rosa');
    expect(await screen.findByTestId('break-glass-banner')).toHaveTextContent(/ends at \d{2} \w{3} \d{4} \d{2}:\d{2}/);
  });

  it('shows the backend message when emergency access is refused', async () => {
    const backend = sampleBackend();
    backend.status.online = false;
    const { user } = renderApp(backend);
    await screen.findAllByTestId('census-row');
    await user.click(screen.getByTestId('break-glass'));
    await user.type(screen.getByTestId('break-glass-mrn'), OUTSIDE_MRN);
    await user.type(screen.getByTestId('break-glass-reason'), 'Deteriorating patient, covering doctor');
    await user.click(screen.getByTestId('break-glass-submit'));
    expect(await screen.findByTestId('break-glass-error')).toHaveTextContent('needs a connection to the server');
  });
});
