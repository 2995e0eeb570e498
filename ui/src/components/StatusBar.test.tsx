import { screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import { sampleBackend, syncStatus } from '../backend/fixtures';
import type { SyncStatus } from '../generated/SyncStatus';
import { renderWith } from '../test/render';
import { StatusBar } from './StatusBar';

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

function setup(status: Partial<SyncStatus>, onOpenConflicts?: () => void) {
  const backend = sampleBackend({ syncStatus: syncStatus(status) });
  return renderWith(backend, <StatusBar warningMinutes={120} refreshKey={0} onOpenConflicts={onOpenConflicts} />);
}

describe('StatusBar', () => {
  it('online with fresh data', async () => {
    setup({ online: true, data_as_of: minutesAgo(3), pending_edits: 0, pending_entries: 0, conflicts: 0, rejected_edits: 0 });
    expect(await screen.findByTestId('status-online')).toHaveTextContent(/^Online since/);
    expect(screen.getByTestId('status-data-age')).toHaveTextContent('Data synced 3 min ago');
    expect(screen.getByTestId('status-data-age')).toHaveAttribute('data-stale', 'false');
    expect(screen.getByTestId('status-pending-edits')).toHaveTextContent('0 edits to upload');
    expect(screen.queryByTestId('initial-sync-progress')).not.toBeInTheDocument();
    expect(screen.getByTestId('sync-now')).toBeEnabled();
  });

  it('offline, with the last error in words', async () => {
    setup({ online: false, state_since: minutesAgo(30), last_error: 'The sync server cannot be reached. Work continues offline.' });
    await waitFor(() => expect(screen.getByTestId('status-online')).toHaveTextContent(/^Offline since/));
    expect(screen.getByTestId('status-online')).toHaveAttribute('data-online', 'offline');
    expect(screen.getByTestId('status-last-error')).toHaveTextContent('The sync server cannot be reached.');
  });

  it('warns when the data is older than the policy allows, and when it never synced', async () => {
    setup({ online: false, data_as_of: minutesAgo(185) });
    const age = await screen.findByTestId('status-data-age');
    expect(age).toHaveAttribute('data-stale', 'true');
    expect(age).toHaveTextContent('Data is 3 h 5 min old: it may be out of date');
  });

  it('says "Never synced" when there is no data yet', async () => {
    setup({ data_as_of: null, last_success: null });
    expect(await screen.findByTestId('status-data-age')).toHaveTextContent('Never synced');
  });

  it('says in red when the background check found the local database damaged, and quietly when it is sound', async () => {
    const { unmount } = setup({ integrity: { state: 'damaged', checked_at: minutesAgo(1), problems: 3 } });
    const item = await screen.findByTestId('status-integrity');
    expect(item).toHaveAttribute('role', 'alert');
    expect(item).toHaveTextContent('Local database damaged: stop using this workstation and call IT');
    unmount();
    setup({ integrity: { state: 'ok', checked_at: minutesAgo(5), problems: 0 } });
    const ok = await screen.findByTestId('status-integrity');
    expect(ok).toHaveAttribute('data-state', 'ok');
    expect(ok).toHaveTextContent('Database checked 5 min ago');
    expect(ok).not.toHaveAttribute('role');
  });

  it('says nothing about the database check before it has run', async () => {
    setup({ integrity: { state: 'not_checked', checked_at: null, problems: 0 } });
    await screen.findByTestId('status-data-age');
    expect(screen.queryByTestId('status-integrity')).not.toBeInTheDocument();
  });

  it('counts pending edits, audit events, conflicts and rejected edits; conflicts open the review', async () => {
    const open = vi.fn();
    const { user } = setup({ pending_edits: 9, pending_entries: 4, pending_audit_events: 17, conflicts: 2, rejected_edits: 1 }, open);
    expect(await screen.findByTestId('status-pending-edits')).toHaveTextContent('4 edits to upload');
    expect(screen.getByTestId('status-pending-audit')).toHaveTextContent('17 audit events to upload');
    expect(screen.getByTestId('status-conflicts')).toHaveTextContent('2 conflicts');
    expect(screen.getByTestId('status-rejected')).toHaveTextContent('1 rejected edit');
    await user.click(screen.getByTestId('status-conflicts'));
    expect(open).toHaveBeenCalled();
  });

  it('shows the initial download as a progress bar', async () => {
    setup({ initial_sync: { rows_done: 1200, rows_expected: 4800 }, data_as_of: null });
    const bar = await screen.findByTestId('initial-sync-progress');
    expect(bar.tagName).toBe('PROGRESS');
    expect(bar).toHaveAttribute('value', '1200');
    expect(bar).toHaveAttribute('max', '4800');
    expect(screen.getByTestId('status-bar')).toHaveTextContent('1,200 of 4,800 rows');
  });

  it('"Sync now" starts a sync and reads the status again', async () => {
    const backend = sampleBackend({ syncStatus: syncStatus({ pending_edits: 3, pending_entries: 3 }) });
    const { user } = renderWith(backend, <StatusBar warningMinutes={120} refreshKey={0} />);
    expect(await screen.findByTestId('status-pending-edits')).toHaveTextContent('3 edits');
    await user.click(screen.getByTestId('sync-now'));
    expect(backend.count('syncNow')).toBe(1);
    await waitFor(() => expect(screen.getByTestId('status-pending-edits')).toHaveTextContent('0 edits'));
  });

  it('says prominently how many patients have a possible double dose, and nothing when none', async () => {
    const backend = sampleBackend();
    backend.status.double_dose_patients = 2;
    const { unmount } = renderWith(backend, <StatusBar warningMinutes={120} refreshKey={0} />);
    const item = await screen.findByTestId('status-double-dose');
    expect(item).toHaveTextContent('Possible double dose: 2 patients');
    expect(item).toHaveClass('status-double-dose');
    unmount();
    backend.status.double_dose_patients = 0;
    renderWith(backend, <StatusBar warningMinutes={120} refreshKey={0} />);
    await screen.findByTestId('status-pending-edits');
    expect(screen.queryByTestId('status-double-dose')).not.toBeInTheDocument();
  });
});
