//! The ways into the tables, as types: a [`Db`] (the connection, or one
//! transaction), and the two capabilities that full clinical rows require,
//! an [`AuditedRead`] and an [`Edit`].
//!
//! A leaf: the table modules take these types and import nothing else of
//! the store's plumbing; `tx` makes them (`Store::audited` and `Store::edit`
//! are their only makers) and hands out the table handles. The
//! constructors are visible inside `store/` only, so code outside it cannot
//! make a capability and must go through `tx`.

use rusqlite::Connection;

/// Handles on the tables, over the store's connection or one transaction
/// (the handles themselves are in `tx`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Db<'a> {
    conn: &'a Connection,
}

impl<'a> Db<'a> {
    pub(super) fn new(conn: &'a Connection) -> Db<'a> {
        Db { conn }
    }

    pub(super) fn conn(self) -> &'a Connection {
        self.conn
    }
}

/// The capability to read PHI: made only by `Store::audited`, inside the
/// transaction that appends the read's audit event. The PHI readers of the
/// table modules take it as their first argument.
#[derive(Debug)]
pub(crate) struct AuditedRead<'a> {
    db: Db<'a>,
}

impl<'a> AuditedRead<'a> {
    /// For `Store::audited` only.
    pub(super) fn new(db: Db<'a>) -> AuditedRead<'a> {
        AuditedRead { db }
    }

    pub(super) fn conn(&self) -> &'a Connection {
        self.db.conn
    }

    /// The other tables, in the same transaction.
    pub(crate) fn db(&self) -> Db<'a> {
        self.db
    }
}

/// One local edit in progress: made only by `Store::edit`. It reads the
/// rows the edit changes (the `for_edit` readers), and writes the outbox
/// entries that push the edit (`Edit::enqueue`, in `tx`).
#[derive(Debug)]
pub(crate) struct Edit<'a> {
    db: Db<'a>,
}

impl<'a> Edit<'a> {
    /// For `Store::edit` only.
    pub(super) fn new(db: Db<'a>) -> Edit<'a> {
        Edit { db }
    }

    pub(super) fn conn(&self) -> &'a Connection {
        self.db.conn
    }

    /// The tables, in the edit's transaction.
    pub(crate) fn db(&self) -> Db<'a> {
        self.db
    }
}
