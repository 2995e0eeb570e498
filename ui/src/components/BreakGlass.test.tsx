import { fireEvent, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import type { ReasonLimits } from '../generated/ReasonLimits';
import { OUTSIDE_MRN, PATIENT_IDS, appInfo, sampleBackend } from '../backend/fixtures';
import { renderWith } from '../test/render';
import { BreakGlass } from './BreakGlass';

// Numbers unlike the protocol's 10 and 500, so the form is seen to use what the backend sent.
const LIMITS: ReasonLimits = { min_chars: 12, max_chars: 40 };

function setup() {
  const backend = sampleBackend({ appInfo: appInfo({ break_glass_reason: LIMITS }) });
  const onOpened = vi.fn();
  const utils = renderWith(backend, <BreakGlass limits={LIMITS} onOpened={onOpened} onCancel={() => undefined} />);
  const reason = screen.getByTestId<HTMLTextAreaElement>('break-glass-reason');
  return { ...utils, onOpened, reason };
}

describe('BreakGlass', () => {
  it('states and enforces the limits the backend sent', () => {
    const { reason } = setup();
    expect(screen.getByTestId('break-glass-form')).toHaveTextContent('at least 12 characters, at most 40');
    expect(reason).toHaveAttribute('maxLength', '40');
    expect(screen.getByTestId('break-glass-reason-count')).toHaveTextContent(
      '0 of at least 12 characters (spaces not counted) · 0 of at most 40 in all',
    );
  });

  it('counts the minimum without spaces, as the core does', async () => {
    const { user, reason, backend, onOpened } = setup();
    await user.type(screen.getByTestId('break-glass-mrn'), OUTSIDE_MRN);
    // Eleven letters among spaces (21 characters in all): one short.
    await user.type(reason, '  a b c d e f g h i j k  ');
    expect(screen.getByTestId('break-glass-reason-count')).toHaveTextContent('11 of at least 12 characters');
    await user.click(screen.getByTestId('break-glass-submit'));
    expect(screen.getByTestId('break-glass-error')).toHaveTextContent(
      'Give the clinical reason for emergency access in at least 12 characters (spaces not counted).',
    );
    expect(backend.count('breakGlass')).toBe(0);

    await user.type(reason, 'l');
    await user.click(screen.getByTestId('break-glass-submit'));
    await vi.waitFor(() => expect(onOpened).toHaveBeenCalledWith(PATIENT_IDS.outside));
    expect(backend.calls.find((c) => c.method === 'breakGlass')?.args).toEqual([{ mrn: OUTSIDE_MRN }]);
  });

  it('stops typing at the maximum and refuses a longer reason that got in anyway', async () => {
    const { user, reason, backend } = setup();
    await user.type(screen.getByTestId('break-glass-mrn'), OUTSIDE_MRN);
    await user.type(reason, 'x'.repeat(45));
    expect(reason.value).toHaveLength(40);

    // maxLength does not bind a value set by script (or counted differently): the form still checks.
    fireEvent.change(reason, { target: { value: 'Collapsed in the corridor, needs allergies' } });
    expect(screen.getByTestId('break-glass-reason-count')).toHaveTextContent('42 of at most 40 in all');
    await user.click(screen.getByTestId('break-glass-submit'));
    expect(screen.getByTestId('break-glass-error')).toHaveTextContent(
      'Shorten the reason for emergency access to at most 40 characters (it has 42).',
    );
    expect(backend.count('breakGlass')).toBe(0);
  });

  it('counts characters, not UTF-16 units, for the maximum', async () => {
    const { user, reason, backend, onOpened } = setup();
    await user.type(screen.getByTestId('break-glass-mrn'), OUTSIDE_MRN);
    // 40 characters, 41 UTF-16 units: within the limit as Rust counts.
    fireEvent.change(reason, { target: { value: `Ambulance 🚑 arrived, patient unconscious` } });
    expect(screen.getByTestId('break-glass-reason-count')).toHaveTextContent('40 of at most 40 in all');
    await user.click(screen.getByTestId('break-glass-submit'));
    await vi.waitFor(() => expect(onOpened).toHaveBeenCalledWith(PATIENT_IDS.outside));
    expect(backend.count('breakGlass')).toBe(1);
  });
});
