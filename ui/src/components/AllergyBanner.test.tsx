import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import type { Allergy } from '../generated/Allergy';
import { allergy as record, PATIENT_IDS } from '../backend/fixtures';
import { bannerAllergy } from '../backend/memory';
import { AllergyBanner } from './AllergyBanner';

const id = PATIENT_IDS.high;
const coding = (display: string) => ({ system: 'http://snomed.info/sct', code: display.toLowerCase(), display });
/** An allergy with the verdict the Rust core gives it (`Allergy::is_current`, through the generated table). */
const allergy = (patientId: string, overrides: Partial<Allergy> = {}) => bannerAllergy(record(patientId, overrides));

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

  it('shows the core’s verdict and does not decide again from the statuses', () => {
    // Statuses that would look current, marked not current by the core, and the reverse.
    const { rerender } = render(
      <AllergyBanner allergies={[{ allergy: record(id, { allergen: coding('Latex'), criticality: 'high' }), current: false }]} />,
    );
    expect(screen.getByTestId('allergy-summary')).toHaveTextContent('No active allergies');
    expect(screen.getByTestId('allergy-item')).toHaveClass('is-not-current');

    rerender(
      <AllergyBanner
        allergies={[
          { allergy: record(id, { allergen: coding('Latex'), clinical_status: 'inactive' }), current: false },
          { allergy: record(id, { allergen: coding('Sesame'), clinical_status: 'resolved' }), current: true },
        ]}
      />,
    );
    expect(screen.getByTestId('allergy-summary')).toHaveTextContent('1 active');
    const items = screen.getAllByTestId('allergy-item');
    expect(items[0]).toHaveTextContent('Sesame');
    expect(items[0]).toHaveClass('is-current');
  });
});
