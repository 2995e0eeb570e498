//! What the server does with one mutation, as a pure function of what SQL
//! fetched (as the app's `sync/plan.rs` decides a sync round): `push.rs`
//! fetches the [`Facts`], calls [`decide`] and carries the [`Decision`] out.
//!
//! Scope. A device may write to a patient assigned now to one of its
//! locations. It may also write to a patient it has lost (a transfer or
//! discharge, or the workstation re-enrolled elsewhere), for an edit made
//! before: `authored_at` is the client's word, so it counts only when the
//! server's own history shows a location L where
//! - the device was at L at `authored_at`,
//! - the patient was at L at `authored_at`, and
//! - the device lost the patient at L (the first of the two stays to end)
//!   at most the late-edit window before now: the offline window of the
//!   service's policy (`offline_unlock_hours`).
//!
//! Stays run from their start (included) to their end (excluded). An edit
//! claiming a time inside such a stay is therefore before its end, which is
//! in the past: a future `authored_at` never passes the second path.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use wardbook_protocol::api::RejectReason;

/// When a device or a patient was at a location: from `start` until `end`
/// (excluded), or still there when `end` is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stay {
    pub location: Uuid,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

impl Stay {
    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && self.end.is_none_or(|end| t < end)
    }
}

/// What the server knows about the device and the patient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeFacts {
    /// The patient is assigned now to one of the device's locations.
    pub current: bool,
    /// The device's stays at locations (its enrolment history). Fetched
    /// only when `current` is false.
    pub device_stays: Vec<Stay>,
    /// The patient's stays at the locations of `device_stays`.
    pub patient_stays: Vec<Stay>,
    /// The server's (the database's) clock.
    pub now: DateTime<Utc>,
    /// How long after the device lost a patient it may still send an edit
    /// made before.
    pub window: Duration,
}

impl ScopeFacts {
    /// In scope now: no history needed.
    pub fn in_scope_now(now: DateTime<Utc>, window: Duration) -> ScopeFacts {
        ScopeFacts { current: true, device_stays: Vec::new(), patient_stays: Vec::new(), now, window }
    }
}

/// The mutation, as far as the decision needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edit<'a> {
    pub patient_id: Uuid,
    pub base_version: Option<i64>,
    pub author: &'a str,
    pub authored_at: DateTime<Utc>,
}

/// Everything fetched before deciding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The version this mutation id produced, when it was applied before.
    pub applied_before: Option<i64>,
    /// What the record breaks (a message naming the field and the limit).
    pub invalid: Option<String>,
    pub scope: ScopeFacts,
    /// The stored row: its version and its patient.
    pub current: Option<(i64, Uuid)>,
    /// Another patient holds this patient's MRN (patients only).
    pub mrn_taken: bool,
    /// For an append-only row (an administration, a dose review): whether
    /// the edit is the one change a stored row allows (an administration
    /// marked entered-in-error). `None` for rows edited freely.
    pub append_only: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write the row: an update of the stored one, or an insert.
    Apply {
        update: bool,
    },
    AlreadyApplied {
        version: i64,
    },
    /// The row changed since the edit's base: answer with the stored row.
    Conflict,
    Reject {
        reason: RejectReason,
        message: String,
    },
}

/// Why a stored administration or review cannot be changed.
pub const APPEND_ONLY: &str = "A recorded dose or review is a clinical fact and cannot be changed; mark it entered-in-error with a reason and record it again.";

pub const OUT_OF_SCOPE: &str = "This patient is not assigned to this workstation's locations. New patients are registered by the hospital's patient administration system.";

fn reject(reason: RejectReason, message: impl Into<String>) -> Decision {
    Decision::Reject { reason, message: message.into() }
}

/// The decision, in the order the checks have always run: a repeat first,
/// then the row's own rules, then scope, then versions.
pub fn decide(edit: &Edit<'_>, facts: &Facts) -> Decision {
    if let Some(version) = facts.applied_before {
        return Decision::AlreadyApplied { version };
    }
    if let Some(problem) = &facts.invalid {
        return reject(RejectReason::Validation, problem.clone());
    }
    if edit.author.trim().is_empty() || edit.author.chars().count() > 120 {
        return reject(RejectReason::Validation, "The author must be 1 to 120 characters.");
    }
    if !may_write(edit.authored_at, &facts.scope) {
        return reject(RejectReason::OutOfScope, OUT_OF_SCOPE);
    }
    let update = match (facts.current, edit.base_version) {
        (Some((_, owner)), _) if owner != edit.patient_id => {
            return reject(RejectReason::Validation, "A row cannot be moved to another patient.");
        }
        // A fact changes only one way, whatever version the edit saw: never a
        // conflict for the clinician to settle, never an overwrite.
        (Some(_), _) if facts.append_only.is_some() => {
            if facts.append_only == Some(true) {
                true
            } else {
                return reject(RejectReason::Validation, APPEND_ONLY);
            }
        }
        (None, Some(_)) if facts.append_only.is_some() => {
            return reject(RejectReason::Validation, "The record this edit is based on does not exist on the server.");
        }
        // A new row whose id exists, or an edit based on another version.
        (Some((version, _)), base) if base != Some(version) => return Decision::Conflict,
        (None, Some(_)) => {
            return reject(RejectReason::Validation, "The row this edit is based on does not exist on the server.");
        }
        (None, None) => false,
        (Some(_), _) => true,
    };
    // The MRN is unique: another patient's is refused here, not by the
    // constraint (which would fail the whole push).
    if facts.mrn_taken {
        return reject(RejectReason::Validation, "mrn is already used by another patient");
    }
    Decision::Apply { update }
}

/// May the device write to the patient, for an edit made at `authored_at`?
pub fn may_write(authored_at: DateTime<Utc>, scope: &ScopeFacts) -> bool {
    if scope.current {
        return true;
    }
    let lost_since = scope.now - scope.window;
    scope.device_stays.iter().filter(|d| d.contains(authored_at)).any(|device| {
        scope.patient_stays.iter().filter(|p| p.location == device.location && p.contains(authored_at)).any(|patient| {
            // The device lost the patient here when the first of the two stays ended.
            let lost = match (device.end, patient.end) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            lost.is_none_or(|lost| lost >= lost_since)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    const W: i64 = 72 * H;
    const WARD_A: Uuid = Uuid::from_u128(0xa);
    const WARD_B: Uuid = Uuid::from_u128(0xb);
    const PATIENT: Uuid = Uuid::from_u128(0x1);

    /// `s` seconds after a fixed instant.
    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_772_352_000, 0).unwrap_or_default() + Duration::seconds(s)
    }

    /// A stay on ward A (or B), in seconds.
    fn a(start: i64, end: Option<i64>) -> Stay {
        Stay { location: WARD_A, start: t(start), end: end.map(t) }
    }

    fn b(start: i64, end: Option<i64>) -> Stay {
        Stay { location: WARD_B, ..a(start, end) }
    }

    fn past(device_stays: Vec<Stay>, patient_stays: Vec<Stay>, now: i64) -> ScopeFacts {
        ScopeFacts { current: false, device_stays, patient_stays, now: t(now), window: Duration::seconds(W) }
    }

    /// (case, device's stays, patient's stays, now, authored_at, may write)
    type ScopeCase = (&'static str, Vec<Stay>, Vec<Stay>, i64, i64, bool);

    #[test]
    fn each_bound_of_the_scope_has_two_sides() {
        // The usual case: the device on ward A all along, the patient there
        // from 10 h to 50 h, then transferred out; now is 100 h.
        let device = || vec![a(0, None)];
        let patient = || vec![a(10 * H, Some(50 * H))];
        let twice = || vec![a(0, Some(10 * H)), a(40 * H, Some(50 * H))];
        let cases: Vec<ScopeCase> = vec![
            ("edit before a recent transfer", device(), patient(), 100 * H, 20 * H, true),
            ("no history", vec![], vec![], 100 * H, 20 * H, false),
            // The device was there then.
            ("at the device's arrival", vec![a(20 * H, None)], patient(), 100 * H, 20 * H, true),
            ("1 s before the device arrived", vec![a(20 * H, None)], patient(), 100 * H, 20 * H - 1, false),
            ("1 s before the device left", vec![a(0, Some(40 * H))], patient(), 100 * H, 40 * H - 1, true),
            ("when the device left", vec![a(0, Some(40 * H))], patient(), 100 * H, 40 * H, false),
            ("the device on another ward then", vec![b(0, None)], patient(), 100 * H, 20 * H, false),
            // The patient was there then.
            ("at the patient's arrival", device(), patient(), 100 * H, 10 * H, true),
            ("1 s before the patient arrived", device(), patient(), 100 * H, 10 * H - 1, false),
            ("1 s before the patient left", device(), patient(), 100 * H, 50 * H - 1, true),
            ("when the patient left", device(), patient(), 100 * H, 50 * H, false),
            ("the patient on another ward then", device(), vec![b(10 * H, Some(50 * H))], 100 * H, 20 * H, false),
            ("a future time", device(), patient(), 100 * H, 300 * H, false),
            ("between two stays", device(), twice(), 100 * H, 20 * H, false),
            ("in the second of two stays", device(), twice(), 100 * H, 45 * H, true),
            // The transfer was recent: at most the window before now.
            ("transfer window - 1 s ago", device(), patient(), 50 * H + W - 1, 20 * H, true),
            ("transfer exactly the window ago", device(), patient(), 50 * H + W, 20 * H, true),
            ("transfer window + 1 s ago", device(), patient(), 50 * H + W + 1, 20 * H, false),
            // The device moved away while the patient stayed: its move counts.
            ("device moved within the window", vec![a(0, Some(50 * H))], vec![a(0, None)], 50 * H + W, 20 * H, true),
            ("device moved beyond it", vec![a(0, Some(50 * H))], vec![a(0, None)], 50 * H + W + 1, 20 * H, false),
            // The first stay to end counts: a later transfer does not renew it.
            ("device left first, long ago", vec![a(0, Some(30 * H))], patient(), 30 * H + W + 1, 20 * H, false),
        ];
        for (name, device_stays, patient_stays, now, authored, want) in cases {
            assert_eq!(may_write(t(authored), &past(device_stays, patient_stays, now)), want, "{name}");
        }
        // In scope now: any time, even a future one, as always.
        for authored in [-1000 * H, 0, 1000 * H] {
            let scope = ScopeFacts::in_scope_now(t(0), Duration::seconds(W));
            assert!(may_write(t(authored), &scope), "in scope now, {authored} s");
        }
    }

    fn facts() -> Facts {
        Facts {
            applied_before: None,
            invalid: None,
            scope: ScopeFacts::in_scope_now(t(0), Duration::seconds(W)),
            current: None,
            mrn_taken: false,
            append_only: None,
        }
    }

    fn edit(base_version: Option<i64>) -> Edit<'static> {
        Edit { patient_id: PATIENT, base_version, author: "nurse.synthetic", authored_at: t(0) }
    }

    fn stored(version: i64) -> Option<(i64, Uuid)> {
        Some((version, PATIENT))
    }

    #[test]
    fn the_decision_table() {
        use Decision::{AlreadyApplied, Apply, Conflict};
        let lost = past(vec![a(0, None)], vec![], 10);
        let long_name = "n".repeat(121);
        let invalid = || Some("heart rate must be at most 300".to_owned());
        let (validation, out_of_scope) = (RejectReason::Validation, RejectReason::OutOfScope);
        // (case, edit, facts, the decision, or the reason of a rejection)
        let cases: Vec<(&str, Edit<'_>, Facts, Result<Decision, RejectReason>)> = vec![
            ("a new row", edit(None), facts(), Ok(Apply { update: false })),
            (
                "an edit on the current version",
                edit(Some(3)),
                Facts { current: stored(3), ..facts() },
                Ok(Apply { update: true }),
            ),
            (
                "applied before, whatever else",
                edit(Some(1)),
                Facts {
                    applied_before: Some(4),
                    invalid: invalid(),
                    current: stored(9),
                    scope: lost.clone(),
                    ..facts()
                },
                Ok(AlreadyApplied { version: 4 }),
            ),
            ("an invalid row", edit(None), Facts { invalid: invalid(), ..facts() }, Err(validation)),
            ("no author", Edit { author: " ", ..edit(None) }, facts(), Err(validation)),
            ("an author too long", Edit { author: &long_name, ..edit(None) }, facts(), Err(validation)),
            ("out of scope", edit(None), Facts { scope: lost.clone(), ..facts() }, Err(out_of_scope)),
            (
                "out of scope before a conflict",
                edit(Some(1)),
                Facts { scope: lost, current: stored(2), ..facts() },
                Err(out_of_scope),
            ),
            ("an edit on an older version", edit(Some(2)), Facts { current: stored(3), ..facts() }, Ok(Conflict)),
            ("a new row whose id exists", edit(None), Facts { current: stored(1), ..facts() }, Ok(Conflict)),
            ("another patient's row", edit(Some(1)), Facts { current: Some((1, WARD_B)), ..facts() }, Err(validation)),
            ("an edit of a row the server lacks", edit(Some(1)), facts(), Err(validation)),
            ("another patient's MRN", edit(None), Facts { mrn_taken: true, ..facts() }, Err(validation)),
            (
                "a conflict before the MRN",
                edit(Some(1)),
                Facts { mrn_taken: true, current: stored(2), ..facts() },
                Ok(Conflict),
            ),
            // Administrations and reviews: facts, never a conflict.
            ("a new fact", edit(None), Facts { append_only: Some(false), ..facts() }, Ok(Apply { update: false })),
            (
                "a fact marked entered-in-error, on an older version",
                edit(Some(1)),
                Facts { append_only: Some(true), current: stored(4), ..facts() },
                Ok(Apply { update: true }),
            ),
            (
                "a fact changed otherwise",
                edit(Some(4)),
                Facts { append_only: Some(false), current: stored(4), ..facts() },
                Err(validation),
            ),
            (
                "a new fact whose id exists",
                edit(None),
                Facts { append_only: Some(false), current: stored(1), ..facts() },
                Err(validation),
            ),
            (
                "an edit of a fact the server lacks",
                edit(Some(1)),
                Facts { append_only: Some(false), ..facts() },
                Err(validation),
            ),
            (
                "another patient's fact",
                edit(Some(1)),
                Facts { append_only: Some(true), current: Some((1, WARD_B)), ..facts() },
                Err(validation),
            ),
        ];
        for (name, edit, facts, want) in cases {
            let decision = decide(&edit, &facts);
            match (&decision, want) {
                (Decision::Reject { reason, message }, Err(want)) => {
                    assert_eq!(*reason, want, "{name}");
                    assert!(!message.trim().is_empty(), "{name}: a rejection says why");
                }
                (decision, Ok(want)) => assert_eq!(*decision, want, "{name}"),
                (decision, Err(want)) => panic!("{name}: {decision:?}, expected a rejection for {want:?}"),
            }
        }
        let Decision::Reject { message, .. } = decide(&edit(None), &Facts { invalid: invalid(), ..facts() }) else {
            unreachable!()
        };
        assert_eq!(message, "heart rate must be at most 300", "the validation message is passed on");
        let Decision::Reject { message, .. } =
            decide(&edit(None), &Facts { scope: past(vec![], vec![], 0), ..facts() })
        else {
            unreachable!()
        };
        assert_eq!(message, OUT_OF_SCOPE, "the wire message of today");
    }
}
