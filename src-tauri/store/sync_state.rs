//! The `sync_state` table: the sync engine's bookkeeping, one value per
//! [`SyncKey`] (the pull cursor, the initial sync's progress, the last
//! success and error, the enrolment). The cursor is written in the same
//! transaction as the rows it covers.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::rows::{now_text, time_text};

/// What a `sync_state` row holds; the stored key is [`SyncKey::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncKey {
    /// Where the next pull starts.
    Cursor,
    /// When the initial sync finished (absent until then).
    InitialDone,
    InitialRowsDone,
    InitialRowsExpected,
    /// When the cache last completed a pull.
    DataAsOf,
    LastSuccess,
    LastError,
    /// "1" online, "0" offline, since `StateSince`.
    Online,
    StateSince,
    /// The server and locations this workstation enrolled with.
    ServerUrl,
    Locations,
    /// The sign-in screen's providers (`LoginProviders` as JSON), as the
    /// service last listed them, so the screen is the same offline.
    LoginProviders,
}

impl SyncKey {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            SyncKey::Cursor => "pull_cursor",
            SyncKey::InitialDone => "initial_sync_done",
            SyncKey::InitialRowsDone => "initial_rows_done",
            SyncKey::InitialRowsExpected => "initial_rows_expected",
            SyncKey::DataAsOf => "data_as_of",
            SyncKey::LastSuccess => "last_success",
            SyncKey::LastError => "last_error",
            SyncKey::Online => "online",
            SyncKey::StateSince => "state_since",
            SyncKey::ServerUrl => "enrolled_server_url",
            SyncKey::Locations => "enrolled_locations",
            SyncKey::LoginProviders => "login_providers",
        }
    }
}

/// Reads of `sync_state`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SyncState<'a>(pub(super) &'a Connection);

impl SyncState<'_> {
    pub(crate) fn get(self, key: SyncKey) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT value FROM sync_state WHERE key = ?1")?
            .query_row([key.as_str()], |r| r.get(0))
            .optional()?)
    }

    /// A time value (`None` when absent or unreadable).
    pub(crate) fn time(self, key: SyncKey) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.get(key)?.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)))
    }

    /// A number (`None` when absent or unreadable).
    pub(crate) fn number(self, key: SyncKey) -> Result<Option<i64>, StoreError> {
        Ok(self.get(key)?.and_then(|v| v.parse().ok()))
    }

    /// When the cache last completed a pull (`None` before the first).
    pub(crate) fn data_as_of(self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.time(SyncKey::DataAsOf)
    }
}

/// Writes to `sync_state`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SyncStateMut<'a>(pub(super) &'a Connection);

impl SyncStateMut<'_> {
    pub(crate) fn set(self, key: SyncKey, value: &str) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO sync_state (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![key.as_str(), value, now_text()])?;
        Ok(())
    }

    /// Stores a time, in the store's one sortable format.
    pub(crate) fn set_time(self, key: SyncKey, time: &DateTime<Utc>) -> Result<(), StoreError> {
        self.set(key, &time_text(time))
    }

    pub(crate) fn delete(self, key: SyncKey) -> Result<(), StoreError> {
        self.0.prepare_cached("DELETE FROM sync_state WHERE key = ?1")?.execute([key.as_str()])?;
        Ok(())
    }
}
