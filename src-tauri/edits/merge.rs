//! The three-way merge of a conflicting edit, as a pure function (plan, then
//! act, as `sync::plan` does): `merge(prior, mine, theirs)` decides what a
//! re-apply writes; `edits::reapply_conflict` reads the three versions from
//! the outbox and writes the answer, in one transaction.
//!
//! Why three-way: the server kept its row (`theirs`) because someone changed
//! it after the clinician's edit was based on it. Re-applying the clinician's
//! whole record (`mine`) would silently undo that other change in every
//! field the clinician never touched. So only the fields the clinician
//! changed (`mine` against `prior`, the row they edited) are laid over the
//! server's row; where both changed a field, the clinician re-applying wins,
//! since they saw both versions and chose to re-apply.
//!
//! Medication administrations and dose reviews are append-only clinical
//! facts, never merged field by field: the only change an administration
//! takes is the entered-in-error mark (`MedicationAdministration::may_become`),
//! so re-applying a mark lays the mark (status and reason) over the server's
//! row, whatever else it says, and a review is the server's as it is. The
//! mark is never a conflict the clinician must settle: [`on_conflict`]
//! decides, as a pure function, what the sync engine does when the server
//! answers a mark with a conflict anyway.

use wardbook_protocol::api::Record;
use wardbook_protocol::medication::{AdministrationStatus, MedicationAdministration};

use crate::store::records::{identity, version_of};

/// Why three versions do not merge. Neither can happen with versions the
/// outbox kept together; the caller treats both as a damaged entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    #[error("the versions are not of one record")]
    NotOneRecord,
    #[error("the merged fields do not make a record")]
    Unrepresentable,
}

/// The record a re-apply writes, based on the server's version: the fields
/// the clinician changed (`mine` against `prior`) laid over the server's
/// row (`theirs`). Nested objects merge field by field; lists and plain
/// values are taken whole. A new record (no `prior`) has nothing to merge
/// with: it is `mine` as it is.
pub fn merge(prior: Option<&Record>, mine: &Record, theirs: &Record) -> Result<Record, MergeError> {
    let (kind, id, _) = identity(mine);
    let same = |r: &Record| {
        let (k, i, _) = identity(r);
        (k, i) == (kind, id)
    };
    if !same(theirs) || !prior.is_none_or(same) {
        return Err(MergeError::NotOneRecord);
    }
    let mut merged = match (prior, mine, theirs) {
        (None, _, _) => mine.clone(),
        (
            Some(_),
            Record::MedicationAdministration { medication_administration: mine },
            Record::MedicationAdministration { medication_administration: theirs },
        ) => Record::MedicationAdministration { medication_administration: marked(mine, theirs) },
        (Some(_), Record::DoseReview { .. }, Record::DoseReview { .. }) => theirs.clone(),
        (Some(prior), _, _) => {
            let value = |r: &Record| serde_json::to_value(r).map_err(|_| MergeError::Unrepresentable);
            serde_json::from_value(fields(&value(prior)?, &value(mine)?, &value(theirs)?))
                .map_err(|_| MergeError::Unrepresentable)?
        }
    };
    let base = version_of(theirs);
    match &mut merged {
        Record::Patient { patient } => patient.version = base,
        Record::Observation { observation } => observation.version = base,
        Record::Allergy { allergy } => allergy.version = base,
        Record::MedicationAdministration { medication_administration } => medication_administration.version = base,
        Record::DoseReview { dose_review } => dose_review.version = base,
    }
    Ok(merged)
}

/// The server's administration with the clinician's entered-in-error mark
/// (status, reason, time of the mark) when they made one; the server's
/// otherwise. Every clinical field stays as the server has it.
fn marked(mine: &MedicationAdministration, theirs: &MedicationAdministration) -> MedicationAdministration {
    let mut out = theirs.clone();
    if mine.status == AdministrationStatus::EnteredInError {
        out.status = AdministrationStatus::EnteredInError;
        out.error_reason.clone_from(&mine.error_reason);
        out.updated_at = mine.updated_at.max(theirs.updated_at);
    }
    out
}

/// What the sync engine does with an edit the server answered with a
/// conflict.
#[derive(Clone, Debug, PartialEq)]
pub enum OnConflict {
    /// Keep the edit as a conflict for the clinician to re-apply or discard
    /// (the cache takes the server's row): every edit but the one below, and
    /// that one too if the server refuses it at its own current version.
    Keep,
    /// The server's row already carries the edit (an administration already
    /// marked entered-in-error): nothing is left to push.
    Settled,
    /// Push this record again, as a new edit based on the server's version:
    /// an entered-in-error mark laid over an administration changed since
    /// (the service accepts the mark whatever the version, so this answer
    /// is not expected; if it comes, the mark still goes up, never dropped
    /// and never left to a clinician to settle).
    Rebase(Box<Record>),
}

/// Decides [`OnConflict`] for the edit `mine` (based on `base_version`, made
/// over `prior`) answered with the server's row `theirs`.
pub fn on_conflict(prior: Option<&Record>, mine: &Record, theirs: &Record, base_version: Option<i64>) -> OnConflict {
    let (
        Record::MedicationAdministration { medication_administration: mark },
        Record::MedicationAdministration { medication_administration: server },
    ) = (mine, theirs)
    else {
        return OnConflict::Keep;
    };
    if mark.id != server.id || mark.status != AdministrationStatus::EnteredInError {
        return OnConflict::Keep;
    }
    if server.status == AdministrationStatus::EnteredInError {
        return OnConflict::Settled;
    }
    if base_version == Some(server.version) {
        return OnConflict::Keep;
    }
    match merge(prior.or(Some(theirs)), mine, theirs) {
        Ok(merged) => OnConflict::Rebase(Box::new(merged)),
        Err(_) => OnConflict::Keep,
    }
}

/// One value of the three: objects field by field (a field the server's row
/// leaves out is the clinician's when they changed it), anything else mine
/// when the clinician changed it, else theirs.
fn fields(prior: &serde_json::Value, mine: &serde_json::Value, theirs: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (prior, mine, theirs) {
        (Value::Object(p), Value::Object(m), Value::Object(t)) => {
            let mut out = t.clone();
            for (key, mine_value) in m {
                let prior_value = p.get(key).unwrap_or(&Value::Null);
                match t.get(key) {
                    Some(theirs_value) => {
                        out.insert(key.clone(), fields(prior_value, mine_value, theirs_value));
                    }
                    None if mine_value != prior_value => {
                        out.insert(key.clone(), mine_value.clone());
                    }
                    None => {}
                }
            }
            Value::Object(out)
        }
        _ if mine != prior => mine.clone(),
        _ => theirs.clone(),
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
