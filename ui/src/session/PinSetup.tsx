import { useState, type FormEvent } from 'react';

import type { SessionInfo } from '../generated/SessionInfo';
import { useBackend } from '../backend';
import { FormFooter, useFormSubmit } from '../components/FormFooter';

interface Props {
  displayName: string;
  /** The service's shortest PIN (the core never accepts fewer than 4). */
  minLength: number;
  onDone: (session: SessionInfo) => void;
  onSignOut: () => void;
}

/**
 * After a sign-in through the hospital's browser sign-in, before any
 * patient data: the clinician chooses the workstation PIN that unlocks
 * their session and signs them in here while offline. Typed twice. The core
 * applies the rule (length, not one repeated character, not a run such as
 * 123456) and answers in words; the form checks the length and the match
 * first so the clinician hears at once.
 */
export function PinSetup({ displayName, minLength, onDone, onSignOut }: Props) {
  const backend = useBackend();
  const [pin, setPin] = useState('');
  const [confirm, setConfirm] = useState('');
  const { error, setError, busy, run } = useFormSubmit();
  const shortest = Math.max(4, minLength);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if ([...pin].length < shortest) {
      setError(`The PIN must be at least ${shortest} characters long (digits, letters or both).`);
      return;
    }
    if (pin !== confirm) {
      setError('The two PINs are not the same. Type the PIN again in both boxes.');
      setConfirm('');
      return;
    }
    const entry = { pin, confirm };
    setPin('');
    setConfirm('');
    await run(async () => onDone(await backend.setPin(entry)));
  };

  return (
    <div className="auth-screen">
      <div className="card auth-card" data-testid="pin-setup">
        <form onSubmit={submit} aria-labelledby="pin-setup-title" noValidate>
          <h1 id="pin-setup-title">Choose a workstation PIN</h1>
          <p>
            Signed in: <strong data-testid="pin-setup-user">{displayName}</strong>
          </p>
          <p className="muted">
            The PIN unlocks Wardbook on this workstation when the screen locks, and signs you in here while the hospital
            sign-in cannot be reached. At least {shortest} characters; not one character repeated or a run such as 123456.
            Wrong PINs are counted: too many and it is wiped.
          </p>
          <label className="field">
            <span>New workstation PIN</span>
            <input
              data-testid="pin-new"
              type="password"
              autoComplete="new-password"
              autoFocus
              value={pin}
              onChange={(e) => setPin(e.target.value)}
            />
          </label>
          <label className="field">
            <span>The same PIN again</span>
            <input
              data-testid="pin-confirm"
              type="password"
              autoComplete="new-password"
              value={confirm}
              onChange={(e) => setConfirm(e.target.value)}
            />
          </label>
          <FormFooter testId="pin-setup" error={error} busy={busy} submitLabel="Set PIN" busyLabel="Setting…">
            <button type="button" className="button" data-testid="pin-setup-sign-out" onClick={onSignOut}>
              Sign out
            </button>
          </FormFooter>
        </form>
      </div>
    </div>
  );
}
