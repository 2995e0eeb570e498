import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { patient, sampleBackend } from '../backend/fixtures';
import type { ChartRecord } from '../backend/memory';
import type { Patient } from '../generated/Patient';
import { renderWith } from '../test/render';
import { Census } from './Census';

let next = 0;

/** A chart of a synthetic patient on `location`, in `bed`. */
function chart(family: string, location: string | null, bed: string | null): ChartRecord {
  next += 1;
  const p: Patient = patient({
    id: `0190f5a0-0000-7000-8000-${String(900 + next).padStart(12, '0')}`,
    mrn: `SYN-${String(300000 + next)}`,
    family_name: family,
    location,
    bed,
  });
  return { patient: p, age_years: 60, allergies: [] };
}

/** The census as shown: family name, location and bed of each row, top to bottom. */
async function shownRows(): Promise<string[][]> {
  const rows = await screen.findAllByTestId('census-row');
  return rows.map((row) => {
    const cells = within(row).getAllByRole('cell');
    const name = within(row).getByRole('rowheader').textContent ?? '';
    // Cells after the name: MRN, age, sex, location, bed, allergies.
    return [name.split(',')[0] ?? '', cells[3]?.textContent ?? '', cells[4]?.textContent ?? ''];
  });
}

describe('Census', () => {
  it('has a Bed column right after Location', async () => {
    renderWith(sampleBackend(), <Census onOpenChart={() => undefined} />);
    await screen.findAllByTestId('census-row');
    const headers = screen.getAllByRole('columnheader').map((h) => h.textContent);
    expect(headers).toEqual(['Patient', 'MRN', 'Age', 'Sex', 'Location', 'Bed', 'Allergies']);
  });

  it('shows each bed and orders a ward by bed as it is walked: 2 before 10, no bed last', async () => {
    const charts = [
      chart('Able', 'Ward 7B', '10'),
      chart('Baker', 'Ward 7B', null),
      chart('Carter', 'Ward 7B', '2'),
      chart('Drake', 'Ward 7A', '11'),
      chart('Evans', null, null),
      chart('Foster', 'Ward 7A', '9'),
      chart('Adams', 'Ward 7B', null),
    ];
    renderWith(sampleBackend({ charts }), <Census onOpenChart={() => undefined} />);
    expect(await shownRows()).toEqual([
      ['FOSTER', 'Ward 7A', '9'],
      ['DRAKE', 'Ward 7A', '11'],
      ['CARTER', 'Ward 7B', '2'],
      ['ABLE', 'Ward 7B', '10'],
      // Not yet in a bed: after the beds, by name.
      ['ADAMS', 'Ward 7B', '—No bed'],
      ['BAKER', 'Ward 7B', '—No bed'],
      ['EVANS', 'Unassigned', '—No bed'],
    ]);
  });
});
