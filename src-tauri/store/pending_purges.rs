//! The `pending_purges` table: patients that left this device's scope while
//! they still had edits to push. They stay in the cache until those edits
//! are settled, then go (see [`PatientsMut::purge`]).
//!
//! [`PatientsMut::purge`]: super::patients::PatientsMut::purge

use rusqlite::{Connection, params};
use uuid::Uuid;

use super::StoreError;
use super::rows::{collect, get_uuid, now_text};

/// Reads of `pending_purges`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingPurges<'a>(pub(super) &'a Connection);

impl PendingPurges<'_> {
    /// The patients waiting to be purged, by id.
    pub(crate) fn list(self) -> Result<Vec<Uuid>, StoreError> {
        let mut stmt = self.0.prepare_cached("SELECT patient_id FROM pending_purges ORDER BY patient_id")?;
        collect(&mut stmt, [], |row| get_uuid(row, "patient_id"))
    }
}

/// Writes to `pending_purges`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingPurgesMut<'a>(pub(super) &'a Connection);

impl PendingPurgesMut<'_> {
    /// Marks a patient to be purged once their edits are settled.
    pub(crate) fn add(self, patient: Uuid) -> Result<(), StoreError> {
        self.0
            .prepare_cached("INSERT OR IGNORE INTO pending_purges (patient_id, since) VALUES (?1, ?2)")?
            .execute(params![patient.to_string(), now_text()])?;
        Ok(())
    }

    /// Marks every patient with an outbox entry (whatever its state).
    pub(crate) fn add_every_outbox_patient(self) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT OR IGNORE INTO pending_purges (patient_id, since)
             SELECT DISTINCT patient_id, ?1 FROM outbox WHERE patient_id IS NOT NULL",
            [now_text()],
        )?;
        Ok(())
    }
}

/// Settles a patient's pending purge (they were purged).
pub(super) fn remove(conn: &Connection, patient: Uuid) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM pending_purges WHERE patient_id = ?1")?.execute([patient.to_string()])?;
    Ok(())
}
