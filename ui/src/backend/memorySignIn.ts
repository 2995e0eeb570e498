// The in-memory backend's hospital sign-in: the providers the sign-in
// screen lists, the browser sign-in (OpenID Connect) with its waiting
// state, the workstation PIN and the offline PIN sign-in, as the Rust core
// behaves (src-tauri/session/{oidc,pin,providers}.rs), on synthetic users.
// A test plays the browser: `completeOidc(username)` is the browser coming
// back signed in, `failOidc(code)` a sign-in that could not start.

import type { Credentials } from '../generated/Credentials';
import type { PinEntry } from '../generated/PinEntry';
import type { SessionInfo } from '../generated/SessionInfo';
import type { SessionMode } from '../generated/SessionMode';
import type { SessionState } from '../generated/SessionState';
import type { SignInOptions } from '../generated/SignInOptions';
import type { UiError } from '../generated/UiError';

/** A synthetic user as the in-memory backend knows them. */
export interface MemoryUser {
  username: string;
  password: string;
  display_name: string;
  /** The OpenID provider (its id) of a clinician who signs in through the browser. */
  provider?: string;
  /** Their workstation PIN, once set on this workstation. */
  pin?: string | null;
}

/** What the sign-in needs of the rest of the in-memory backend. */
export interface SignInHost {
  users(): MemoryUser[];
  /** False when the sync status says offline. */
  online(): boolean;
  state(): SessionState;
  setState(state: SessionState): void;
  /** An active session for `user` (sets it, returns it). */
  start(user: MemoryUser, mode: SessionMode): SessionInfo;
}

/** The core's limit of wrong PINs before the PIN is wiped (the service's default). */
export const MAX_FAILED_PINS = 5;
/** The service's default `pin_min_length`. */
export const PIN_MIN_LENGTH = 6;

const LOCAL_ONLY: SignInOptions = { providers: [], local_accounts_for_clinicians: true, fresh: true, as_of: null };

function reject(code: string, message: string): Promise<never> {
  const error: UiError = { code, message };
  return Promise.reject(error);
}

/** The PIN rule of `protocol/src/workstation/session.rs` (`pin_problem`), in words. */
export function pinProblem(pin: string, confirm: string, minLength: number): string | null {
  const min = Math.max(4, minLength);
  const chars = [...pin];
  if (pin !== confirm) return 'The two PINs are not the same. Type the PIN again in both boxes.';
  if (chars.some((c) => /\s/.test(c))) return 'The PIN cannot contain spaces.';
  if (chars.length < min) return `The PIN must be at least ${min} characters long (digits, letters or both).`;
  if (chars.length > 64) return 'The PIN must be at most 64 characters long.';
  const repeated = chars.every((c) => c === chars[0]);
  const digits = /^\d+$/.test(pin) ? chars.map(Number) : null;
  const step = digits ? digits[1]! - digits[0]! : 0;
  const run = digits !== null && Math.abs(step) === 1 && digits.every((d, i) => i === 0 || d - digits[i - 1]! === step);
  return repeated || run
    ? 'The PIN is too easy to guess (one character repeated, or a run such as 123456). Choose another.'
    : null;
}

export class MemorySignIn {
  options: SignInOptions;
  private pending: { provider: string; resolve: (s: SessionState) => void; reject: (e: UiError) => void } | null = null;
  private readonly wrongPins = new Map<string, number>();

  constructor(
    private readonly host: SignInHost,
    options: SignInOptions | undefined,
  ) {
    this.options = structuredClone(options ?? LOCAL_ONLY);
  }

  loginProviders(): Promise<SignInOptions> {
    return Promise.resolve({ ...structuredClone(this.options), fresh: this.host.online() });
  }

  /** Pending until the test calls {@link completeOidc} or the UI cancels. */
  signInOidc(provider: string): Promise<SessionState> {
    if (!this.options.providers.some((p) => p.id === provider && p.kind === 'oidc')) {
      return reject('not_allowed', 'This service has no OpenID Connect provider of that id.');
    }
    if (!this.host.online()) {
      return reject(
        'oidc_unreachable',
        'The hospital sign-in or the sync service cannot be reached. If you set a workstation PIN on this workstation, sign in with your user name and PIN; otherwise follow the downtime procedure.',
      );
    }
    this.pending?.reject({ code: 'cancelled', message: 'The browser sign-in was cancelled.' });
    return new Promise((resolve, rejectWith) => {
      this.pending = { provider, resolve, reject: rejectWith };
    });
  }

  /** The provider a browser sign-in waits for, if any. */
  get waitingFor(): string | null {
    return this.pending?.provider ?? null;
  }

  /** The browser came back signed in as `username` (a user of the provider waited for). */
  completeOidc(username: string): void {
    const pending = this.pending;
    const user = this.host.users().find((u) => u.username === username && u.provider === pending?.provider);
    if (!pending || !user) throw new Error(`no browser sign-in waits for ${username}`);
    this.pending = null;
    if (user.pin) {
      pending.resolve({ state: 'active', session: this.host.start(user, 'online') });
    } else {
      const state: SessionState = {
        state: 'pin_setup',
        user_id: user.username,
        display_name: user.display_name,
        pin_min_length: PIN_MIN_LENGTH,
      };
      this.host.setState(state);
      pending.resolve(structuredClone(state));
    }
  }

  cancelOidc(): Promise<void> {
    this.pending?.reject({ code: 'cancelled', message: 'The browser sign-in was cancelled.' });
    this.pending = null;
    return Promise.resolve();
  }

  signInPin(credentials: Credentials): Promise<SessionInfo> {
    if (this.host.online()) {
      return reject(
        'online_available',
        'The hospital sign-in can be reached, so sign in through it in the browser. The workstation PIN is for when it cannot be reached.',
      );
    }
    const username = credentials.username.trim().toLowerCase();
    const user = this.host.users().find((u) => u.username === username && u.provider !== undefined);
    if (!user?.pin) {
      return reject(
        'offline_not_allowed',
        'The sync service cannot be reached, and offline sign-in is only possible for a clinician who signed in online on this workstation recently.',
      );
    }
    const checked = this.checkPin(user, credentials.password);
    return checked ?? Promise.resolve(this.host.start(user, 'offline'));
  }

  /** A wrong PIN counts; at the limit the PIN is wiped. Undefined when right. */
  checkPin(user: MemoryUser, pin: string): Promise<never> | undefined {
    if (user.pin === pin) {
      this.wrongPins.delete(user.username);
      return undefined;
    }
    const wrong = (this.wrongPins.get(user.username) ?? 0) + 1;
    this.wrongPins.set(user.username, wrong);
    if (wrong < MAX_FAILED_PINS) {
      return reject('bad_credentials', 'The user name or PIN was not accepted. Check them and try again.');
    }
    user.pin = null;
    this.wrongPins.delete(user.username);
    return reject(
      'verifier_wiped',
      'Too many wrong PINs were entered, so this clinician’s workstation PIN is wiped. Sign in through the hospital sign-in (online) to set a new one.',
    );
  }

  setPin(entry: PinEntry): Promise<SessionInfo> {
    const state = this.host.state();
    if (state.state !== 'pin_setup') {
      return reject('not_allowed', 'A workstation PIN is set after a sign-in through the hospital’s browser sign-in.');
    }
    const problem = pinProblem(entry.pin, entry.confirm, state.pin_min_length);
    if (problem) return reject('pin_invalid', problem);
    const user = this.host.users().find((u) => u.username === state.user_id);
    if (!user) return reject('signed_out', 'No one is signed in.');
    user.pin = entry.pin;
    return Promise.resolve(this.host.start(user, 'online'));
  }
}
