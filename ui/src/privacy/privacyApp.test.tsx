import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';

import { outsideChart, sampleBackend, sampleCharts } from '../backend/fixtures';
import { PRIVACY_USER, samplePrivacy } from '../backend/fixturesPrivacy';
import { TauriBackend } from '../backend/tauri';
import type { Role } from '../generated/Role';
import { renderApp } from '../test/render';

function signedIn(userId: string, displayName: string, roles?: Role[]) {
  const privacy = samplePrivacy(sampleCharts(), outsideChart());
  if (roles) privacy.roles[userId] = roles;
  return sampleBackend({
    privacy,
    session: {
      state: 'active',
      session: {
        user_id: userId,
        display_name: displayName,
        mode: 'online',
        started_at: new Date().toISOString(),
        idle_lock_minutes: 10,
        break_glass: [],
      },
    },
  });
}

describe('who sees the privacy workspace', () => {
  it('is never offered to a clinician without the privacy officer role', async () => {
    const backend = signedIn('dev-clinician', 'Sam Reyes (synthetic)');
    renderApp(backend);
    await screen.findAllByTestId('census-row');
    await waitFor(() => expect(backend.count('privacyAccess')).toBe(1));
    expect(screen.queryByTestId('nav-privacy')).not.toBeInTheDocument();
    expect(screen.queryByTestId('privacy-workspace')).not.toBeInTheDocument();
    expect(screen.getByTestId('break-glass')).toBeInTheDocument();
  });

  it('opens on the workspace for a privacy officer who is not a clinician, without the ward’s actions', async () => {
    const backend = signedIn(PRIVACY_USER.username, PRIVACY_USER.display_name);
    renderApp(backend);
    expect(await screen.findByTestId('privacy-workspace')).toBeInTheDocument();
    expect(screen.queryByTestId('census-row')).not.toBeInTheDocument();
    expect(screen.queryByTestId('break-glass')).not.toBeInTheDocument();
    expect(screen.queryByTestId('nav-privacy')).not.toBeInTheDocument();
    expect(screen.getByTestId('privacy-tab-reviews')).toHaveTextContent('(1)');
  });

  it('lets a user with both roles switch between the ward and the workspace', async () => {
    const backend = signedIn('dev-clinician', 'Sam Reyes (synthetic)', ['clinician', 'privacy_officer']);
    const { user } = renderApp(backend);
    await screen.findAllByTestId('census-row');
    await user.click(await screen.findByTestId('nav-privacy'));
    expect(await screen.findByTestId('privacy-workspace')).toBeInTheDocument();
    expect(screen.queryByTestId('nav-privacy')).not.toBeInTheDocument();
    await user.click(screen.getByTestId('back-to-census'));
    expect(await screen.findAllByTestId('census-row')).toHaveLength(3);
  });

  it('is not offered in an offline session (it needs the service)', async () => {
    const backend = signedIn(PRIVACY_USER.username, PRIVACY_USER.display_name);
    backend.status.online = false;
    renderApp(backend);
    await waitFor(() => expect(backend.count('privacyAccess')).toBe(1));
    expect(screen.queryByTestId('privacy-workspace')).not.toBeInTheDocument();
    await expect(backend.privacyAccess()).rejects.toMatchObject({ code: 'needs_service' });
  });
});

describe('the workspace’s IPC commands', () => {
  afterEach(() => clearMocks());

  it('are the snake_case of the methods, with the contract argument names', async () => {
    const calls: Array<{ cmd: string; args: unknown }> = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      return null;
    });
    const b = new TauriBackend();
    const query = { patient_mrn: 'SYN-1', username: null, from: null, to: null, page: 1, page_size: 50 };
    const review = { outcome: 'justified' as const, note: 'Appropriate' };
    await b.privacyAccess();
    await b.accessReport(query);
    await b.printAccessReport(query);
    await b.exportAccessReport(query, 'fhir');
    await b.breakGlassQueue('pending');
    await b.reviewBreakGlass('a1', review);
    await b.auditChains();
    expect(calls.map((c) => [c.cmd, c.args ?? {}])).toEqual([
      ['privacy_access', {}],
      ['access_report', { query }],
      ['print_access_report', { query }],
      ['export_access_report', { query, format: 'fhir' }],
      ['break_glass_queue', { filter: 'pending' }],
      ['review_break_glass', { accessId: 'a1', review }],
      ['audit_chains', {}],
    ]);
  });
});
