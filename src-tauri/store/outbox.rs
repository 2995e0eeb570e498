//! The `outbox` table: local edits waiting to be pushed. An entry is written
//! in the same transaction as its edit (only through [`Edit::enqueue`]), so
//! an edit never exists without the entry that pushes it. It stays
//! [`OutboxState::Pending`] until the server answers: applied, it goes; a
//! conflict or a refusal keeps it, with the server's row or reason, until
//! the clinician settles it.
//!
//! [`Edit::enqueue`]: super::Edit::enqueue

use std::collections::HashSet;

use rusqlite::types::{ToSql, ToSqlOutput};
use rusqlite::{Connection, params};
use uuid::Uuid;
use wardbook_protocol::api::{Mutation, Record};

use super::StoreError;
use super::records::{self, Entity};
use super::rows::{collect, get_enum, get_time, get_uuid, now_text};

/// Where an entry stands. The stored spellings are the schema's
/// `CHECK (state IN ('pending', 'conflict', 'rejected'))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutboxState {
    /// Waiting to be pushed (or for the server's answer).
    Pending,
    /// The server had changed the row since the edit's base version: it
    /// kept its row, and the clinician re-applies or discards the edit.
    Conflict,
    /// The server refused the edit (with a reason); the cache went back to
    /// the row before it.
    Rejected,
}

impl OutboxState {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Conflict => "conflict",
            OutboxState::Rejected => "rejected",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<OutboxState> {
        match text {
            "pending" => Some(OutboxState::Pending),
            "conflict" => Some(OutboxState::Conflict),
            "rejected" => Some(OutboxState::Rejected),
            _ => None,
        }
    }
}

impl ToSql for OutboxState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// A new entry: the edited record, the version it was based on (`None`: a
/// new record), the row before the edit (restored if the server refuses),
/// the author, and the charting entry it belongs to (a set of vitals is one
/// entry of several edits; `None`: an entry of its own).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewEntry<'r> {
    pub record: &'r Record,
    pub base_version: Option<i64>,
    pub prior: Option<&'r Record>,
    pub author: &'r str,
    pub entry: Option<Uuid>,
}

/// Appends an entry with a new (UUID v7) mutation id.
pub(super) fn insert(conn: &Connection, e: &NewEntry<'_>) -> Result<Uuid, StoreError> {
    let (entity, entity_id, patient_id) = records::identity(e.record);
    let id = Uuid::now_v7();
    let payload = serde_json::to_string(e.record).map_err(|_| StoreError::BadRow("edit"))?;
    let prior = e.prior.map(serde_json::to_string).transpose().map_err(|_| StoreError::BadRow("edit"))?;
    conn.prepare_cached(
        "INSERT INTO outbox (mutation_id, created_at, entity, entity_id, patient_id, operation, base_version,
             author, authored_at, payload_json, prior_json, entry_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?2, ?9, ?10, ?11)",
    )?
    .execute(params![
        id.to_string(),
        now_text(),
        entity.as_str(),
        entity_id.to_string(),
        patient_id.to_string(),
        if e.base_version.is_some() { "update" } else { "create" },
        e.base_version,
        e.author,
        payload,
        prior,
        e.entry.map(|e| e.to_string()),
    ])?;
    Ok(id)
}

/// A pending entry, by identifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingEntry {
    pub mutation_id: Uuid,
    pub entity: Entity,
    pub entity_id: Uuid,
    pub patient_id: Uuid,
}

/// A pending edit's records: the edit, the row it changed (`None`: a new
/// row) and the version it was based on.
#[derive(Clone, Debug)]
pub(crate) struct PendingRecords {
    pub mine: Record,
    pub prior: Option<Record>,
    pub base_version: Option<i64>,
}

/// Reads of `outbox` that return identifiers and counts only, and the
/// mutations the sync engine pushes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outbox<'a>(pub(super) &'a Connection);

impl Outbox<'_> {
    /// Pending entries, oldest first.
    pub(crate) fn pending(self) -> Result<Vec<PendingEntry>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT mutation_id, entity, entity_id, patient_id FROM outbox WHERE state = ?1 ORDER BY created_at, rowid",
        )?;
        collect(&mut stmt, [OutboxState::Pending], |row| {
            Ok(PendingEntry {
                mutation_id: get_uuid(row, "mutation_id")?,
                entity: get_enum(row, "entity", Entity::parse)?,
                entity_id: get_uuid(row, "entity_id")?,
                patient_id: get_uuid(row, "patient_id")?,
            })
        })
    }

    /// One entry, if it is still pending (an answer repeated after a lost
    /// response finds it gone).
    pub(crate) fn pending_entry(self, mutation_id: Uuid) -> Result<Option<PendingEntry>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT mutation_id, entity, entity_id, patient_id FROM outbox WHERE mutation_id = ?1 AND state = ?2",
        )?;
        Ok(collect(&mut stmt, params![mutation_id.to_string(), OutboxState::Pending], |row| {
            Ok(PendingEntry {
                mutation_id: get_uuid(row, "mutation_id")?,
                entity: get_enum(row, "entity", Entity::parse)?,
                entity_id: get_uuid(row, "entity_id")?,
                patient_id: get_uuid(row, "patient_id")?,
            })
        })?
        .pop())
    }

    /// Ids of rows, and of patients, with an edit waiting to be pushed.
    pub(crate) fn pending_rows_and_patients(self) -> Result<(HashSet<Uuid>, HashSet<Uuid>), StoreError> {
        let (mut rows, mut patients) = (HashSet::new(), HashSet::new());
        let mut stmt = self.0.prepare_cached("SELECT entity_id, patient_id FROM outbox WHERE state = ?1")?;
        let mut found = stmt.query([OutboxState::Pending])?;
        while let Some(row) = found.next()? {
            rows.insert(get_uuid(row, "entity_id")?);
            patients.insert(get_uuid(row, "patient_id")?);
        }
        Ok((rows, patients))
    }

    /// Ids of this patient's rows whose edits wait for the server.
    pub(crate) fn pending_rows_of(self, patient: Uuid) -> Result<HashSet<Uuid>, StoreError> {
        let mut stmt =
            self.0.prepare_cached("SELECT DISTINCT entity_id FROM outbox WHERE patient_id = ?1 AND state = ?2")?;
        let ids =
            collect(&mut stmt, params![patient.to_string(), OutboxState::Pending], |row| get_uuid(row, "entity_id"))?;
        Ok(ids.into_iter().collect())
    }

    /// Does this patient have an edit waiting to be pushed?
    pub(crate) fn has_pending_for(self, patient: Uuid) -> Result<bool, StoreError> {
        Ok(self.0.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE patient_id = ?1 AND state = ?2)",
            params![patient.to_string(), OutboxState::Pending],
            |r| r.get(0),
        )?)
    }

    /// Entries in `state`.
    pub(crate) fn count(self, state: OutboxState) -> Result<i64, StoreError> {
        Ok(self.0.query_row("SELECT count(*) FROM outbox WHERE state = ?1", [state], |r| r.get(0))?)
    }

    /// Charting entries waiting (a set of vitals counts once).
    pub(crate) fn pending_entries(self) -> Result<i64, StoreError> {
        Ok(self.0.query_row(
            "SELECT count(DISTINCT coalesce(entry_id, mutation_id)) FROM outbox WHERE state = ?1",
            [OutboxState::Pending],
            |r| r.get(0),
        )?)
    }

    /// The state of one entry and the server's reason, if it is still kept.
    #[cfg(test)]
    pub(crate) fn state_of(self, mutation_id: Uuid) -> Result<Option<(OutboxState, Option<String>)>, StoreError> {
        use rusqlite::OptionalExtension;
        let found: Option<(String, Option<String>)> = self
            .0
            .query_row(
                "SELECT state, server_reason FROM outbox WHERE mutation_id = ?1",
                [mutation_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        found
            .map(|(state, reason)| Ok((OutboxState::parse(&state).ok_or(StoreError::BadRow("outbox state"))?, reason)))
            .transpose()
    }

    /// A pending entry's edit, the row before it and its base version: what
    /// deciding a conflict answer needs (`edits::merge::on_conflict`).
    /// Handled inside the sync step, never shown.
    pub(crate) fn pending_edit(self, mutation_id: Uuid) -> Result<Option<PendingRecords>, StoreError> {
        use rusqlite::OptionalExtension;
        let found: Option<(String, Option<String>, Option<i64>)> = self
            .0
            .prepare_cached(
                "SELECT payload_json, prior_json, base_version FROM outbox WHERE mutation_id = ?1 AND state = ?2",
            )?
            .query_row(params![mutation_id.to_string(), OutboxState::Pending], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let decode = |text: &str| serde_json::from_str::<Record>(text).map_err(|_| StoreError::BadRow("outbox entry"));
        found
            .map(|(mine, prior, base_version)| {
                Ok(PendingRecords {
                    mine: decode(&mine)?,
                    prior: prior.as_deref().map(decode).transpose()?,
                    base_version,
                })
            })
            .transpose()
    }

    /// The entries `ids` as mutations to push, in the given order (an id no
    /// longer in the outbox is skipped). Sent to the server, never shown.
    pub(crate) fn mutations(self, ids: &[Uuid]) -> Result<Vec<Mutation>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT mutation_id, base_version, author, authored_at, payload_json FROM outbox WHERE mutation_id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut rows = stmt.query([id.to_string()])?;
            let Some(row) = rows.next()? else { continue };
            let payload: String = row.get("payload_json")?;
            out.push(Mutation {
                id: get_uuid(row, "mutation_id")?,
                base_version: row.get("base_version")?,
                author: row.get("author")?,
                authored_at: get_time(row, "authored_at")?,
                record: serde_json::from_str(&payload).map_err(|_| StoreError::BadRow("outbox entry"))?,
            });
        }
        Ok(out)
    }
}

/// Writes to `outbox`: the server's answers and the clinician's settling.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutboxMut<'a>(pub(super) &'a Connection);

impl OutboxMut<'_> {
    /// The server applied the entry at `version`: the entry goes, the row
    /// takes the version, and the row's next pending edits (made on top of
    /// this one) are based on it.
    pub(crate) fn applied(self, entry: &PendingEntry, version: i64) -> Result<(), StoreError> {
        self.0.prepare_cached("DELETE FROM outbox WHERE mutation_id = ?1")?.execute([entry.mutation_id.to_string()])?;
        records::set_version(self.0, entry.entity, entry.entity_id, version)?;
        self.0
            .prepare_cached(
                "UPDATE outbox SET base_version = ?2
                 WHERE entity_id = ?1 AND state = ?3 AND base_version IS NOT NULL",
            )?
            .execute(params![entry.entity_id.to_string(), version, OutboxState::Pending])?;
        Ok(())
    }

    /// The server's row (`current`) already carries what the entry said:
    /// the entry goes as if applied at the server's version, and the cache
    /// holds the server's row.
    pub(crate) fn settled(self, entry: &PendingEntry, current: &Record) -> Result<(), StoreError> {
        self.applied(entry, records::version_of(current))?;
        records::write(self.0, current)
    }

    /// Replaces the entry with a new one (a new mutation id, by the same
    /// author, in the same charting entry) that pushes `record` on top of
    /// the server's row `current`, and shows `record` in the cache meanwhile.
    /// Answers the new mutation id.
    pub(crate) fn rebase(self, entry: &PendingEntry, record: &Record, current: &Record) -> Result<Uuid, StoreError> {
        let id = entry.mutation_id.to_string();
        let (author, entry_id): (String, Option<String>) = self
            .0
            .prepare_cached("SELECT author, entry_id FROM outbox WHERE mutation_id = ?1")?
            .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let entry_id =
            entry_id.map(|e| Uuid::parse_str(&e).map_err(|_| StoreError::BadRow("outbox entry"))).transpose()?;
        self.0.prepare_cached("DELETE FROM outbox WHERE mutation_id = ?1")?.execute([&id])?;
        let new = insert(
            self.0,
            &NewEntry {
                record,
                base_version: Some(records::version_of(current)),
                prior: Some(current),
                author: &author,
                entry: entry_id,
            },
        )?;
        records::write(self.0, record)?;
        Ok(new)
    }

    /// The server kept its own row (`current`): the entry is kept as a
    /// conflict with that row, and the cache holds the server's row.
    pub(crate) fn conflict(self, mutation_id: Uuid, current: &Record) -> Result<(), StoreError> {
        let server_row = serde_json::to_string(current).map_err(|_| StoreError::BadRow("server row"))?;
        self.0
            .prepare_cached("UPDATE outbox SET state = ?3, server_row_json = ?2 WHERE mutation_id = ?1")?
            .execute(params![mutation_id.to_string(), server_row, OutboxState::Conflict])?;
        records::write(self.0, current)
    }

    /// The server refused the entry: it is kept with the reason, and the
    /// cache goes back to the row before the edit (a new row goes).
    pub(crate) fn rejected(self, entry: &PendingEntry, reason: &str) -> Result<(), StoreError> {
        let id = entry.mutation_id.to_string();
        let prior: Option<String> = self
            .0
            .prepare_cached("SELECT prior_json FROM outbox WHERE mutation_id = ?1")?
            .query_row([&id], |r| r.get(0))?;
        self.0
            .prepare_cached("UPDATE outbox SET state = ?3, server_reason = ?2 WHERE mutation_id = ?1")?
            .execute(params![id, reason, OutboxState::Rejected])?;
        match prior {
            Some(prior) => {
                let prior: Record = serde_json::from_str(&prior).map_err(|_| StoreError::BadRow("outbox entry"))?;
                records::write(self.0, &prior)
            }
            None => records::delete(self.0, entry.entity, entry.entity_id),
        }
    }

    /// Removes an entry whatever its state (a conflict re-applied as a new edit).
    pub(crate) fn remove(self, mutation_id: Uuid) -> Result<(), StoreError> {
        self.0.execute("DELETE FROM outbox WHERE mutation_id = ?1", [mutation_id.to_string()])?;
        Ok(())
    }

    /// Removes an entry if it is in `state`; answers whether it was.
    pub(crate) fn remove_in(self, mutation_id: Uuid, state: OutboxState) -> Result<bool, StoreError> {
        let n = self.0.execute(
            "DELETE FROM outbox WHERE mutation_id = ?1 AND state = ?2",
            params![mutation_id.to_string(), state],
        )?;
        Ok(n > 0)
    }
}
