import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { appInfo, PATIENT_IDS, sampleBackend } from './backend/fixtures';
import { ageInYears } from './format';
import { renderApp } from './test/render';

async function censusRows() {
  return screen.findAllByTestId('census-row');
}

function row(patientId: string): HTMLElement {
  const found = screen.getAllByTestId('census-row').find((r) => r.dataset['patientId'] === patientId);
  if (!found) throw new Error(`no census row for ${patientId}`);
  return found;
}

describe('frame', () => {
  it('shows the SYNTHETIC DATA banner when the cache holds synthetic data', async () => {
    renderApp(sampleBackend());
    expect(await screen.findByTestId('synthetic-banner')).toHaveTextContent('SYNTHETIC DATA');
    expect(screen.getByTestId('environment')).toHaveTextContent(/development/i);
  });

  it('shows the banner in development before any synthetic data has arrived', async () => {
    renderApp(sampleBackend({ appInfo: appInfo({ synthetic_data: false, environment: 'development' }) }));
    expect(await screen.findByTestId('synthetic-banner')).toHaveTextContent('SYNTHETIC DATA');
  });

  it('shows no synthetic banner in production when there is no synthetic data', async () => {
    renderApp(sampleBackend({ appInfo: appInfo({ synthetic_data: false, environment: 'production' }) }));
    expect(await screen.findByTestId('environment')).toHaveTextContent(/production/i);
    await censusRows();
    expect(screen.queryByTestId('synthetic-banner')).not.toBeInTheDocument();
  });

  it('keeps the banner on the chart screen', async () => {
    const { user } = renderApp(sampleBackend());
    await censusRows();
    await user.click(row(PATIENT_IDS.high));
    await screen.findByTestId('allergy-banner');
    expect(screen.getByTestId('synthetic-banner')).toBeVisible();
  });
});

describe('census', () => {
  it('renders one row per patient with name, MRN, sex, location, bed and allergy flag', async () => {
    renderApp(sampleBackend());
    const rows = await censusRows();
    expect(rows).toHaveLength(3);

    const high = row(PATIENT_IDS.high);
    expect(high).toHaveTextContent('OKAFOR, Amelia');
    expect(high).toHaveTextContent('SYN-104233');
    expect(high).toHaveTextContent('Female');
    expect(high).toHaveTextContent('Ward 7B');
    expect(within(high).getByTestId('census-bed')).toHaveTextContent('4');
    const flag = within(high).getByTestId('allergy-flag');
    expect(flag).toHaveAttribute('data-flag', 'high');
    expect(flag).toHaveTextContent('HIGH');
    expect(high).toHaveAttribute('data-high-criticality', 'true');

    const none = row(PATIENT_IDS.none);
    expect(within(none).queryByTestId('allergy-flag')).not.toBeInTheDocument();
    expect(none).toHaveTextContent('None active');
    expect(none).toHaveAttribute('data-allergy-count', '0');

    // Codeine (active, unable to assess) counts; refuted and entered-in-error do not.
    const mixed = row(PATIENT_IDS.mixed);
    expect(within(mixed).getByTestId('allergy-flag')).toHaveAttribute('data-flag', 'present');
    expect(mixed).toHaveTextContent('1 allergy');
    expect(mixed).toHaveTextContent('Unassigned');
    expect(within(mixed).getByTestId('census-bed')).toHaveTextContent('No bed');
  });

  it('filters by name or MRN', async () => {
    const { user } = renderApp(sampleBackend());
    await censusRows();
    await user.type(screen.getByRole('searchbox'), 'lindq');
    expect(screen.getAllByTestId('census-row')).toHaveLength(1);
    await user.clear(screen.getByRole('searchbox'));
    await user.type(screen.getByRole('searchbox'), 'SYN-105');
    expect(screen.getAllByTestId('census-row')).toHaveLength(1);
    expect(screen.getByTestId('census-row')).toHaveAttribute('data-patient-id', PATIENT_IDS.mixed);
  });

  it('shows the backend error message when the census fails', async () => {
    const backend = sampleBackend({
      failures: { census: { code: 'store-unavailable', message: 'The local records could not be opened. Restart Wardbook.' } },
    });
    renderApp(backend);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('The local records could not be opened. Restart Wardbook.');
    expect(screen.queryByTestId('census-row')).not.toBeInTheDocument();
  });

  it('retries after a failure', async () => {
    const backend = sampleBackend({ failures: { census: { code: 'busy', message: 'Busy, try again.' } } });
    const { user } = renderApp(backend);
    await screen.findByRole('alert');
    backend.failures = {};
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await censusRows()).toHaveLength(3);
  });
});

describe('chart', () => {
  it('opens on click and shows the allergy banner before the patient header', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await censusRows();
    await user.click(row(PATIENT_IDS.high));

    const banner = await screen.findByTestId('allergy-banner');
    const header = screen.getByTestId('chart-header');
    expect(banner.compareDocumentPosition(header) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    // Nothing of the chart comes before the allergies.
    const chart = banner.closest('article');
    expect(chart?.firstElementChild).toBe(banner);

    expect(header).toHaveTextContent('OKAFOR, Amelia');
    expect(header).toHaveTextContent('SYN-104233');
    expect(header).toHaveTextContent('02 Nov 1948');
    expect(header).toHaveTextContent(`(${ageInYears('1948-11-02')} y)`);
    expect(header).toHaveTextContent('Female');
    expect(header).toHaveTextContent('Ward 7B');
    expect(within(header).getByTestId('patient-bed')).toHaveTextContent('4');
    expect(backend.chartOpens(PATIENT_IDS.high)).toBe(1);
    expect(banner).toHaveFocus();
  });

  it('labels high criticality allergies HIGH, in words and not colour alone', async () => {
    const { user } = renderApp(sampleBackend());
    await censusRows();
    await user.click(row(PATIENT_IDS.high));

    const items = await screen.findAllByTestId('allergy-item');
    expect(items).toHaveLength(2);
    const [first, second] = items;
    expect(first).toHaveAttribute('data-criticality', 'high');
    expect(within(first!).getByTestId('criticality')).toHaveTextContent('HIGH');
    expect(first).toHaveTextContent('Penicillin G');
    expect(first).toHaveTextContent('Anaphylaxis (severe)');
    expect(first).toHaveTextContent('Urticaria (moderate)');
    expect(screen.getByTestId('allergy-summary')).toHaveTextContent('2 active · 1 HIGH criticality');
    expect(screen.getByTestId('allergy-banner')).toHaveClass('tone-high');

    expect(second).toHaveAttribute('data-criticality', 'low');
    expect(within(second!).getByTestId('criticality')).not.toHaveTextContent('HIGH');
    expect(within(second!).getByTestId('verification')).toHaveTextContent('unconfirmed');
    expect(screen.queryByTestId('no-known-allergies')).not.toBeInTheDocument();
  });

  it('says "No known allergies" when none are recorded', async () => {
    const { user } = renderApp(sampleBackend());
    await censusRows();
    await user.click(row(PATIENT_IDS.none));
    expect(await screen.findByTestId('no-known-allergies')).toHaveTextContent('No known allergies');
    expect(screen.queryAllByTestId('allergy-item')).toHaveLength(0);
  });

  it('strikes through refuted and entered-in-error allergies and lists them last', async () => {
    const { user } = renderApp(sampleBackend());
    await censusRows();
    await user.click(row(PATIENT_IDS.mixed));
    const items = await screen.findAllByTestId('allergy-item');
    expect(items.map((i) => i.dataset['verification'])).toEqual(['confirmed', 'refuted', 'entered-in-error']);
    const refuted = items[1]!;
    expect(refuted).toHaveTextContent('refuted');
    expect(refuted.querySelector('s')).toHaveTextContent('Latex');
    expect(items[2]!).toHaveTextContent('entered in error');
    expect(items[2]!.querySelector('s')).toHaveTextContent('Aspirin');
    // A refuted HIGH is not counted as a current high-criticality allergy.
    expect(screen.getByTestId('allergy-summary')).toHaveTextContent('1 active');
    expect(screen.getByTestId('allergy-summary')).not.toHaveTextContent('HIGH');
    expect(screen.getByTestId('allergy-banner')).toHaveClass('tone-present');
  });

  it('opens with the keyboard and goes back with Escape, restoring focus', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await censusRows();
    row(PATIENT_IDS.none).focus();
    await user.keyboard('{Enter}');
    expect(await screen.findByTestId('no-known-allergies')).toBeInTheDocument();
    expect(backend.chartOpens(PATIENT_IDS.none)).toBe(1);

    await user.keyboard('{Escape}');
    await censusRows();
    expect(row(PATIENT_IDS.none)).toHaveFocus();

    await user.keyboard('{ArrowUp}');
    expect(row(PATIENT_IDS.high)).toHaveFocus();
    await user.keyboard('{End}');
    expect(row(PATIENT_IDS.mixed)).toHaveFocus();
  });

  it('asks the backend again every time a chart is shown (each view is audited)', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await censusRows();
    await user.click(row(PATIENT_IDS.high));
    await screen.findByTestId('allergy-banner');
    await user.click(screen.getByTestId('back-to-census'));
    await censusRows();
    await user.click(row(PATIENT_IDS.high));
    await screen.findByTestId('allergy-banner');
    expect(backend.chartOpens(PATIENT_IDS.high)).toBe(2);
  });

  it('shows the backend error message when a chart cannot be opened', async () => {
    const backend = sampleBackend({
      failures: {
        openChart: { code: 'audit-failed', message: 'The view could not be recorded in the audit trail, so the chart is not shown.' },
      },
    });
    const { user } = renderApp(backend);
    await censusRows();
    await user.click(row(PATIENT_IDS.high));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('The view could not be recorded in the audit trail, so the chart is not shown.');
    expect(screen.queryByTestId('allergy-banner')).not.toBeInTheDocument();
    expect(screen.queryByTestId('chart-header')).not.toBeInTheDocument();
  });
});
