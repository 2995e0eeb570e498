import { useEffect, useState, type FormEvent } from 'react';

import type { Credentials } from '../generated/Credentials';
import type { LoginProvider } from '../generated/LoginProvider';
import type { SessionInfo } from '../generated/SessionInfo';
import type { SessionState } from '../generated/SessionState';
import type { SignInOptions } from '../generated/SignInOptions';
import { toUiError, useBackend } from '../backend';
import { FormFooter, useFormSubmit } from '../components/FormFooter';
import { OidcWaiting, PinSignInForm } from './OidcSignIn';

interface Props {
  onSignedIn: (session: SessionInfo) => void;
  /**
   * After a browser sign-in: the new session's state (active, or waiting
   * for its workstation PIN). Without it, an active one goes to `onSignedIn`.
   */
  onSession?: (state: SessionState) => void;
  /** Shown above the form (e.g. who was signed in before). */
  heading?: string;
  onCancel?: () => void;
}

/** The value of the account select for a local Wardbook account. */
const LOCAL = '';

type Mode =
  | { kind: 'choose' }
  /** The IT emergency account: a local account when clinicians have none. */
  | { kind: 'emergency' }
  | { kind: 'waiting'; provider: LoginProvider }
  | { kind: 'pin'; provider: LoginProvider; notice: string | null };

/**
 * The sign-in screen: the hospital's providers (the service's list, or the
 * one this workstation kept, so it is the same offline). An OpenID Connect
 * provider signs in through the system browser, or offline with the
 * workstation PIN; an LDAP provider or a local account with the password
 * form. Without providers (or before the list arrives) it is the password
 * form of a local account.
 */
export function SignInForm({ onSignedIn, onSession, heading = 'Sign in to Wardbook', onCancel }: Props) {
  const backend = useBackend();
  const [options, setOptions] = useState<SignInOptions | null>(null);
  const [mode, setMode] = useState<Mode>({ kind: 'choose' });
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    backend.loginProviders().then(
      (o) => live && setOptions(o),
      // The password form still works: the screen as it was before providers.
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [backend]);

  const providers = options?.providers ?? [];
  const oidc = providers.filter((p) => p.kind === 'oidc');
  const ldap = providers.filter((p) => p.kind === 'ldap');
  const localAllowed = options?.local_accounts_for_clinicians ?? true;

  const toSession = (state: SessionState) => {
    if (onSession) onSession(state);
    else if (state.state === 'active') onSignedIn(state.session);
  };

  const startOidc = async (provider: LoginProvider) => {
    setNotice(null);
    setMode({ kind: 'waiting', provider });
    try {
      toSession(await backend.signInOidc(provider.id));
    } catch (e) {
      const error = toUiError(e);
      if (error.code === 'oidc_unreachable') {
        setMode({ kind: 'pin', provider, notice: error.message });
      } else {
        setMode({ kind: 'choose' });
        if (error.code !== 'cancelled') setNotice(error.message);
      }
    }
  };

  if (mode.kind === 'waiting') {
    return <OidcWaiting provider={mode.provider} onCancel={() => void backend.cancelOidc()} />;
  }
  if (mode.kind === 'pin') {
    return (
      <PinSignInForm
        provider={mode.provider}
        notice={mode.notice}
        onSignedIn={onSignedIn}
        onOnline={(message) => {
          setMode({ kind: 'choose' });
          setNotice(message);
        }}
        onBack={() => setMode({ kind: 'choose' })}
      />
    );
  }

  const emergency = mode.kind === 'emergency';
  const choices: Array<{ id: string; name: string }> = emergency
    ? [{ id: LOCAL, name: 'IT emergency account' }]
    : [...ldap.map((p) => ({ id: p.id, name: p.name })), ...(localAllowed ? [{ id: LOCAL, name: 'Wardbook account' }] : [])];

  return (
    <div className="card auth-card" data-testid="sign-in-screen">
      <h1 id="sign-in-title">{emergency ? 'IT emergency account' : heading}</h1>
      {notice && (
        <p className="form-error" role="alert" data-testid="sign-in-notice">
          {notice}
        </p>
      )}
      {!emergency && oidc.length > 0 && (
        <section className="auth-providers" aria-label="Hospital sign-in" data-testid="oidc-providers">
          {oidc.map((p) => (
            <div key={p.id} className="auth-provider">
              <button type="button" className="button primary" data-testid={`sign-in-oidc-${p.id}`} onClick={() => void startOidc(p)}>
                Sign in with {p.name}
              </button>
              <button
                type="button"
                className="link-button"
                data-testid={`sign-in-pin-${p.id}`}
                onClick={() => setMode({ kind: 'pin', provider: p, notice: null })}
              >
                Offline? Sign in with your workstation PIN
              </button>
            </div>
          ))}
        </section>
      )}
      {choices.length > 0 && (
        <PasswordForm
          key={emergency ? 'emergency' : 'choose'}
          choices={choices}
          afterOidc={!emergency && oidc.length > 0}
          onSignedIn={onSignedIn}
          onCancel={emergency ? () => setMode({ kind: 'choose' }) : onCancel}
        />
      )}
      {choices.length === 0 && onCancel && (
        <div className="form-actions">
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      )}
      {!emergency && !localAllowed && (
        <button type="button" className="link-button hint" data-testid="sign-in-emergency" onClick={() => setMode({ kind: 'emergency' })}>
          IT emergency account
        </button>
      )}
      {options && !options.fresh && providers.length > 0 && (
        <p className="hint" data-testid="sign-in-offline-list">
          The sync service cannot be reached: these are the sign-in choices it listed last.
        </p>
      )}
    </div>
  );
}

interface PasswordProps {
  /** The accounts the password may be for: LDAP providers by id, a local account as {@link LOCAL}. */
  choices: Array<{ id: string; name: string }>;
  /** Shown under the browser sign-in buttons: says it is the other way in. */
  afterOidc: boolean;
  onSignedIn: (session: SessionInfo) => void;
  onCancel?: (() => void) | undefined;
}

/** User name and password, for a local account or an LDAP directory. Online when the server answers, else offline. */
function PasswordForm({ choices, afterOidc, onSignedIn, onCancel }: PasswordProps) {
  const backend = useBackend();
  // The first choice until the clinician picks one (the list may arrive after the form).
  const [chosen, setChosen] = useState<string | null>(null);
  const account = choices.some((c) => c.id === chosen) ? (chosen ?? LOCAL) : (choices[0]?.id ?? LOCAL);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const { error, setError, busy, run } = useFormSubmit();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (username.trim().length === 0 || password.length === 0) {
      setError('Enter your username and password.');
      return;
    }
    const credentials: Credentials = { username: username.trim(), password };
    if (account !== LOCAL) credentials.provider = account;
    // The password is not kept on screen, whatever the answer.
    setPassword('');
    await run(async () => onSignedIn(await backend.signIn(credentials)));
  };

  const only = choices.length === 1 ? choices[0] : undefined;
  return (
    <form data-testid="sign-in-form" onSubmit={submit} aria-labelledby="sign-in-title" noValidate>
      {afterOidc && <p className="muted">Or sign in with a password:</p>}
      {!afterOidc && (
        <p className="muted">
          Use your hospital account. Without a connection to the server you can still sign in on a workstation where you
          signed in recently; the session is then marked offline.
        </p>
      )}
      {only && only.id !== LOCAL && <p data-testid="sign-in-account">{only.name} account</p>}
      {!only && (
        <label className="field">
          <span>Account</span>
          <select data-testid="sign-in-provider" value={account} onChange={(e) => setChosen(e.target.value)}>
            {choices.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
      )}
      <label className="field">
        <span>Username</span>
        <input
          data-testid="sign-in-username"
          name="username"
          autoComplete="username"
          autoFocus={!afterOidc}
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          spellCheck={false}
        />
      </label>
      <label className="field">
        <span>Password</span>
        <input
          data-testid="sign-in-password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      <FormFooter testId="sign-in" error={error} busy={busy} submitLabel="Sign in" busyLabel="Signing in…" onCancel={onCancel} />
    </form>
  );
}
