import { useState, type FormEvent } from 'react';

import type { SessionInfo } from '../generated/SessionInfo';
import { toUiError, useBackend } from '../backend';
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
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
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
    setBusy(true);
    setError(null);
    try {
      const session = await backend.unlock(password);
      onUnlocked(session);
    } catch (e) {
      setError(toUiError(e).message);
    } finally {
      setPassword('');
      setBusy(false);
    }
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
        {error && (
          <p className="form-error" role="alert" data-testid="unlock-error">
            {error}
          </p>
        )}
        <div className="form-actions">
          <button type="submit" className="button primary" data-testid="unlock-submit" disabled={busy}>
            {busy ? 'Unlocking…' : 'Unlock'}
          </button>
          <button type="button" className="button" data-testid="switch-user" onClick={() => setSwitching(true)}>
            Sign in as someone else
          </button>
        </div>
      </form>
    </div>
  );
}
