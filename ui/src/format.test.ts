import { describe, expect, it } from 'vitest';

import { toUiError } from './backend';
import { ageInYears, formatDate, formatName } from './format';

describe('format', () => {
  it('formats date-only values without time zone shifts', () => {
    expect(formatDate('1948-11-02')).toBe('02 Nov 1948');
    expect(formatDate('2000-01-01')).toBe('01 Jan 2000');
    expect(formatDate('not a date')).toBe('not a date');
  });

  it('computes age in whole years, birthday included', () => {
    const today = new Date(2025, 2, 12); // 12 Mar 2025, local time
    expect(ageInYears('1954-03-12', today)).toBe(71);
    expect(ageInYears('1954-03-13', today)).toBe(70);
    expect(ageInYears('1992-02-29', today)).toBe(33);
    expect(ageInYears('garbage', today)).toBeNull();
  });

  it('writes names as FAMILY, Given', () => {
    expect(formatName("O'Neill", 'Siobhán')).toBe("O'NEILL, Siobhán");
  });
});

describe('toUiError', () => {
  it('keeps UiError objects and wraps anything else', () => {
    expect(toUiError({ code: 'x', message: 'm', extra: 1 })).toEqual({ code: 'x', message: 'm' });
    expect(toUiError('boom')).toEqual({ code: 'unexpected', message: 'boom' });
    expect(toUiError(new Error('bad'))).toEqual({ code: 'unexpected', message: 'bad' });
    expect(toUiError(undefined).message).toMatch(/try again/i);
  });
});
