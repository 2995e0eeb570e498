import { useState, type FormEvent } from 'react';

import type { SecretKind } from '../generated/SecretKind';
import type { SessionInfo } from '../generated/SessionInfo';
import type { SessionState } from '../generated/SessionState';
import { useBackend } from '../backend';
import { FormFooter, useFormSubmit } from '../components/FormFooter';
import { SignInForm } from './SignIn';
import { LockIcon } from '../components/Icons';

interface Props {
  displayName: string;
  /** The password, or (after the hospital's browser sign-in) the workstation PIN. */
  unlockWith: SecretKind;
  onUnlocked: (session: SessionInfo) => void;
  /** Another clinician's browser sign-in: the new session's state. */
  onSession: (state: SessionState) => void;
}

/**
 * Shown while the session is locked. It holds no patient data at all: the
 * census and chart are unmounted, not hidden. The same clinician unlocks with
 * the password, or the workstation PIN after a browser sign-in; anyone else
 * signs in (ending the locked session).
 */
export function LockScreen({ displayName, unlockWith, onUnlocked, onSession }: Props) {
  const backend = useBackend();
  const [password, setPassword] = useState('');
  const { error, setError, busy, run } = useFormSubmit();
  const [switching, setSwitching] = useState(false);
  const pin = unlockWith === 'pin';

  if (switching) {
    return (
      <div className="auth-screen">
        <SignInForm
          heading="Sign in as someone else"
          onSignedIn={onUnlocked}
          onSession={onSession}
          onCancel={() => setSwitching(false)}
        />
      </div>
    );
  }

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (password.length === 0) {
      setError(pin ? 'Enter your workstation PIN to unlock.' : 'Enter your password to unlock.');
      return;
    }
    const given = password;
    // The password is not kept on screen, whatever the answer.
    setPassword('');
    await run(async () => onUnlocked(await backend.unlock(given)));
  };

  return (
    <div className="auth-screen" data-testid="lock-screen">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="lock-title" noValidate>
        <h1 id="lock-title">
          <LockIcon /> Wardbook is locked
        </h1>
        <p>
          Signed in: <strong data-testid="locked-user">{displayName}</strong>
        </p>
        <label className="field">
          <span>{pin ? 'Workstation PIN' : 'Password'}</span>
          <input
            data-testid="unlock-password"
            type="password"
            autoComplete={pin ? 'off' : 'current-password'}
            autoFocus
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {pin && (
          <p className="hint" data-testid="unlock-pin-hint">
            Forgotten the PIN? Choose “Sign in as someone else” and sign in through the hospital sign-in again.
          </p>
        )}
        <FormFooter testId="unlock" error={error} busy={busy} submitLabel="Unlock" busyLabel="Unlocking…">
          <button type="button" className="button" data-testid="switch-user" onClick={() => setSwitching(true)}>
            Sign in as someone else
          </button>
        </FormFooter>
      </form>
    </div>
  );
}
