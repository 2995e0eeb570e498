import { useState, type FormEvent } from 'react';

import type { SessionInfo } from '../generated/SessionInfo';
import { useBackend } from '../backend';
import { FormFooter, useFormSubmit } from '../components/FormFooter';
import { SignInForm } from './SignIn';
import { LockIcon } from '../components/Icons';

interface Props {
  displayName: string;
  onUnlocked: (session: SessionInfo) => void;
}

/**
 * Shown while the session is locked. It holds no patient data at all: the
 * census and chart are unmounted, not hidden. The same clinician unlocks with
 * the password; anyone else signs in (ending the locked session).
 */
export function LockScreen({ displayName, onUnlocked }: Props) {
  const backend = useBackend();
  const [password, setPassword] = useState('');
  const { error, setError, busy, run } = useFormSubmit();
  const [switching, setSwitching] = useState(false);

  if (switching) {
    return (
      <div className="auth-screen">
        <SignInForm heading="Sign in as someone else" onSignedIn={onUnlocked} onCancel={() => setSwitching(false)} />
      </div>
    );
  }

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (password.length === 0) {
      setError('Enter your password to unlock.');
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
          <span>Password</span>
          <input
            data-testid="unlock-password"
            type="password"
            autoComplete="current-password"
            autoFocus
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <FormFooter testId="unlock" error={error} busy={busy} submitLabel="Unlock" busyLabel="Unlocking…">
          <button type="button" className="button" data-testid="switch-user" onClick={() => setSwitching(true)}>
            Sign in as someone else
          </button>
        </FormFooter>
      </form>
    </div>
  );
}
