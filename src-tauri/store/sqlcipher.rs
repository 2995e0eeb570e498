//! Opening SQLCipher connections, the process's first one included.
//!
//! SQLite marks itself initialized, and lets go of its initialization lock,
//! before it runs SQLCipher's own initialization (`SQLITE_EXTRA_INIT`). A
//! thread that opens a connection while another thread is in the process's
//! very first open finds SQLite initialized and SQLCipher not, and its
//! `PRAGMA key` fails with a bare `SQLITE_ERROR` ("An error occurred with
//! PRAGMA key or rekey"). Test threads opening their first stores at once
//! met it about twice in a thousand processes; any process whose first
//! connections open on two threads at once can meet it.
//!
//! So every connection Wardbook opens comes through here, and the first one
//! in the process waits, once, until a `PRAGMA key` works: after that,
//! SQLCipher's initialization is complete for every thread.

use std::path::Path;
use std::sync::Once;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// How long the first open waits for SQLCipher's initialization (which
/// another thread, outside Wardbook's code, may be running) before going on
/// and letting the key report whatever it finds.
const INITIALIZATION_LIMIT: Duration = Duration::from_secs(5);

/// Opens the database file at `path` with `flags`, SQLCipher initialized.
pub fn open(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    initialize();
    Connection::open_with_flags(path, flags)
}

/// Opens an in-memory database, SQLCipher initialized.
pub fn open_in_memory() -> rusqlite::Result<Connection> {
    initialize();
    Connection::open_in_memory()
}

/// Completes SQLite's and SQLCipher's initialization, once per process:
/// the first caller does it (or waits for the thread doing it), the others
/// wait for the first.
fn initialize() {
    static INITIALIZED: Once = Once::new();
    INITIALIZED.call_once(|| {
        let deadline = Instant::now() + INITIALIZATION_LIMIT;
        // Opening runs SQLite's initialization, SQLCipher's included, unless
        // another thread has begun it; keying an in-memory database then
        // fails until SQLCipher's part is done.
        while !keyable() && Instant::now() < deadline {
            std::thread::yield_now();
        }
    });
}

/// True when SQLCipher accepts a key (always true for a SQLite without
/// SQLCipher, which ignores the pragma: the store refuses that later).
fn keyable() -> bool {
    Connection::open_in_memory().and_then(|conn| conn.execute_batch("PRAGMA key = 'initialization check';")).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_initialization_an_in_memory_database_takes_a_key() {
        initialize();
        assert!(keyable());
        let conn = open_in_memory().expect("in-memory database");
        let version: String = conn.query_row("PRAGMA cipher_version", [], |r| r.get(0)).expect("cipher_version");
        assert!(!version.trim().is_empty(), "SQLCipher is linked");
    }
}
