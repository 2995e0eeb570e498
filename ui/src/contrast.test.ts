// WCAG 2.1 AA contrast of the stylesheet's colour pairs: 4.5:1 for text,
// 3:1 for the edges of controls and the focus ring (1.4.3 and 1.4.11).
// Read from styles.css itself, so a colour changed there is checked here.
import { describe, expect, it } from 'vitest';

import css from './styles.css?raw';

function variable(name: string): string {
  const match = new RegExp(`--${name}:\\s*(#[0-9a-fA-F]{6})\\b`).exec(css);
  if (!match) throw new Error(`styles.css has no hex colour --${name}`);
  return match[1]!;
}

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

const WHITE = '#ffffff';
const TEXT = 4.5;
const NON_TEXT = 3;

// [what, foreground, background, minimum]
const pairs: [string, string, string, number][] = [
  ['body text on the page', variable('text'), variable('bg'), TEXT],
  ['muted text on the page', variable('muted'), variable('bg'), TEXT],
  ['muted text on a card', variable('muted'), variable('surface'), TEXT],
  ['muted text on the primary tint', variable('muted'), variable('primary-tint'), TEXT],
  ['primary-coloured text on a card', variable('primary'), variable('surface'), TEXT],
  ['white on primary (buttons, top bar)', WHITE, variable('primary'), TEXT],
  ['white on primary, hovered', WHITE, variable('primary-dark'), TEXT],
  ['high criticality on its tint', variable('high'), variable('high-bg'), TEXT],
  ['white on high criticality', WHITE, variable('high'), TEXT],
  ['warning text on its tint', variable('warn'), variable('warn-bg'), TEXT],
  ['body text on the confirmed tint', variable('text'), variable('ok-bg'), TEXT],
  ['MAR given on its tint', variable('given'), variable('given-bg'), TEXT],
  ['MAR due now on its tint', variable('due'), variable('due-bg'), TEXT],
  ['MAR overdue on its tint', variable('high'), variable('high-bg'), TEXT],
  ['MAR not given on its tint', variable('warn'), variable('warn-bg'), TEXT],
  ['MAR future (muted) on a card', variable('muted'), variable('surface'), TEXT],
  ['MAR given edge on a card', variable('given'), variable('surface'), NON_TEXT],
  ['MAR due-now edge on a card', variable('due'), variable('surface'), NON_TEXT],
  ['NEWS2 low: text on green', variable('text'), variable('news-low-bg'), TEXT],
  ['NEWS2 low-medium: text on yellow', variable('text'), variable('news-low-medium-bg'), TEXT],
  ['NEWS2 medium: text on orange', variable('text'), variable('news-medium-bg'), TEXT],
  ['NEWS2 high, double-dose flags: white on red', WHITE, variable('high'), TEXT],
  ['focus ring on the page', variable('focus'), variable('bg'), NON_TEXT],
  ['focus ring on a card', variable('focus'), variable('surface'), NON_TEXT],
  ['control edges on a card', variable('border-strong'), variable('surface'), NON_TEXT],
  ['control edges on the page', variable('border-strong'), variable('bg'), NON_TEXT],
];

describe('colour contrast (WCAG 2.1 AA)', () => {
  it('computes the WCAG ratio', () => {
    expect(contrast('#000000', WHITE)).toBeCloseTo(21, 5);
    expect(contrast('#777777', WHITE)).toBeCloseTo(4.48, 2);
  });

  it.each(pairs)('%s: %s on %s is at least %d:1', (_what, fg, bg, minimum) => {
    expect(contrast(fg, bg)).toBeGreaterThanOrEqual(minimum);
  });
});
