import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { PATIENT_IDS, sampleBackend } from '../backend/fixtures';
import { renderApp, renderWith } from '../test/render';
import { MarPrintView } from './MarPrint';

describe('MAR printout', () => {
  it('prints the ward one patient a page, allergies at the top, records filled in and blank slots ahead', async () => {
    const backend = sampleBackend();
    const { user } = renderWith(backend, <MarPrintView patientId={null} onBack={() => undefined} />);
    const view = await screen.findByTestId('mar-print-view');
    const pages = within(view).getAllByTestId('mar-page');
    // Every patient on the census, in census order (bed 4, bed 12, unplaced).
    expect(pages.map((p) => p.dataset['patientId'])).toEqual([PATIENT_IDS.high, PATIENT_IDS.none, PATIENT_IDS.mixed]);
    expect(backend.calls.filter((c) => c.method === 'printMar').map((c) => c.args)).toEqual([[null, 24]]);

    for (const page of pages) {
      // The allergies come before any medication on the page.
      const banner = within(page).getByTestId('allergy-banner');
      const orders = within(page).getAllByTestId('paper-order')[0]!;
      expect(banner.compareDocumentPosition(orders) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    }
    expect(within(pages[0]!).getByTestId('allergy-banner')).toHaveTextContent('Penicillin G');
    expect(within(pages[1]!).getByTestId('allergy-banner')).toHaveTextContent('No known allergies');
    expect(within(pages[0]!).getByTestId('mar-page-orders')).toHaveTextContent('Amoxicillin 500 mg capsule');

    const slots = within(pages[0]!).getAllByTestId('paper-slot');
    const given = slots.filter((s) => s.dataset['state'] === 'given');
    expect(given.length).toBeGreaterThan(0);
    expect(given[0]).toHaveTextContent(/Given \d\d:\d\d · dev-clinician/);
    const blank = slots.filter((s) => s.dataset['blank'] === 'true');
    expect(blank.length).toBeGreaterThan(0);
    expect(blank.at(-1)).toHaveTextContent('Time ______Initials ______');
    // PRN orders get blank lines to chart on paper.
    expect(within(pages[0]!).getAllByTestId('paper-prn-row').length).toBeGreaterThan(0);

    await user.selectOptions(screen.getByTestId('mar-print-hours'), '48');
    await waitFor(() => expect(backend.calls.filter((c) => c.method === 'printMar').map((c) => c.args)).toEqual([[null, 24], [null, 48]]));
    expect(await screen.findAllByText(/blank slots for the next 48 hours/, { selector: 'h3' })).toHaveLength(3);
  });

  it('prints one patient from the Medications tab, and the ward from the census', async () => {
    const { user, backend } = renderApp(sampleBackend());
    await screen.findAllByTestId('census-row');
    await user.click(screen.getByTestId('ward-mar-print'));
    expect(await screen.findAllByTestId('mar-page')).toHaveLength(3);
    await user.click(screen.getByRole('button', { name: /Back to the census/ }));

    const row = (await screen.findAllByTestId('census-row')).find((r) => r.dataset['patientId'] === PATIENT_IDS.mixed)!;
    await user.click(row);
    await user.click(await screen.findByTestId('tab-medications'));
    await user.click(await screen.findByTestId('print-mar'));
    const pages = await screen.findAllByTestId('mar-page');
    expect(pages).toHaveLength(1);
    expect(pages[0]).toHaveTextContent('MARCHETTI, Priya');
    expect(within(pages[0]!).getByTestId('allergy-banner')).toHaveTextContent('Codeine');
    expect(backend.calls.filter((c) => c.method === 'printMar').map((c) => c.args)).toEqual([
      [null, 24],
      [PATIENT_IDS.mixed, 24],
    ]);
  });

  it('the downtime summary lists the current medications', async () => {
    const { user } = renderApp(sampleBackend());
    const row = (await screen.findAllByTestId('census-row')).find((r) => r.dataset['patientId'] === PATIENT_IDS.high)!;
    await user.click(row);
    await user.click(await screen.findByTestId('downtime-summary'));
    const list = await screen.findByTestId('summary-medications');
    const names = within(list).getAllByTestId('medication-order').map((r) => r.dataset['status']);
    // Current orders only: the stopped ceftriaxone is not listed.
    expect(names).toEqual(['active', 'active', 'active', 'active']);
    expect(list).toHaveTextContent('Enoxaparin 40 mg/0.4 mL injection');
    expect(list).not.toHaveTextContent('Ceftriaxone');
  });
});

describe('possible double dose across the app', () => {
  it('flags the patient on the census, the chart header and the status bar until a review clears it', async () => {
    const { user, backend } = renderApp(sampleBackend());
    expect(await screen.findByTestId('status-double-dose')).toHaveTextContent('Possible double dose: 1 patient');
    const row = (await screen.findAllByTestId('census-row')).find((r) => r.dataset['patientId'] === PATIENT_IDS.high)!;
    expect(within(row).getByTestId('census-double-dose')).toBeInTheDocument();
    await user.click(row);

    // The header says so before the Medications tab is opened; the flag opens it.
    const flag = await screen.findByTestId('chart-double-dose');
    expect(backend.count('medications')).toBe(0);
    await user.click(flag);
    expect(screen.getByTestId('tab-medications')).toHaveAttribute('aria-selected', 'true');
    const banner = await screen.findByTestId('double-dose-banner');
    await user.click(within(banner).getByTestId('review-double-dose'));
    await user.click(screen.getByTestId('review-outcome-duplicate-record'));
    await user.type(screen.getByTestId('review-note'), 'One dose given at 08:07; second record made offline at another workstation.');
    await user.click(screen.getByTestId('review-double-dose-submit'));

    await waitFor(() => expect(screen.queryByTestId('double-dose-banner')).not.toBeInTheDocument());
    await waitFor(() => expect(screen.queryByTestId('chart-double-dose')).not.toBeInTheDocument());
    await waitFor(() => expect(screen.queryByTestId('status-double-dose')).not.toBeInTheDocument());
  });
});
