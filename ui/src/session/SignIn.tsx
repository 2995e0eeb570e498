import { useState, type FormEvent } from 'react';

import type { Credentials } from '../generated/Credentials';
import type { SessionInfo } from '../generated/SessionInfo';
import { useBackend } from '../backend';
import { FormFooter, useFormSubmit } from '../components/FormFooter';

interface Props {
  onSignedIn: (session: SessionInfo) => void;
  /** Shown above the form (e.g. who was signed in before). */
  heading?: string;
  onCancel?: () => void;
}

/** Username and password. Online when the server answers, else offline against this workstation. */
export function SignInForm({ onSignedIn, heading = 'Sign in to Wardbook', onCancel }: Props) {
  const backend = useBackend();
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
    // The password is not kept on screen, whatever the answer.
    setPassword('');
    await run(async () => onSignedIn(await backend.signIn(credentials)));
  };

  return (
    <form className="card auth-card" data-testid="sign-in-form" onSubmit={submit} aria-labelledby="sign-in-title" noValidate>
      <h1 id="sign-in-title">{heading}</h1>
      <p className="muted">
        Use your hospital account. Without a connection to the server you can still sign in on a workstation where you
        signed in recently; the session is then marked offline.
      </p>
      <label className="field">
        <span>Username</span>
        <input
          data-testid="sign-in-username"
          name="username"
          autoComplete="username"
          autoFocus
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
