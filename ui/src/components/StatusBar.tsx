import { useCallback, useEffect, useRef, useState } from 'react';

import type { SyncStatus } from '../generated/SyncStatus';
import type { UiError } from '../generated/UiError';
import { toUiError, useBackend } from '../backend';
import { formatAgo, formatDateTime, formatDuration } from '../format';

export const STATUS_POLL_MS = 5_000;

interface Props {
  /** Warn when the data is older than this many minutes (AppInfo). */
  warningMinutes: number;
  /** Changes whenever the status should be read again at once (after a recording). */
  refreshKey: number;
  /** Opens the conflicts view; absent when no one is signed in. */
  onOpenConflicts?: (() => void) | undefined;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * The status bar under every screen (sign-in and lock screens too: it has
 * no patient data). Online or offline and since when, how old the data is,
 * what waits to upload, conflicts and rejected edits, the last error, the
 * initial download's progress, and "Sync now". Patients with a possible
 * double dose come first, in red: they need a clinician now.
 */
export function StatusBar({ warningMinutes, refreshKey, onOpenConflicts }: Props) {
  const backend = useBackend();
  const [status, setStatus] = useState<SyncStatus | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [syncing, setSyncing] = useState(false);
  const [now, setNow] = useState(() => new Date());
  const alive = useRef(true);

  const read = useCallback(() => {
    backend.syncStatus().then(
      (s) => {
        if (!alive.current) return;
        setStatus(s);
        setError(null);
        setNow(new Date());
      },
      (e: unknown) => {
        if (alive.current) setError(toUiError(e));
      },
    );
  }, [backend]);

  useEffect(() => {
    alive.current = true;
    const timer = window.setInterval(read, STATUS_POLL_MS);
    return () => {
      alive.current = false;
      window.clearInterval(timer);
    };
  }, [read]);

  useEffect(() => {
    read();
  }, [read, refreshKey]);

  const syncNow = async () => {
    setSyncing(true);
    try {
      await backend.syncNow();
      read();
      window.setTimeout(read, 1_500);
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setSyncing(false);
    }
  };

  let online = 'Offline (status unknown)';
  let onlineState = 'unknown';
  if (status) {
    const since = status.state_since ? ` since ${formatDateTime(status.state_since, now)}` : '';
    if (status.online === true) {
      online = `Online${since}`;
      onlineState = 'online';
    } else if (status.online === false) {
      online = `Offline${since}`;
      onlineState = 'offline';
    } else {
      online = status.enrolled ? 'Offline (not connected yet)' : 'Offline (workstation not enrolled)';
      onlineState = 'offline';
    }
  }

  let age = '';
  let stale = false;
  if (status) {
    if (!status.data_as_of) {
      age = 'Never synced';
      stale = true;
    } else {
      const ms = now.getTime() - new Date(status.data_as_of).getTime();
      stale = ms > warningMinutes * 60_000;
      age = stale
        ? `Data is ${formatDuration(ms)} old: it may be out of date`
        : `Data synced ${formatAgo(status.data_as_of, now)}`;
    }
  }

  const progress = status?.initial_sync ?? null;

  return (
    <footer className="status-bar" data-testid="status-bar" aria-label="Sync status">
      <span className={`status-item status-${onlineState}`} data-testid="status-online" data-online={onlineState}>
        <span className="status-dot" aria-hidden="true" />
        {online}
      </span>
      {status && status.integrity.state === 'damaged' && (
        <span className="status-item status-error" data-testid="status-integrity" data-state="damaged" role="alert">
          <span aria-hidden="true">✖ </span>
          Local database damaged: stop using this workstation and call IT. It is moved aside at the next start.
        </span>
      )}
      {status && status.double_dose_patients > 0 && (
        <span className="status-item status-double-dose" data-testid="status-double-dose" data-count={status.double_dose_patients} role="status">
          <span aria-hidden="true">⚠ </span>
          Possible double dose: {plural(status.double_dose_patients, 'patient', 'patients')}
        </span>
      )}
      {status && (
        <>
          <span
            className={`status-item ${stale ? 'status-warning' : ''}`}
            data-testid="status-data-age"
            data-stale={stale ? 'true' : 'false'}
          >
            {stale && <span aria-hidden="true">⚠ </span>}
            {age}
          </span>
          <span
            className="status-item"
            data-testid="status-pending-edits"
            data-count={status.pending_entries}
            title={`${plural(status.pending_edits, 'record', 'records')} to upload (a set of vitals is one edit)`}
          >
            {plural(status.pending_entries, 'edit', 'edits')} to upload
          </span>
          <span className="status-item" data-testid="status-pending-audit" data-count={status.pending_audit_events}>
            {plural(status.pending_audit_events, 'audit event', 'audit events')} to upload
          </span>
          {onOpenConflicts ? (
            <button
              type="button"
              className={`status-item status-link ${status.conflicts > 0 ? 'status-attention' : ''}`}
              data-testid="status-conflicts"
              data-count={status.conflicts}
              onClick={onOpenConflicts}
            >
              {status.conflicts > 0 && <span aria-hidden="true">⚠ </span>}
              {plural(status.conflicts, 'conflict', 'conflicts')}
            </button>
          ) : (
            <span className="status-item" data-testid="status-conflicts" data-count={status.conflicts}>
              {plural(status.conflicts, 'conflict', 'conflicts')}
            </span>
          )}
          {onOpenConflicts ? (
            <button
              type="button"
              className={`status-item status-link ${status.rejected_edits > 0 ? 'status-attention' : ''}`}
              data-testid="status-rejected"
              data-count={status.rejected_edits}
              onClick={onOpenConflicts}
            >
              {plural(status.rejected_edits, 'rejected edit', 'rejected edits')}
            </button>
          ) : (
            <span className="status-item" data-testid="status-rejected" data-count={status.rejected_edits}>
              {plural(status.rejected_edits, 'rejected edit', 'rejected edits')}
            </span>
          )}
          {progress && (
            <label className="status-item status-progress">
              <span>
                Downloading records:{' '}
                {progress.rows_expected !== null
                  ? `${progress.rows_done.toLocaleString('en')} of ${progress.rows_expected.toLocaleString('en')} rows`
                  : `${progress.rows_done.toLocaleString('en')} rows`}
              </span>
              {progress.rows_expected !== null ? (
                <progress
                  data-testid="initial-sync-progress"
                  value={Math.min(progress.rows_done, progress.rows_expected)}
                  max={Math.max(progress.rows_expected, 1)}
                />
              ) : (
                <progress data-testid="initial-sync-progress" />
              )}
            </label>
          )}
          {status.integrity.state === 'checking' && (
            <span className="status-item" data-testid="status-integrity" data-state="checking">
              Checking the local database…
            </span>
          )}
          {status.integrity.state === 'failed' && (
            <span className="status-item status-warning" data-testid="status-integrity" data-state="failed">
              <span aria-hidden="true">⚠ </span>
              The local database check could not run; it is tried again later
            </span>
          )}
          {status.integrity.state === 'ok' && status.integrity.checked_at && (
            <span className="status-item" data-testid="status-integrity" data-state="ok">
              Database checked {formatAgo(status.integrity.checked_at, now)}
            </span>
          )}
          {status.last_error && (
            <span className="status-item status-error" data-testid="status-last-error">
              <span aria-hidden="true">✖ </span>
              {status.last_error}
            </span>
          )}
        </>
      )}
      {error && (
        <span className="status-item status-error" data-testid="status-error" role="status">
          {error.message}
        </span>
      )}
      <span className="spacer" />
      <button type="button" className="button small" data-testid="sync-now" onClick={syncNow} disabled={syncing}>
        {syncing ? 'Syncing…' : 'Sync now'}
      </button>
    </footer>
  );
}
