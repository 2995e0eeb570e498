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

describe('durations and units', async () => {
  const { formatAgo, formatDuration, formatUnit } = await import('./format');
  it('says how long ago in words', () => {
    const now = new Date('2025-03-12T12:00:00Z');
    expect(formatAgo('2025-03-12T11:59:30Z', now)).toBe('just now');
    expect(formatAgo('2025-03-12T11:57:00Z', now)).toBe('3 min ago');
    expect(formatAgo('2025-03-12T09:55:00Z', now)).toBe('2 h 5 min ago');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3 d 4 h');
  });
  it('writes UCUM units as clinicians do', () => {
    expect(formatUnit('mm[Hg]')).toBe('mmHg');
    expect(formatUnit('Cel')).toBe('°C');
    expect(formatUnit('/min')).toBe('/min');
  });
});
