// A free-text reason checked against the limits the backend sends
// (`ReasonLimits`, from protocol/src/workstation.rs), counted as the Rust
// rule counts: characters are Unicode scalar values, not UTF-16 units, and
// "spaces" are Unicode's White_Space characters (Rust's `char::is_whitespace`;
// JavaScript's `\s` and `trim()` also take U+FEFF, which Rust does not).

import type { ReasonLimits } from './generated/ReasonLimits';

const WHITE_SPACE = /\p{White_Space}/gu;

/** Characters in all, as Rust's `chars().count()`. */
export function charCount(text: string): number {
  return [...text].length;
}

/** Characters other than whitespace: what the minimum counts. */
export function substantiveChars(text: string): number {
  return charCount(text.replace(WHITE_SPACE, ''));
}

/** What is wrong with `reason` (exactly as it will be sent), or null when it keeps within `limits`. */
export function reasonProblem(reason: string, limits: ReasonLimits): 'too-short' | 'too-long' | null {
  if (substantiveChars(reason) < limits.min_chars) return 'too-short';
  if (charCount(reason) > limits.max_chars) return 'too-long';
  return null;
}
