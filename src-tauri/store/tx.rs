//! Transactions and per-table handles. Nothing outside `store/` sees the
//! connection: code takes a [`Db`] from the store (each statement then
//! commits on its own) or runs a closure in one transaction
//! ([`Store::transaction`]) and takes the typed handles of the tables it
//! touches from the [`Db`] it is given, so a step that spans several tables
//! (a pulled page and its cursor, a push answer and the rows it settles)
//! stays one transaction.
//!
//! Full clinical rows (patients, observations, allergies, and the versions
//! kept with a conflict) leave the store through two doors only:
//! - [`Store::audited`], the one maker of an [`AuditedRead`], which every
//!   PHI reader of the table modules requires. It appends the audit event
//!   to the chain in the same transaction, after the read and before the
//!   commit, and returns the data only once both are committed; if the
//!   event cannot be written, no data comes back. `crate::audit::reads`
//!   is its caller.
//! - [`Store::edit`], the one maker of an [`Edit`]: an edit reads the row it
//!   changes, and writes the new row and the outbox entry (which keeps the
//!   prior row) in the same transaction.
//!
//! A new table with patient data adds its readers taking an
//! [`AuditedRead`], and so cannot be read without its audit event.
//!
//! The three types are declared in `access`, a leaf the table modules
//! import. This module names every table (the handles, `Edit::enqueue`), so
//! no table module imports it; it is the only caller of the capabilities'
//! constructors, which are visible inside `store/` only.

use wardbook_protocol::AuditEvent;

use super::access::{AuditedRead, Db, Edit};
use super::audit_events::{AuditEvents, AuditEventsMut, ChainHead};
use super::audit_upload::{AuditUpload, AuditUploadMut};
use super::medication_census::MedicationFlags;
use super::offline_verifiers::{OfflineVerifiers, OfflineVerifiersMut};
use super::outbox::{NewEntry, Outbox, OutboxMut};
use super::pending_purges::{PendingPurges, PendingPurgesMut};
use super::sync_state::{SyncState, SyncStateMut};
use super::{
    Store, StoreError, allergies, dose_reviews, medication_administrations, medication_requests, observations, patients,
};

/// The handle of each table (the type is in `access`, which the table
/// modules import; these methods name the tables, so they live here).
impl<'a> Db<'a> {
    pub(crate) fn patients(self) -> patients::Patients<'a> {
        patients::Patients(self.conn())
    }

    pub(crate) fn patients_mut(self) -> patients::PatientsMut<'a> {
        patients::PatientsMut(self.conn())
    }

    pub(crate) fn observations_mut(self) -> observations::ObservationsMut<'a> {
        observations::ObservationsMut(self.conn())
    }

    pub(crate) fn allergies(self) -> allergies::Allergies<'a> {
        allergies::Allergies(self.conn())
    }

    pub(crate) fn allergies_mut(self) -> allergies::AllergiesMut<'a> {
        allergies::AllergiesMut(self.conn())
    }

    pub(crate) fn medication_requests_mut(self) -> medication_requests::MedicationRequestsMut<'a> {
        medication_requests::MedicationRequestsMut(self.conn())
    }

    pub(crate) fn medication_administrations_mut(self) -> medication_administrations::MedicationAdministrationsMut<'a> {
        medication_administrations::MedicationAdministrationsMut(self.conn())
    }

    pub(crate) fn dose_reviews_mut(self) -> dose_reviews::DoseReviewsMut<'a> {
        dose_reviews::DoseReviewsMut(self.conn())
    }

    /// Counts over the medication tables, no PHI (the status bar's).
    pub(crate) fn medication_flags(self) -> MedicationFlags<'a> {
        MedicationFlags(self.conn())
    }

    pub(crate) fn outbox(self) -> Outbox<'a> {
        Outbox(self.conn())
    }

    pub(crate) fn outbox_mut(self) -> OutboxMut<'a> {
        OutboxMut(self.conn())
    }

    pub(crate) fn pending_purges(self) -> PendingPurges<'a> {
        PendingPurges(self.conn())
    }

    pub(crate) fn pending_purges_mut(self) -> PendingPurgesMut<'a> {
        PendingPurgesMut(self.conn())
    }

    pub(crate) fn sync_state(self) -> SyncState<'a> {
        SyncState(self.conn())
    }

    pub(crate) fn sync_state_mut(self) -> SyncStateMut<'a> {
        SyncStateMut(self.conn())
    }

    pub(crate) fn audit_events(self) -> AuditEvents<'a> {
        AuditEvents(self.conn())
    }

    pub(crate) fn audit_events_mut(self) -> AuditEventsMut<'a> {
        AuditEventsMut(self.conn())
    }

    pub(crate) fn audit_upload(self) -> AuditUpload<'a> {
        AuditUpload(self.conn())
    }

    pub(crate) fn audit_upload_mut(self) -> AuditUploadMut<'a> {
        AuditUploadMut(self.conn())
    }

    pub(crate) fn offline_verifiers(self) -> OfflineVerifiers<'a> {
        OfflineVerifiers(self.conn())
    }

    pub(crate) fn offline_verifiers_mut(self) -> OfflineVerifiersMut<'a> {
        OfflineVerifiersMut(self.conn())
    }

    /// The page cache of this connection, in KiB (SQLite's negative
    /// `cache_size`): an initial sync raises it for its duration.
    pub(crate) fn set_page_cache_kib(self, kib: i64) -> Result<(), StoreError> {
        self.conn().pragma_update(None, "cache_size", -kib.abs())?;
        Ok(())
    }
}

impl Edit<'_> {
    /// Appends the outbox entry of the edit; answers its mutation id.
    pub(crate) fn enqueue(&self, entry: &NewEntry<'_>) -> Result<uuid::Uuid, StoreError> {
        super::outbox::insert(self.conn(), entry)
    }
}

impl Store {
    /// Handles whose statements each commit on their own.
    pub(crate) fn db(&self) -> Db<'_> {
        Db::new(&self.conn)
    }

    /// Runs `f` in one transaction: committed when it answers `Ok`, rolled
    /// back otherwise.
    pub(crate) fn transaction<T>(&mut self, f: impl FnOnce(Db<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let tx = self.conn.transaction()?;
        let out = f(Db::new(&tx))?;
        tx.commit()?;
        self.committed();
        Ok(out)
    }

    /// Runs one local edit in one transaction (see [`Edit`]).
    pub(crate) fn edit<T>(&mut self, f: impl FnOnce(&Edit<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.transaction(|db| f(&Edit::new(db)))
    }

    /// The one way to read PHI: `read` runs in a transaction; then the event
    /// `event` makes for the head of the audit chain is appended, the
    /// transaction commits, and only then is the data returned. If the event
    /// cannot be written or committed, the caller gets
    /// [`StoreError::AuditWriteFailed`] and no data.
    pub(crate) fn audited<T>(
        &mut self,
        read: impl FnOnce(&AuditedRead<'_>) -> Result<T, StoreError>,
        event: impl FnOnce(Option<ChainHead>) -> AuditEvent,
    ) -> Result<T, StoreError> {
        let tx = self.conn.transaction()?;
        let db = Db::new(&tx);
        let data = read(&AuditedRead::new(db))?;
        append_or_withhold(db, event)?;
        tx.commit().map_err(|_| StoreError::AuditWriteFailed)?;
        self.committed();
        Ok(data)
    }

    /// [`Store::audited`] for a read that shows several patients' records
    /// one after the other (a ward's printout): one event per key that
    /// `keys` finds in the data read (each patient printed), all appended
    /// in the read's transaction before its commit; if any cannot be
    /// written, no data comes back and none of them is kept.
    pub(crate) fn audited_each<T, K: Copy>(
        &mut self,
        read: impl FnOnce(&AuditedRead<'_>) -> Result<T, StoreError>,
        keys: impl FnOnce(&T) -> Vec<K>,
        event: impl Fn(Option<ChainHead>, K) -> AuditEvent,
    ) -> Result<T, StoreError> {
        let tx = self.conn.transaction()?;
        let db = Db::new(&tx);
        let data = read(&AuditedRead::new(db))?;
        for key in keys(&data) {
            append_or_withhold(db, |head| event(head, key))?;
        }
        tx.commit().map_err(|_| StoreError::AuditWriteFailed)?;
        self.committed();
        Ok(data)
    }
}

/// Appends the event `event` makes for the chain's head; a failure is
/// logged (subtype only) and answered as [`StoreError::AuditWriteFailed`].
fn append_or_withhold(db: Db<'_>, event: impl FnOnce(Option<ChainHead>) -> AuditEvent) -> Result<(), StoreError> {
    let mut subtype = None;
    let appended = db.audit_events_mut().append(|head| {
        let event = event(head);
        subtype = Some(event.subtype);
        event
    });
    if let Err(err) = appended {
        tracing::error!(
            code = err.code(),
            subtype = subtype.map_or("unknown", |s| s.as_str()),
            "audit event could not be written; data withheld"
        );
        return Err(StoreError::AuditWriteFailed);
    }
    Ok(())
}
