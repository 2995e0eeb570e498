import { screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { sampleBackend, settingsView } from '../backend/fixtures';
import { renderWith } from '../test/render';
import { Settings } from './Settings';

describe('Settings', () => {
  it('shows policy-locked values with a lock and "Set by your IT policy"', async () => {
    renderWith(sampleBackend(), <Settings />);
    const server = await screen.findByTestId('setting-server_url');
    expect(server).toHaveAttribute('data-locked', 'true');
    expect(server).toHaveTextContent('Set by your IT policy');
    expect(server.querySelector('input')).toBeNull();
    expect(screen.getByTestId('setting-idle_lock_minutes')).toHaveAttribute('data-locked', 'true');
    const local = screen.getByTestId('setting-audit_retention_days');
    expect(local).toHaveAttribute('data-locked', 'false');
    expect(local).not.toHaveTextContent('Set by your IT policy');
    expect(local).toHaveTextContent('Default');
    expect(screen.getByTestId('setting-updates_allowed')).toHaveTextContent('No (IT installs updates)');
    expect(screen.getByTestId('setting-data_dir')).toHaveTextContent('/home/synthetic/.local/share/wardbook');
    expect(screen.getByTestId('settings-view')).toHaveTextContent('/etc/wardbook/policy.toml');
    expect(screen.getByTestId('settings-version')).toHaveTextContent('0.1.0');
    expect(screen.queryByTestId('enrol-code')).not.toBeInTheDocument();
  });

  it('enrols on first run, hiding the server field when the policy sets it', async () => {
    const backend = sampleBackend({ settings: settingsView({ enrolled: false, locations: [] }) });
    const { user } = renderWith(backend, <Settings />);
    await screen.findByTestId('enrol-code');
    expect(screen.queryByTestId('enrol-server')).not.toBeInTheDocument();
    await user.type(screen.getByTestId('enrol-code'), 'WARD7B-1234');
    await user.click(screen.getByTestId('enrol-submit'));
    await waitFor(() => expect(screen.getByTestId('settings-enrolled')).toHaveTextContent('Enrolled'));
    expect(backend.calls.find((c) => c.method === 'enroll')?.args).toEqual([{ server_url: null, code: 'WARD7B-1234' }]);
  });

  it('asks for the server when the policy does not set it, and shows enrolment errors', async () => {
    const backend = sampleBackend({
      settings: settingsView({ enrolled: false, server_url: { value: null, locked: false, source: 'default' } }),
      failures: { enroll: { code: 'enrol-refused', message: 'The enrolment code has expired. Ask IT for a new one.' } },
    });
    const { user } = renderWith(backend, <Settings />);
    await user.type(await screen.findByTestId('enrol-server'), 'https://sync.example.invalid');
    await user.type(screen.getByTestId('enrol-code'), 'OLD');
    await user.click(screen.getByTestId('enrol-submit'));
    expect(await screen.findByTestId('enrol-error')).toHaveTextContent('The enrolment code has expired. Ask IT for a new one.');
  });
});
