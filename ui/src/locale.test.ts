import { describe, expect, it } from 'vitest';

import { ensureValidLanguage } from './locale';

function fakeNavigator(language: string): Navigator {
  const nav = Object.create(Navigator.prototype) as Navigator;
  Object.defineProperty(nav, 'language', { value: language, configurable: true });
  return nav;
}

describe('ensureValidLanguage', () => {
  it('replaces the POSIX locale "C", which Intl refuses, so plotting libraries can load', () => {
    const nav = fakeNavigator('C');
    expect(() => new Intl.NumberFormat(nav.language)).toThrow(RangeError);
    expect(ensureValidLanguage(nav)).toBe(true);
    expect(nav.language).toBe('en-GB');
    expect(nav.languages).toEqual(['en-GB']);
    expect(() => new Intl.NumberFormat(nav.language)).not.toThrow();
  });

  it('leaves a valid language alone', () => {
    const nav = fakeNavigator('fr-CA');
    expect(ensureValidLanguage(nav)).toBe(false);
    expect(nav.language).toBe('fr-CA');
  });
});
