import { describe, expect, it } from 'vitest';

import { pinProblem } from './memorySignIn';

// The same table as protocol/src/workstation/session.rs (`pin_problem`):
// the in-memory backend refuses exactly the PINs the core refuses.
describe('the in-memory backend’s PIN rule', () => {
  it('is the core’s at each boundary', () => {
    const cases: Array<[string, string, number, RegExp | null]> = [
      ['480213', '480213', 6, null],
      ['48021', '48021', 6, /at least 6/],
      ['4802', '4802', 4, null],
      ['480', '480', 2, /at least 4/],
      ['ward7b', 'ward7b', 6, null],
      ['Ward7b', 'ward7b', 6, /not the same/],
      ['480 213', '480 213', 6, /spaces/],
      ['111111', '111111', 6, /too easy/],
      ['aaaaaa', 'aaaaaa', 6, /too easy/],
      ['123456', '123456', 6, /too easy/],
      ['987654', '987654', 6, /too easy/],
      ['123457', '123457', 6, null],
      ['ß9ü8é7', 'ß9ü8é7', 6, null],
      ['7'.repeat(64), '7'.repeat(64), 6, /too easy/],
      [`${'7'.repeat(64)}1`, `${'7'.repeat(64)}1`, 6, /at most 64/],
    ];
    for (const [pin, confirm, min, expected] of cases) {
      const problem = pinProblem(pin, confirm, min);
      if (expected === null) expect(problem, pin).toBeNull();
      else expect(problem, pin).toMatch(expected);
    }
  });
});
