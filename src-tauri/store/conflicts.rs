//! Outbox entries the server did not take (conflicts and refusals), as the
//! clinician settles them. Their payloads are whole records, so reading them
//! takes an [`AuditedRead`] (or, to re-apply one, an [`Edit`]); the list of
//! conflicts by identifiers does not.

use rusqlite::{Connection, params};
use uuid::Uuid;
use wardbook_protocol::api::Record;
use wardbook_protocol::{ConflictView, EditsNeedingAttention, RejectedEdit};

use super::StoreError;
use super::access::{AuditedRead, Edit};
use super::outbox::{Outbox, OutboxState};
use super::patients;
use super::rows::{collect, get_enum, get_time, get_uuid};

/// A conflict as the UI lists it: identifiers only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictEntry {
    pub mutation_id: Uuid,
    pub entity: String,
    pub entity_id: Uuid,
    pub patient_id: Uuid,
}

impl Outbox<'_> {
    /// Edits the server answered with a conflict, oldest first.
    pub(crate) fn conflicts(self) -> Result<Vec<ConflictEntry>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT mutation_id, entity, entity_id, patient_id FROM outbox WHERE state = ?1 ORDER BY created_at, rowid",
        )?;
        collect(&mut stmt, [OutboxState::Conflict], entry_from_row)
    }

    /// One conflict, by identifiers (`None`: not, or no longer, a conflict).
    pub(crate) fn conflict(self, mutation_id: Uuid) -> Result<Option<ConflictEntry>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT mutation_id, entity, entity_id, patient_id FROM outbox WHERE mutation_id = ?1 AND state = ?2",
        )?;
        Ok(collect(&mut stmt, params![mutation_id.to_string(), OutboxState::Conflict], entry_from_row)?.pop())
    }
}

fn entry_from_row(row: &rusqlite::Row<'_>) -> Result<ConflictEntry, StoreError> {
    Ok(ConflictEntry {
        mutation_id: get_uuid(row, "mutation_id")?,
        entity: row.get("entity")?,
        entity_id: get_uuid(row, "entity_id")?,
        patient_id: get_uuid(row, "patient_id")?,
    })
}

/// Both versions of a conflict: the clinician's edit and the server's row.
pub(crate) fn versions(read: &AuditedRead<'_>, mutation_id: Uuid) -> Result<(Record, Record), StoreError> {
    let (mine, theirs, _) = records(read.conn(), mutation_id)?;
    Ok((mine, theirs))
}

/// The clinician's edit, the server's row and, for a change (not a new
/// record), the row the clinician edited: what a re-apply merges.
pub(crate) fn for_edit(edit: &Edit<'_>, mutation_id: Uuid) -> Result<(Record, Record, Option<Record>), StoreError> {
    records(edit.conn(), mutation_id)
}

fn records(conn: &Connection, mutation_id: Uuid) -> Result<(Record, Record, Option<Record>), StoreError> {
    let (mine, theirs, prior): (String, String, Option<String>) = conn.query_row(
        "SELECT payload_json, server_row_json, prior_json FROM outbox WHERE mutation_id = ?1 AND state = ?2",
        params![mutation_id.to_string(), OutboxState::Conflict],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let decode = |text: &str| serde_json::from_str::<Record>(text).map_err(|_| StoreError::BadRow("conflict"));
    Ok((decode(&mine)?, decode(&theirs)?, prior.as_deref().map(decode).transpose()?))
}

/// Conflicts and rejected edits with both versions, oldest first, each with
/// its patient's name and MRN for the list. The author is named as the
/// clinician knows them (the display name kept for offline sign-in on this
/// workstation), or by user id when this workstation no longer has it.
pub(crate) fn needing_attention(read: &AuditedRead<'_>) -> Result<EditsNeedingAttention, StoreError> {
    let conn = read.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT mutation_id, patient_id, created_at, state, payload_json, server_row_json, server_reason,
                coalesce((SELECT v.display_name FROM offline_verifiers v WHERE v.user_id = outbox.author LIMIT 1),
                         author) AS author
         FROM outbox WHERE state IN (?1, ?2) ORDER BY created_at, rowid",
    )?;
    let rows = collect(&mut stmt, [OutboxState::Conflict, OutboxState::Rejected], |row| {
        Ok((
            get_uuid(row, "mutation_id")?,
            get_uuid(row, "patient_id")?,
            get_time(row, "created_at")?,
            row.get::<_, String>("author")?,
            get_enum(row, "state", OutboxState::parse)?,
            row.get::<_, String>("payload_json")?,
            row.get::<_, Option<String>>("server_row_json")?,
            row.get::<_, Option<String>>("server_reason")?,
        ))
    })?;
    let decode = |text: &str| serde_json::from_str::<Record>(text).map_err(|_| StoreError::BadRow("edit"));
    let mut out = EditsNeedingAttention { conflicts: Vec::new(), rejected: Vec::new() };
    for (mutation_id, patient_id, created_at, author, state, mine, server, reason) in rows {
        let (patient_name, mrn) = match patients::get_in(conn, patient_id)? {
            Some(p) => (format!("{}, {}", p.family_name, p.given_name), p.mrn),
            None => (String::from("Patient no longer on this workstation"), String::new()),
        };
        let mine = decode(&mine)?;
        if state == OutboxState::Conflict {
            let server = decode(server.as_deref().ok_or(StoreError::BadRow("conflict"))?)?;
            out.conflicts.push(ConflictView {
                mutation_id,
                patient_id,
                patient_name,
                mrn,
                created_at,
                author,
                mine,
                server,
            });
        } else {
            out.rejected.push(RejectedEdit {
                mutation_id,
                patient_id,
                patient_name,
                mrn,
                created_at,
                mine,
                reason: reason.unwrap_or_else(|| String::from("The service gave no reason.")),
            });
        }
    }
    Ok(out)
}
