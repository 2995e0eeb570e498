import { act, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import type { SignInOptions } from '../generated/SignInOptions';
import { sampleBackend } from '../backend/fixtures';
import type { MemoryUser } from '../backend/memory';
import { renderApp } from '../test/render';

const SSO = { id: 'hospital-sso', name: 'Synthetic Hospital SSO', kind: 'oidc' as const };
const AD = { id: 'hospital-ad', name: 'Hospital directory', kind: 'ldap' as const };

function options(overrides: Partial<SignInOptions> = {}): SignInOptions {
  return { providers: [SSO, AD], local_accounts_for_clinicians: false, fresh: true, as_of: null, ...overrides };
}

function users(): MemoryUser[] {
  return [
    { username: 'it-admin', password: 'synthetic-admin', display_name: 'IT Admin (synthetic)' },
    { username: 'ad.nurse', password: 'synthetic-ad', display_name: 'Directory Nurse (synthetic)' },
    { username: 'nurse.sso', password: '', display_name: 'Nurse SSO (synthetic)', provider: SSO.id, pin: null },
  ];
}

function backendWith(signInOptions: SignInOptions = options(), people: MemoryUser[] = users()) {
  return sampleBackend({ session: { state: 'signed_out' }, signInOptions, users: people });
}

describe('the sign-in screen', () => {
  it('lists the hospital providers, and hides the local account behind the IT emergency link', async () => {
    const backend = backendWith();
    const signIn = vi.spyOn(backend, 'signIn');
    const { user } = renderApp(backend);
    expect(await screen.findByTestId('sign-in-oidc-hospital-sso')).toHaveTextContent('Sign in with Synthetic Hospital SSO');
    // One password choice: the directory, named, no select.
    expect(screen.getByTestId('sign-in-account')).toHaveTextContent('Hospital directory account');
    expect(screen.queryByTestId('sign-in-provider')).not.toBeInTheDocument();

    await user.type(screen.getByTestId('sign-in-username'), 'ad.nurse');
    await user.type(screen.getByTestId('sign-in-password'), 'synthetic-ad');
    await user.click(screen.getByTestId('sign-in-submit'));
    expect(await screen.findByTestId('session-mode')).toHaveTextContent('Online session');
    expect(signIn).toHaveBeenCalledWith({ username: 'ad.nurse', password: 'synthetic-ad', provider: AD.id });
  });

  it('signs an admin in with the IT emergency account (a local account, no provider)', async () => {
    const backend = backendWith();
    const signIn = vi.spyOn(backend, 'signIn');
    const { user } = renderApp(backend);
    await user.click(await screen.findByTestId('sign-in-emergency'));
    expect(screen.getByRole('heading', { name: 'IT emergency account' })).toBeInTheDocument();
    expect(screen.queryByTestId('sign-in-oidc-hospital-sso')).not.toBeInTheDocument();
    await user.type(screen.getByTestId('sign-in-username'), 'it-admin');
    await user.type(screen.getByTestId('sign-in-password'), 'synthetic-admin');
    await user.click(screen.getByTestId('sign-in-submit'));
    expect(await screen.findByTestId('session-mode')).toBeInTheDocument();
    expect(signIn).toHaveBeenCalledWith({ username: 'it-admin', password: 'synthetic-admin' });
  });

  it('offers a choice of account when clinicians may use local accounts too', async () => {
    const { user } = renderApp(backendWith(options({ local_accounts_for_clinicians: true })));
    const select = await screen.findByTestId('sign-in-provider');
    expect(within(select).getAllByRole('option').map((o) => o.textContent)).toEqual(['Hospital directory', 'Wardbook account']);
    await user.selectOptions(select, 'Wardbook account');
    expect(screen.queryByTestId('sign-in-emergency')).not.toBeInTheDocument();
  });

  it('is the password form alone when the service lists no providers', async () => {
    renderApp(backendWith(options({ providers: [], local_accounts_for_clinicians: true })));
    expect(await screen.findByTestId('sign-in-form')).toBeInTheDocument();
    expect(screen.queryByTestId('oidc-providers')).not.toBeInTheDocument();
    expect(screen.queryByTestId('sign-in-provider')).not.toBeInTheDocument();
  });

  it('shows the list kept from the last time when the service cannot be reached', async () => {
    const backend = backendWith();
    backend.status.online = false;
    renderApp(backend);
    expect(await screen.findByTestId('sign-in-offline-list')).toHaveTextContent('the sign-in choices it listed last');
    expect(screen.getByTestId('sign-in-oidc-hospital-sso')).toBeInTheDocument();
  });
});

describe('the browser sign-in and the workstation PIN', () => {
  it('waits for the browser, can be cancelled, then asks for a PIN before any patient data', async () => {
    const backend = backendWith();
    const { user } = renderApp(backend);
    await user.click(await screen.findByTestId('sign-in-oidc-hospital-sso'));
    expect(await screen.findByTestId('oidc-waiting')).toHaveTextContent('Waiting for Synthetic Hospital SSO…');
    expect(backend.signInFlow.waitingFor).toBe(SSO.id);

    await user.click(screen.getByTestId('oidc-cancel'));
    expect(await screen.findByTestId('sign-in-oidc-hospital-sso')).toBeInTheDocument();
    expect(screen.queryByTestId('sign-in-notice')).not.toBeInTheDocument();
    expect(backend.signInFlow.waitingFor).toBeNull();

    await user.click(screen.getByTestId('sign-in-oidc-hospital-sso'));
    await screen.findByTestId('oidc-waiting');
    act(() => backend.signInFlow.completeOidc('nurse.sso'));
    expect(await screen.findByTestId('pin-setup-user')).toHaveTextContent('Nurse SSO (synthetic)');
    expect(screen.queryByTestId('census-table')).not.toBeInTheDocument();
    expect(screen.queryByTestId('lock-now')).not.toBeInTheDocument();

    // The form's own checks, then the core's rule, in words.
    await user.type(screen.getByTestId('pin-new'), '4802');
    await user.type(screen.getByTestId('pin-confirm'), '4802');
    await user.click(screen.getByTestId('pin-setup-submit'));
    expect(screen.getByTestId('pin-setup-error')).toHaveTextContent('at least 6 characters');
    await user.clear(screen.getByTestId('pin-new'));
    await user.type(screen.getByTestId('pin-new'), '480213');
    await user.clear(screen.getByTestId('pin-confirm'));
    await user.type(screen.getByTestId('pin-confirm'), '480214');
    await user.click(screen.getByTestId('pin-setup-submit'));
    expect(screen.getByTestId('pin-setup-error')).toHaveTextContent('The two PINs are not the same');
    await user.clear(screen.getByTestId('pin-new'));
    await user.type(screen.getByTestId('pin-new'), '123456');
    await user.type(screen.getByTestId('pin-confirm'), '123456');
    await user.click(screen.getByTestId('pin-setup-submit'));
    expect(await screen.findByTestId('pin-setup-error')).toHaveTextContent('too easy to guess');
    // Neither box keeps what was typed.
    expect(screen.getByTestId('pin-new')).toHaveValue('');
    expect(screen.getByTestId('pin-confirm')).toHaveValue('');

    await user.type(screen.getByTestId('pin-new'), '480213');
    await user.type(screen.getByTestId('pin-confirm'), '480213');
    await user.click(screen.getByTestId('pin-setup-submit'));
    expect(await screen.findByTestId('session-mode')).toHaveTextContent('Online session');
    expect(await screen.findAllByTestId('census-row')).not.toHaveLength(0);

    // Locked, the session unlocks with the PIN, labelled so.
    await user.click(screen.getByTestId('lock-now'));
    const lock = await screen.findByTestId('lock-screen');
    expect(within(lock).getByLabelText('Workstation PIN')).toBeInTheDocument();
    expect(screen.getByTestId('unlock-pin-hint')).toBeInTheDocument();
    await user.type(screen.getByTestId('unlock-password'), '999999');
    await user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('unlock-error')).toHaveTextContent('user name or PIN was not accepted');
    await user.type(screen.getByTestId('unlock-password'), '480213');
    await user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('session-mode')).toBeInTheDocument();
  });

  it('a clinician who already has a PIN here goes straight to the census', async () => {
    const people = users().map((u) => (u.username === 'nurse.sso' ? { ...u, pin: '480213' } : u));
    const backend = backendWith(options(), people);
    const { user } = renderApp(backend);
    await user.click(await screen.findByTestId('sign-in-oidc-hospital-sso'));
    await screen.findByTestId('oidc-waiting');
    act(() => backend.signInFlow.completeOidc('nurse.sso'));
    expect(await screen.findByTestId('session-mode')).toHaveTextContent('Online session');
    expect(screen.queryByTestId('pin-setup')).not.toBeInTheDocument();
  });

  it('offline, the browser sign-in leads to the PIN form; wrong PINs up to the limit wipe the PIN', async () => {
    const people = users().map((u) => (u.username === 'nurse.sso' ? { ...u, pin: '480213' } : u));
    const backend = backendWith(options(), people);
    backend.status.online = false;
    const { user } = renderApp(backend);
    await user.click(await screen.findByTestId('sign-in-oidc-hospital-sso'));
    expect(await screen.findByTestId('pin-sign-in-notice')).toHaveTextContent('cannot be reached');
    const form = screen.getByTestId('pin-sign-in');
    expect(within(form).getByLabelText('User name')).toBeInTheDocument();
    expect(within(form).getByLabelText('Workstation PIN')).toBeInTheDocument();

    await user.type(screen.getByTestId('pin-username'), 'nurse.sso');
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      await user.type(screen.getByTestId('pin-password'), '999999');
      await user.click(screen.getByTestId('pin-sign-in-submit'));
      await waitFor(() => expect(screen.getByTestId('pin-sign-in-error')).toHaveTextContent('not accepted'));
      expect(screen.getByTestId('pin-password')).toHaveValue('');
    }
    await user.type(screen.getByTestId('pin-password'), '999999');
    await user.click(screen.getByTestId('pin-sign-in-submit'));
    expect(await screen.findByText(/workstation PIN is wiped/)).toBeInTheDocument();
    await user.type(screen.getByTestId('pin-password'), '480213');
    await user.click(screen.getByTestId('pin-sign-in-submit'));
    expect(await screen.findByText(/offline sign-in is only possible/)).toBeInTheDocument();
    expect(screen.queryByTestId('session-mode')).not.toBeInTheDocument();
  });

  it('signs in offline with the PIN, and sends the clinician back to the browser once online', async () => {
    const people = users().map((u) => (u.username === 'nurse.sso' ? { ...u, pin: '480213' } : u));
    const backend = backendWith(options(), people);
    const { user } = renderApp(backend);
    // Online: the PIN is refused and the screen goes back to the browser sign-in.
    await user.click(await screen.findByTestId('sign-in-pin-hospital-sso'));
    await user.type(screen.getByTestId('pin-username'), 'nurse.sso');
    await user.type(screen.getByTestId('pin-password'), '480213');
    await user.click(screen.getByTestId('pin-sign-in-submit'));
    expect(await screen.findByTestId('sign-in-notice')).toHaveTextContent('sign in through it in the browser');

    backend.status.online = false;
    await user.click(screen.getByTestId('sign-in-pin-hospital-sso'));
    await user.type(screen.getByTestId('pin-username'), 'Nurse.SSO ');
    await user.type(screen.getByTestId('pin-password'), '480213');
    await user.click(screen.getByTestId('pin-sign-in-submit'));
    expect(await screen.findByTestId('session-mode')).toHaveTextContent(/offline/i);
  });
});
