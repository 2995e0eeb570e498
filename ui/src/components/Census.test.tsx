import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { PATIENT_IDS, patient, sampleBackend } from '../backend/fixtures';
import type { ChartRecord } from '../backend/memory';
import type { News2Score } from '../generated/News2Score';
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
  it('has a Bed column right after Location, then NEWS2 and the medication columns', async () => {
    renderWith(sampleBackend(), <Census onOpenChart={() => undefined} />);
    await screen.findAllByTestId('census-row');
    const headers = screen.getAllByRole('columnheader').map((h) => h.textContent);
    expect(headers).toEqual(['Patient', 'MRN', 'Age', 'Sex', 'Location', 'Bed', 'Allergies', 'NEWS2', 'Next due', 'Overdue']);
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

  it('shows NEWS2 with its trigger colour and risk in words, "incomplete" when a parameter is missing, the scores on hover', async () => {
    const score = (total: number, risk: News2Score['risk'], complete = true, anyRed = false): News2Score => ({
      total,
      risk,
      any_red: anyRed,
      complete,
      missing: complete ? [] : ['consciousness'],
      parameters: [
        { parameter: 'respiration-rate', score: anyRed ? 3 : 1 },
        { parameter: 'pulse', score: total - (anyRed ? 3 : 1) },
      ],
    });
    const charts = [chart('Low', 'Ward 7B', '1'), chart('Red', 'Ward 7B', '2'), chart('Medium', 'Ward 7B', '3'), chart('High', 'Ward 7B', '4'), chart('Partial', 'Ward 7B', '5'), chart('Unscored', 'Ward 7B', '6')];
    const ids = charts.map((c) => c.patient.id);
    const news2: Record<string, News2Score | null> = {
      [ids[0]!]: score(2, 'low'),
      [ids[1]!]: score(3, 'low-medium', true, true),
      [ids[2]!]: score(5, 'medium'),
      [ids[3]!]: score(8, 'high'),
      [ids[4]!]: score(1, 'low', false),
      [ids[5]!]: null,
    };
    renderWith(sampleBackend({ charts, news2 }), <Census onOpenChart={() => undefined} />);
    await screen.findAllByTestId('census-row');
    const cells = screen.getAllByTestId('census-news2');
    expect(cells.map((c) => [c.dataset['risk'], c.className, c.textContent])).toEqual([
      ['low', 'news2 news2-low', '2Low'],
      ['low-medium', 'news2 news2-low-medium', '3Low-medium▲a parameter scored 3'],
      ['medium', 'news2 news2-medium', '5Medium'],
      ['high', 'news2 news2-high', '8High'],
      ['low', 'news2 news2-low news2-incomplete', '1Lowincomplete'],
      ['none', 'news2 news2-none', '—No NEWS2: no vital signs'],
    ]);
    expect(cells[4]).toHaveAttribute('data-complete', 'false');
    expect(cells[3]!.title).toContain('NEWS2 8: High risk');
    expect(cells[3]!.title).toContain('Respiration rate: 1');
    expect(cells[3]!.title).toContain('Pulse: 7');
    expect(cells[4]!.title).toContain('Missing or too old: Consciousness');
  });

  it('shows the next dose due, overdue doses highlighted, and a possible double dose', async () => {
    renderWith(sampleBackend(), <Census onOpenChart={() => undefined} />);
    const rows = await screen.findAllByTestId('census-row');
    const byId = (id: string) => rows.find((r) => r.dataset['patientId'] === id)!;
    // Okafor: amoxicillin due now; two records of one metoprolol dose.
    const okafor = byId(PATIENT_IDS.high);
    expect(within(okafor).getByTestId('census-next-due')).toHaveTextContent('Amoxicillin 500 mg capsule');
    expect(within(okafor).getByTestId('census-overdue')).toHaveAttribute('data-count', '0');
    expect(within(okafor).getByTestId('census-double-dose')).toHaveTextContent('Possible double dose');
    expect(okafor).toHaveAttribute('data-double-dose', 'true');
    // Marchetti: ceftriaxone overdue.
    const marchetti = byId(PATIENT_IDS.mixed);
    const overdue = within(marchetti).getByTestId('census-overdue');
    expect(overdue).toHaveAttribute('data-count', '1');
    expect(overdue).toHaveClass('cell-overdue');
    expect(overdue).toHaveTextContent('⚠ 1 overdue');
    expect(within(marchetti).queryByTestId('census-double-dose')).not.toBeInTheDocument();
    expect(within(byId(PATIENT_IDS.none)).getByTestId('census-next-due')).toHaveTextContent('Omeprazole 20 mg capsule');
  });
});
