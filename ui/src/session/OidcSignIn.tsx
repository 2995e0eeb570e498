import { useState, type FormEvent } from 'react';

import type { LoginProvider } from '../generated/LoginProvider';
import type { SessionInfo } from '../generated/SessionInfo';
import { toUiError, useBackend } from '../backend';
import { FormFooter, useFormSubmit } from '../components/FormFooter';

/**
 * While the hospital's sign-in runs in the system browser: Wardbook waits
 * for the browser to come back (the core listens on this computer) and
 * continues by itself. Cancel stops the wait.
 */
export function OidcWaiting({ provider, onCancel }: { provider: LoginProvider; onCancel: () => void }) {
  return (
    <div className="card auth-card" data-testid="oidc-waiting" role="status" aria-live="polite">
      <h1>Waiting for {provider.name}…</h1>
      <p>
        Finish signing in in the browser window that opened. Wardbook continues by itself once you have signed in there;
        your hospital password is typed in the browser, never in Wardbook.
      </p>
      <p className="hint">No browser window? Cancel and try again, or ask IT.</p>
      <div className="form-actions">
        <button type="button" className="button" data-testid="oidc-cancel" onClick={onCancel} autoFocus>
          Cancel
        </button>
      </div>
    </div>
  );
}

interface PinSignInProps {
  provider: LoginProvider;
  /** Why the form is shown (the browser sign-in could not reach the provider). */
  notice: string | null;
  onSignedIn: (session: SessionInfo) => void;
  /** The provider can be reached after all: back to the browser sign-in. */
  onOnline: (message: string) => void;
  onBack: () => void;
}

/**
 * Offline sign-in of a clinician who signs in through the hospital's
 * browser sign-in: user name and the workstation PIN they set on this
 * workstation. The core allows it only while the provider or the service
 * cannot be reached; wrong PINs count, and at the limit the PIN is wiped.
 */
export function PinSignInForm({ provider, notice, onSignedIn, onOnline, onBack }: PinSignInProps) {
  const backend = useBackend();
  const [username, setUsername] = useState('');
  const [pin, setPin] = useState('');
  const { error, setError, busy, run } = useFormSubmit();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (username.trim().length === 0 || pin.length === 0) {
      setError('Enter your user name and your workstation PIN.');
      return;
    }
    const credentials = { username: username.trim(), password: pin, provider: provider.id };
    // The PIN is not kept on screen, whatever the answer.
    setPin('');
    await run(async () => {
      try {
        onSignedIn(await backend.signInPin(credentials));
      } catch (e) {
        const failure = toUiError(e);
        if (failure.code === 'online_available') onOnline(failure.message);
        else throw failure;
      }
    });
  };

  return (
    <div className="card auth-card" data-testid="pin-sign-in">
      <form onSubmit={submit} aria-labelledby="pin-sign-in-title" noValidate>
        <h1 id="pin-sign-in-title">Sign in with your workstation PIN</h1>
        {notice && (
          <p className="offline-note" role="status" data-testid="pin-sign-in-notice">
            {notice}
          </p>
        )}
        <p className="muted">
          For {provider.name} accounts while it cannot be reached: the PIN you set on this workstation after signing in
          through {provider.name}. The session is marked offline.
        </p>
        <label className="field">
          <span>User name</span>
          <input
            data-testid="pin-username"
            name="username"
            autoComplete="username"
            autoFocus
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            spellCheck={false}
          />
        </label>
        <label className="field">
          <span>Workstation PIN</span>
          <input
            data-testid="pin-password"
            name="pin"
            type="password"
            autoComplete="off"
            value={pin}
            onChange={(e) => setPin(e.target.value)}
          />
        </label>
        <FormFooter testId="pin-sign-in" error={error} busy={busy} submitLabel="Sign in" busyLabel="Signing in…">
          <button type="button" className="button" data-testid="pin-sign-in-back" onClick={onBack}>
            Back
          </button>
        </FormFooter>
      </form>
    </div>
  );
}
