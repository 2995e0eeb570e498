/**
 * WebKitGTK reports a POSIX locale name such as "C" (LANG=C, usual on
 * kiosk images and CI machines) as `navigator.language`, which is not a
 * language tag: `Intl` refuses it with "invalid language tag", and a library
 * that formats with the browser's language when it loads (uPlot does) then
 * fails, so no trend plot is drawn. Wardbook's own formatting names its
 * locale; for such libraries, an invalid reported language is replaced by
 * `fallback`. A valid one is left alone.
 */
export function ensureValidLanguage(nav: Navigator = navigator, fallback = 'en-GB'): boolean {
  try {
    Intl.getCanonicalLocales(nav.language);
    return false;
  } catch {
    Object.defineProperty(nav, 'language', { value: fallback, configurable: true });
    Object.defineProperty(nav, 'languages', { value: [fallback], configurable: true });
    return true;
  }
}
