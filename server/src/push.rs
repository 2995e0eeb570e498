//! Client mutations, each applied exactly once: the mutation id is recorded
//! in the same transaction as its effect, so a batch retried after a lost
//! response changes nothing, and a concurrent duplicate waits on the first
//! and then finds it applied. Each mutation has its own transaction: one
//! conflict or rejection never holds back the others.
//!
//! This module is the mutation flow: it fetches the facts, asks the pure
//! [`decide::decide`], and carries the decision out. The rows' own SQL (the
//! version lookup, inserts and updates, the scope check) is in `records`.

pub mod decide;

use chrono::{Duration, Utc};
use deadpool_postgres::ClientWrapper;
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;
use uuid::Uuid;
use wardbook_protocol::api::{Mutation, MutationOutcome, MutationResult, PushResponse, Record, RejectReason};
use wardbook_protocol::medication::{validate_administration, validate_dose_review};
use wardbook_protocol::{Environment, validate_allergy, validate_observation, validate_patient};

use self::decide::{Decision, Edit, Facts, ScopeFacts, Stay};
use crate::auth::DeviceAuth;
use crate::config::{Policy, Settings};
use crate::error::{Error, Result};
use crate::keys::KeySet;
use crate::records::{self, Entity, IN_SCOPE, patients};

/// Mutations in one push, at most.
pub const MAX_BATCH: usize = 1000;

/// Applies a batch in order. `settings` gives the environment (synthetic
/// rows are refused in production) and the late-edit window.
pub async fn push(
    db: &mut ClientWrapper,
    keys: &KeySet,
    device: &DeviceAuth,
    settings: &Settings,
    mutations: &[Mutation],
) -> Result<PushResponse> {
    if mutations.len() > MAX_BATCH {
        return Err(Error::bad_request(
            "batch_too_large",
            format!("A push carries at most {MAX_BATCH} mutations. Split the batch."),
        ));
    }
    let mut results = Vec::with_capacity(mutations.len());
    for m in mutations {
        let outcome = match apply(db, keys, device, settings, m).await {
            // A value PostgreSQL cannot hold is this mutation's problem, not the
            // batch's: refused like any invalid row (its transaction rolled back).
            Err(Error::BadRequest { code: crate::error::INVALID_VALUE, message }) => {
                rejected(RejectReason::Validation, message)
            }
            other => other?,
        };
        if !matches!(outcome, MutationOutcome::Applied { .. } | MutationOutcome::AlreadyApplied { .. }) {
            tracing::info!(device = %device.device_id, mutation = %m.id, outcome = outcome_name(&outcome), "mutation not applied");
        }
        results.push(MutationResult { id: m.id, outcome });
    }
    Ok(PushResponse { results })
}

fn outcome_name(o: &MutationOutcome) -> &'static str {
    match o {
        MutationOutcome::Applied { .. } => "applied",
        MutationOutcome::AlreadyApplied { .. } => "already_applied",
        MutationOutcome::Conflict { .. } => "conflict",
        MutationOutcome::Rejected { .. } => "rejected",
    }
}

fn rejected(reason: RejectReason, message: impl Into<String>) -> MutationOutcome {
    MutationOutcome::Rejected { reason, message: message.into() }
}

const INSERT_APPLIED: &str =
    "INSERT INTO applied_mutations (mutation_id, device_id, author, authored_at, entity, entity_id, version)
     VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (mutation_id) DO NOTHING";
/// The device's stays at locations and the patient's stays at those
/// locations (`false` and `true` in the first column), with the server's clock.
const STAYS: &str = "SELECT false, location_id, started_at, ended_at, statement_timestamp()
       FROM device_location_history WHERE device_id = $1
     UNION ALL
     SELECT true, location_id, started_at, ended_at, statement_timestamp()
       FROM patient_location_history
      WHERE patient_id = $2 AND location_id IN (SELECT location_id FROM device_location_history WHERE device_id = $1)";
const APPLIED_VERSION: &str = "SELECT version FROM applied_mutations WHERE mutation_id = $1";
const UPDATE_APPLIED: &str = "UPDATE applied_mutations SET version = $2 WHERE mutation_id = $1";

/// How long after a device lost a patient (transfer, discharge, the
/// workstation moved) it may still send an edit made before: the offline
/// window of the policy, `offline_unlock_hours`.
pub fn late_edit_window(policy: &Policy) -> Duration {
    Duration::hours(i64::from(policy.offline_unlock_hours))
}

/// Applies one mutation in its own transaction: fetches the facts,
/// [`decide::decide`]s, and carries the decision out. Statements are
/// prepared once per connection (deadpool's cache) and the independent
/// lookups go out pipelined, so a mutation costs a handful of round trips.
async fn apply(
    db: &mut ClientWrapper,
    keys: &KeySet,
    device: &DeviceAuth,
    settings: &Settings,
    m: &Mutation,
) -> Result<MutationOutcome> {
    let (entity, id, patient_id) = match &m.record {
        Record::Patient { patient } => (Entity::Patient, patient.id, patient.id),
        Record::Observation { observation: o } => (Entity::Observation, o.id, o.patient_id),
        Record::Allergy { allergy: a } => (Entity::Allergy, a.id, a.patient_id),
        Record::MedicationAdministration { medication_administration: a } => {
            (Entity::MedicationAdministration, a.id, a.patient_id)
        }
        Record::DoseReview { dose_review: r } => (Entity::DoseReview, r.id, r.patient_id),
    };
    let insert_applied = db.prepare_cached(INSERT_APPLIED).await?;
    let in_scope = db.prepare_cached(IN_SCOPE).await?;
    let current_row = db.prepare_cached(records::current_sql(entity)).await?;
    let update_applied = db.prepare_cached(UPDATE_APPLIED).await?;
    let mrn_taken = db.prepare_cached(patients::MRN_TAKEN).await?;
    let writes = match records::write_sql(&m.record) {
        Some((insert, update)) => Some((db.prepare_cached(insert).await?, db.prepare_cached(update).await?)),
        None => None,
    };
    // The row's own rules need no database; an invalid patient's MRN is not looked up.
    let mut invalid = validate(&m.record, settings.environment);
    let tx = db.transaction().await?;
    if invalid.is_none() {
        invalid = order_problem(&tx, &m.record).await?;
    }
    let entity_name = entity.name();
    let applied_params: [&(dyn ToSql + Sync); 6] =
        [&m.id, &device.device_id, &m.author, &m.authored_at, &entity_name, &id];
    let scope_params: [&(dyn ToSql + Sync); 2] = [&patient_id, &device.locations];
    let current_params: [&(dyn ToSql + Sync); 1] = [&id];
    let (fresh, scoped, current, taken) = tokio::join!(
        tx.execute(&insert_applied, &applied_params),
        tx.query_one(&in_scope, &scope_params),
        tx.query_opt(&current_row, &current_params),
        async {
            match &m.record {
                Record::Patient { patient } if invalid.is_none() => {
                    let (index, clear) = patients::mrn_params(keys, &patient.mrn);
                    tx.query_one(&mrn_taken, &[&index, &clear, &patient.id]).await.map(Some)
                }
                _ => Ok(None),
            }
        },
    );
    // In statement order: once one fails, the later ones only say "transaction aborted".
    let (fresh, scoped, current, taken) = (fresh?, scoped?, current?, taken?);
    let applied_before = match fresh {
        0 => Some(tx.query_one(APPLIED_VERSION, &[&m.id]).await?.get(0)),
        _ => None,
    };
    let window = late_edit_window(&settings.policy);
    // A repeat is answered whatever the scope; otherwise history is read
    // only for a patient not in scope now.
    let scope = if applied_before.is_some() || scoped.get::<_, bool>(0) {
        ScopeFacts::in_scope_now(Utc::now(), window)
    } else {
        stays(&tx, device, patient_id, window).await?
    };
    let current: Option<(i64, Uuid)> = current.map(|r| (r.get(0), r.get(1)));
    let append_only = match (&m.record, current) {
        (Record::MedicationAdministration { medication_administration: next }, Some(_)) => {
            Some(records::medication_administrations::read(&tx, id).await?.may_become(next))
        }
        (Record::MedicationAdministration { .. } | Record::DoseReview { .. }, _) => Some(false),
        _ => None,
    };
    let facts =
        Facts { applied_before, invalid, scope, current, mrn_taken: taken.is_some_and(|r| r.get(0)), append_only };
    let edit = Edit { patient_id, base_version: m.base_version, author: &m.author, authored_at: m.authored_at };
    let update = match decide::decide(&edit, &facts) {
        Decision::Apply { update } => update,
        Decision::AlreadyApplied { version } => return Ok(MutationOutcome::AlreadyApplied { version }),
        Decision::Reject { reason, message } => return Ok(rejected(reason, message)),
        Decision::Conflict => {
            let record = records::record(&tx, keys, entity, id).await?;
            return Ok(MutationOutcome::Conflict { current: Box::new(record) });
        }
    };
    let version = match (&m.record, writes) {
        (Record::Patient { patient }, _) => patients::write(&tx, keys, patient, update).await?,
        (record, Some((insert, edit))) => {
            let statement = if update { edit } else { insert };
            records::write_row(&tx, record, &statement).await?
        }
        (_, None) => return Err(Error::Internal("no statement for a row kind".into())),
    };
    crate::hl7::ras::queue(&tx, keys, &m.record).await?;
    tx.execute(&update_applied, &[&m.id, &version]).await?;
    tx.commit().await?;
    Ok(MutationOutcome::Applied { version })
}

/// The history the server recorded (migration V4) for a patient not in the
/// device's scope now.
async fn stays(tx: &Transaction<'_>, device: &DeviceAuth, patient_id: Uuid, window: Duration) -> Result<ScopeFacts> {
    let rows = tx.query(STAYS, &[&device.device_id, &patient_id]).await?;
    let mut facts = ScopeFacts {
        current: false,
        device_stays: Vec::new(),
        patient_stays: Vec::new(),
        now: rows.first().map_or_else(Utc::now, |r| r.get(4)),
        window,
    };
    for row in &rows {
        let stay = Stay { location: row.get(1), start: row.get(2), end: row.get(3) };
        if row.get(0) { facts.patient_stays.push(stay) } else { facts.device_stays.push(stay) }
    }
    Ok(facts)
}

/// An administration or review must answer an order of its own patient.
async fn order_problem(tx: &Transaction<'_>, record: &Record) -> Result<Option<String>> {
    let (request_id, patient_id) = match record {
        Record::MedicationAdministration { medication_administration: a } => (a.request_id, a.patient_id),
        Record::DoseReview { dose_review: r } => (r.request_id, r.patient_id),
        _ => return Ok(None),
    };
    let owner: Option<Uuid> =
        tx.query_opt(records::medication_administrations::ORDER_PATIENT, &[&request_id]).await?.map(|r| r.get(0));
    Ok((owner != Some(patient_id))
        .then(|| "The medication order this record answers is not on the service for this patient.".to_owned()))
}

/// A message naming the field and the limit (never the value), or `None`.
fn validate(record: &Record, environment: Environment) -> Option<String> {
    let (result, synthetic) = match record {
        Record::Patient { patient } => (validate_patient(patient, Utc::now().date_naive()), patient.synthetic),
        Record::Observation { observation } => (validate_observation(observation), observation.synthetic),
        Record::Allergy { allergy } => (validate_allergy(allergy), allergy.synthetic),
        Record::MedicationAdministration { medication_administration: a } => (validate_administration(a), a.synthetic),
        Record::DoseReview { dose_review: r } => (validate_dose_review(r), r.synthetic),
    };
    if let Err(errors) = result {
        return Some(errors.to_string());
    }
    (environment == Environment::Production && synthetic)
        .then(|| "Synthetic rows are refused in production.".to_owned())
}
