//! Recording medications at the bedside: a dose given or not given, an
//! administration marked entered-in-error, a possible double dose reviewed.
//! Each is a local edit (the row and its outbox entry in one transaction,
//! pushed like every other edit) and works offline.
//!
//! Before a dose is saved as given, protocol's checks run
//! (`medication::check_dose`: allergy, PRN interval and daily maximum, order
//! not active or outside its dates, high-alert without a witness). A failed
//! check that no override with a reason covers holds the dose back
//! ([`RecordAdministrationOutcome::NeedsOverride`], nothing saved). A dose
//! saved with overrides keeps them in its record, and each override is an
//! audit event (`medication-override`, action `create`, the patient named)
//! written in the same transaction as the dose.
//!
//! Rules of this workstation beyond the checks:
//! - a PRN dose answers no due time, and a scheduled dose must name the due
//!   time it answers, one of its order's (in the hospital's time zone): an
//!   unanchored record would escape the MAR grid and the double-dose check,
//!   so it is refused rather than guessed;
//! - the witness of a high-alert dose is not the person giving it (by user
//!   id, or the user name or display name they signed in with here);
//! - administrations are append-only: the one change is the entered-in-error
//!   mark, with a reason of 1 to 500 characters (as for an observation).
//!
//! Errors name fields and limits, never values or patient data.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use uuid::Uuid;
use wardbook_protocol::api::Record;
use wardbook_protocol::medication::checks::{ProposedDose, unresolved};
use wardbook_protocol::medication::{
    AdministrationEntry, AdministrationInError, AdministrationRow, AdministrationStatus, CheckOverride, DoseReview,
    DoseReviewEntry, MedicationAdministration, MedicationRequest, RecordAdministrationOutcome, check_dose, due_times,
    validate_administration, validate_dose_review,
};
use wardbook_protocol::validation::MAX_STATUS_REASON;
use wardbook_protocol::{AuditAction, AuditOutcome, AuditSubtype, ValidationErrors};

use crate::audit::{Access, AccessContext};
use crate::store::outbox::NewEntry;
use crate::store::{Edit, Store, StoreError, allergies, medication_administrations, medication_requests};

/// How far ahead of the workstation's clock a time given may be (clocks
/// of bedside devices drift; a dose cannot be recorded for later).
const FUTURE_SLACK_MINUTES: i64 = 5;

fn invalid(field: &str, message: &str) -> StoreError {
    let mut errors = ValidationErrors::new();
    errors.push(field, message);
    StoreError::Invalid(errors)
}

/// Records a dose given or not given for one of the patient's orders (see
/// the module documentation for the checks and rules).
pub fn record_administration(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    entry: &AdministrationEntry,
) -> Result<RecordAdministrationOutcome, StoreError> {
    let now = Utc::now().trunc_subsecs(6);
    let given_at = entry.given_at.unwrap_or(now).trunc_subsecs(6);
    check_entry(entry, given_at, now)?;
    let zone = store.clinical().time_zone;
    let device_id = store.device_id();
    store.edit(|edit| {
        if !edit.db().patients().exists(patient)? {
            return Err(StoreError::NotFound);
        }
        let order = medication_requests::for_edit(edit, entry.request_id)?
            .filter(|o| o.patient_id == patient)
            .ok_or(StoreError::NotFound)?;
        check_due_time(&order, entry.due_at, zone)?;
        let allergies = allergies::of_patient_for_edit(edit, patient)?;
        let recorded = medication_administrations::of_order_for_edit(edit, order.id)?;
        let witness = witness(edit, ctx, entry.witness.as_deref())?;
        let given = entry.status == AdministrationStatus::Given;
        let dose = entry.dose.clone().or_else(|| if given { order.dose.clone() } else { None });
        let findings = check_dose(&ProposedDose {
            order: &order,
            status: entry.status,
            due_at: entry.due_at,
            given_at,
            dose: dose.as_ref(),
            witness: witness.as_deref(),
            performer: &ctx.user_id,
            allergies: &allergies,
            administrations: &recorded,
        });
        let open: Vec<_> = unresolved(&findings, &entry.overrides).into_iter().cloned().collect();
        if !open.is_empty() {
            return Ok(RecordAdministrationOutcome::NeedsOverride { findings: open });
        }
        // Only the overrides of checks that failed are kept, one per check.
        let mut overrides: Vec<CheckOverride> = Vec::new();
        for o in &entry.overrides {
            let failed = findings.iter().any(|f| f.check == o.check);
            if failed && !o.reason.trim().is_empty() && !overrides.iter().any(|k| k.check == o.check) {
                overrides.push(CheckOverride { check: o.check, reason: o.reason.trim().to_owned() });
            }
        }
        let administration = MedicationAdministration {
            id: Uuid::now_v7(),
            version: 0,
            updated_at: now,
            deleted: false,
            synthetic: false,
            patient_id: patient,
            request_id: order.id,
            due_at: entry.due_at,
            status: entry.status,
            not_given_reason: entry.not_given_reason,
            dose,
            route: entry.route.clone().or_else(|| if given { order.route.clone() } else { None }),
            site: entry.site.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
            given_at,
            performer: person(edit, ctx)?,
            witness,
            overrides,
            error_reason: None,
            recorded_at: now,
        };
        validate_administration(&administration)?;
        edit.db().medication_administrations_mut().upsert(std::slice::from_ref(&administration))?;
        let record = Record::MedicationAdministration { medication_administration: administration.clone() };
        enqueue(edit, ctx, &record, None, None)?;
        for _ in &administration.overrides {
            let access = Access {
                action: AuditAction::Create,
                subtype: AuditSubtype::MedicationOverride,
                patient: Some(patient),
                outcome: AuditOutcome::Success,
            };
            crate::audit::record(edit.db(), device_id, ctx, access)?;
        }
        Ok(RecordAdministrationOutcome::Saved {
            row: Box::new(AdministrationRow { administration, pending: true }),
            findings,
        })
    })
}

/// What can be refused before the cache is read.
fn check_entry(entry: &AdministrationEntry, given_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::new();
    match entry.status {
        AdministrationStatus::Given if entry.not_given_reason.is_some() => {
            errors.push("not_given_reason", "a reason not given is only for a dose not given");
        }
        AdministrationStatus::NotGiven if entry.not_given_reason.is_none() => {
            errors.push("not_given_reason", "give the reason the dose was not given");
        }
        AdministrationStatus::EnteredInError => {
            errors.push(
                "status",
                "a dose is recorded as given or not given; mark a recorded dose entered in error instead",
            );
        }
        _ => {}
    }
    if given_at > now + Duration::minutes(FUTURE_SLACK_MINUTES) {
        errors.push("given_at", "the time given cannot be in the future");
    }
    errors.into_result().map_err(StoreError::Invalid)
}

/// A PRN dose answers no due time; a scheduled one answers one of its
/// order's due times.
fn check_due_time(
    order: &MedicationRequest,
    due_at: Option<DateTime<Utc>>,
    zone: chrono_tz::Tz,
) -> Result<(), StoreError> {
    match (order.timing.is_prn(), due_at) {
        (true, None) => Ok(()),
        (true, Some(_)) => Err(invalid("due_at", "a dose as needed (PRN) answers no due time")),
        (false, None) => Err(invalid("due_at", "choose the due time this dose answers")),
        (false, Some(due)) => {
            let scheduled = due_times(&order.timing, order.start, order.end, zone, due, due + Duration::seconds(1));
            if scheduled.contains(&due) {
                Ok(())
            } else {
                Err(invalid("due_at", "that is not one of the order's due times; open the chart again and choose one"))
            }
        }
    }
}

/// Who is recording, as the MAR, the printout and the EHR name them: the
/// user name this clinician signed in with here (kept with the offline
/// verifier), else the user id.
fn person(edit: &Edit<'_>, ctx: &AccessContext) -> Result<String, StoreError> {
    let names = edit.db().offline_verifiers().names_of(&ctx.user_id)?;
    Ok(names.into_iter().next().unwrap_or_else(|| ctx.user_id.clone()))
}

/// The witness named, trimmed; none when blank or when it names the
/// person recording (by user id, user name or display name).
fn witness(edit: &Edit<'_>, ctx: &AccessContext, named: Option<&str>) -> Result<Option<String>, StoreError> {
    let Some(named) = named.map(str::trim).filter(|w| !w.is_empty()) else { return Ok(None) };
    let mut own = edit.db().offline_verifiers().names_of(&ctx.user_id)?;
    own.push(ctx.user_id.clone());
    if own.iter().any(|name| name.trim().eq_ignore_ascii_case(named)) {
        return Ok(None);
    }
    Ok(Some(named.to_owned()))
}

/// Appends the outbox entry of an edit, inside the edit's transaction.
fn enqueue(
    edit: &Edit<'_>,
    ctx: &AccessContext,
    record: &Record,
    base_version: Option<i64>,
    prior: Option<&Record>,
) -> Result<Uuid, StoreError> {
    edit.enqueue(&NewEntry { record, base_version, prior, author: &ctx.user_id, entry: None })
}

/// Marks a recorded dose entered-in-error with the clinician's reason (1
/// to 500 characters): the record stays, flagged, and no longer counts as
/// given. Pushed as a change based on the cached version; the service
/// accepts the mark whatever the version, and the sync engine never leaves
/// it to a clinician as a conflict (`edits::merge::on_conflict`).
pub fn administration_entered_in_error(
    store: &mut Store,
    ctx: &AccessContext,
    request: &AdministrationInError,
) -> Result<AdministrationRow, StoreError> {
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_STATUS_REASON {
        return Err(invalid(
            "reason",
            &format!("a reason of 1 to {MAX_STATUS_REASON} characters is required to mark a dose entered in error"),
        ));
    }
    let now = Utc::now().trunc_subsecs(6);
    store.edit(|edit| {
        let prior =
            medication_administrations::for_edit(edit, request.administration_id)?.ok_or(StoreError::NotFound)?;
        if prior.status == AdministrationStatus::EnteredInError {
            return Err(invalid("administration_id", "this dose is already marked entered in error"));
        }
        let mut marked = prior.clone();
        marked.status = AdministrationStatus::EnteredInError;
        marked.error_reason = Some(reason.to_owned());
        marked.updated_at = now;
        if !prior.may_become(&marked) {
            return Err(StoreError::BadRow("medication administration"));
        }
        validate_administration(&marked)?;
        edit.db().medication_administrations_mut().upsert(std::slice::from_ref(&marked))?;
        enqueue(
            edit,
            ctx,
            &Record::MedicationAdministration { medication_administration: marked.clone() },
            Some(prior.version),
            Some(&Record::MedicationAdministration { medication_administration: prior }),
        )?;
        Ok(AdministrationRow { administration: marked, pending: true })
    })
}

/// Records a clinician's review of a possible double dose: the records
/// reviewed must be two or more of the order's, and the note is required.
/// Saved and pushed as a new record; audited as a `double-dose-review`
/// event (action `create`) in the same transaction. The flag clears on
/// every workstation once the review covers every record of the group.
pub fn review_double_dose(
    store: &mut Store,
    ctx: &AccessContext,
    entry: &DoseReviewEntry,
) -> Result<DoseReview, StoreError> {
    let now = Utc::now().trunc_subsecs(6);
    let device_id = store.device_id();
    let mut ids = entry.administration_ids.clone();
    ids.sort();
    ids.dedup();
    store.edit(|edit| {
        if !edit.db().patients().exists(entry.patient_id)? {
            return Err(StoreError::NotFound);
        }
        let order = medication_requests::for_edit(edit, entry.request_id)?
            .filter(|o| o.patient_id == entry.patient_id)
            .ok_or(StoreError::NotFound)?;
        let recorded = medication_administrations::of_order_for_edit(edit, order.id)?;
        if !ids.iter().all(|id| recorded.iter().any(|a| a.id == *id)) {
            return Err(invalid("administration_ids", "name doses recorded for this order"));
        }
        let review = DoseReview {
            id: Uuid::now_v7(),
            version: 0,
            updated_at: now,
            deleted: false,
            synthetic: false,
            patient_id: entry.patient_id,
            request_id: order.id,
            due_at: entry.due_at,
            administration_ids: ids,
            outcome: entry.outcome,
            note: entry.note.trim().to_owned(),
            reviewed_by: person(edit, ctx)?,
            reviewed_at: now,
        };
        validate_dose_review(&review)?;
        edit.db().dose_reviews_mut().upsert(std::slice::from_ref(&review))?;
        enqueue(edit, ctx, &Record::DoseReview { dose_review: review.clone() }, None, None)?;
        let access = Access {
            action: AuditAction::Create,
            subtype: AuditSubtype::DoubleDoseReview,
            patient: Some(entry.patient_id),
            outcome: AuditOutcome::Success,
        };
        crate::audit::record(edit.db(), device_id, ctx, access)?;
        Ok(review)
    })
}

#[cfg(test)]
mod tests;
