import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { allergy, PATIENT_IDS } from '../backend/fixtures';
import { AllergyBanner } from './AllergyBanner';

const id = PATIENT_IDS.high;
const coding = (display: string) => ({ system: 'http://snomed.info/sct', code: display.toLowerCase(), display });

describe('AllergyBanner', () => {
  it('says "No known allergies" when there are none', () => {
    render(<AllergyBanner allergies={[]} />);
    expect(screen.getByTestId('no-known-allergies')).toHaveTextContent('No known allergies');
    expect(screen.getByTestId('allergy-banner')).toHaveClass('tone-none');
    expect(screen.queryAllByTestId('allergy-item')).toHaveLength(0);
  });

  it('lists several allergies, high criticality first and labelled HIGH in words', () => {
    render(
      <AllergyBanner
        allergies={[
          allergy(id, { allergen: coding('Latex'), criticality: 'low' }),
          allergy(id, { allergen: coding('Penicillin G'), criticality: 'high' }),
          allergy(id, { allergen: coding('Codeine'), criticality: 'unable-to-assess', type: 'intolerance' }),
        ]}
      />,
    );
    const items = screen.getAllByTestId('allergy-item');
    expect(items).toHaveLength(3);
    expect(items[0]).toHaveTextContent('Penicillin G');
    expect(within(items[0]!).getByTestId('criticality')).toHaveTextContent('HIGH');
    expect(screen.getByTestId('allergy-summary')).toHaveTextContent('3 active · 1 HIGH criticality');
    expect(screen.getByTestId('allergy-banner')).toHaveClass('tone-high');
  });

  it('marks unverified (unconfirmed) allergies in words', () => {
    render(<AllergyBanner allergies={[allergy(id, { allergen: coding('Peanut'), verification_status: 'unconfirmed' })]} />);
    const item = screen.getByTestId('allergy-item');
    expect(within(item).getByTestId('verification')).toHaveTextContent('unconfirmed');
    expect(screen.getByTestId('allergy-banner')).toHaveClass('tone-present');
  });

  it('does not count refuted or entered-in-error entries as current', () => {
    render(
      <AllergyBanner
        allergies={[
          allergy(id, { allergen: coding('Latex'), criticality: 'high', verification_status: 'refuted' }),
          allergy(id, { allergen: coding('Aspirin'), verification_status: 'entered-in-error' }),
        ]}
      />,
    );
    expect(screen.getByTestId('allergy-summary')).toHaveTextContent('No active allergies');
    expect(screen.getByTestId('allergy-banner')).toHaveClass('tone-none');
  });
});
