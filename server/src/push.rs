//! Client mutations, each applied exactly once: the mutation id is recorded
//! in the same transaction as its effect, so a batch retried after a lost
//! response changes nothing, and a concurrent duplicate waits on the first
//! and then finds it applied. Each mutation has its own transaction: one
//! conflict or rejection never holds back the others.

pub mod decide;

use chrono::{Duration, Utc};
use deadpool_postgres::ClientWrapper;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Statement, Transaction};
use uuid::Uuid;
use wardbook_protocol::api::{Change, Mutation, MutationOutcome, MutationResult, PushResponse, Record, RejectReason};
use wardbook_protocol::{Environment, Observation, Patient, validate_allergy, validate_observation, validate_patient};

use self::decide::{Decision, Edit, Facts, ScopeFacts, Stay};
use crate::auth::DeviceAuth;
use crate::config::{Policy, Settings};
use crate::error::{Error, Result};
use crate::feed;

/// Mutations in one push, at most.
pub const MAX_BATCH: usize = 1000;

/// Applies a batch in order. `settings` gives the environment (synthetic
/// rows are refused in production) and the late-edit window.
pub async fn push(
    db: &mut ClientWrapper,
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
        let outcome = match apply(db, device, settings, m).await {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entity {
    Patient,
    Observation,
    Allergy,
}

impl Entity {
    fn name(self) -> &'static str {
        match self {
            Entity::Patient => "patient",
            Entity::Observation => "observation",
            Entity::Allergy => "allergy",
        }
    }
}

const INSERT_APPLIED: &str =
    "INSERT INTO applied_mutations (mutation_id, device_id, author, authored_at, entity, entity_id, version)
     VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (mutation_id) DO NOTHING";
/// In scope now: assigned to one of the device's locations.
const IN_SCOPE: &str = "SELECT EXISTS (SELECT 1 FROM patient_locations
     WHERE patient_id = $1 AND location_id = ANY($2) AND active)";
/// The device's stays at locations and the patient's stays at those
/// locations (`false` and `true` in the first column), with the server's clock.
const STAYS: &str = "SELECT false, location_id, started_at, ended_at, statement_timestamp()
       FROM device_location_history WHERE device_id = $1
     UNION ALL
     SELECT true, location_id, started_at, ended_at, statement_timestamp()
       FROM patient_location_history
      WHERE patient_id = $2 AND location_id IN (SELECT location_id FROM device_location_history WHERE device_id = $1)";
const MRN_TAKEN: &str = "SELECT EXISTS (SELECT 1 FROM phi.patient_identities WHERE mrn = $1 AND patient_id <> $2)";
const APPLIED_VERSION: &str = "SELECT version FROM applied_mutations WHERE mutation_id = $1";
const UPDATE_APPLIED: &str = "UPDATE applied_mutations SET version = $2 WHERE mutation_id = $1";

fn current_sql(entity: Entity) -> &'static str {
    match entity {
        Entity::Patient => "SELECT version, id FROM patients WHERE id = $1 FOR UPDATE",
        Entity::Observation => "SELECT version, patient_id FROM observations WHERE id = $1 FOR UPDATE",
        Entity::Allergy => "SELECT version, patient_id FROM allergies WHERE id = $1 FOR UPDATE",
    }
}

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
    device: &DeviceAuth,
    settings: &Settings,
    m: &Mutation,
) -> Result<MutationOutcome> {
    let (entity, id, patient_id) = match &m.record {
        Record::Patient { patient } => (Entity::Patient, patient.id, patient.id),
        Record::Observation { observation: o } => (Entity::Observation, o.id, o.patient_id),
        Record::Allergy { allergy: a } => (Entity::Allergy, a.id, a.patient_id),
    };
    let insert_applied = db.prepare_cached(INSERT_APPLIED).await?;
    let in_scope = db.prepare_cached(IN_SCOPE).await?;
    let current_row = db.prepare_cached(current_sql(entity)).await?;
    let update_applied = db.prepare_cached(UPDATE_APPLIED).await?;
    let mrn_taken = db.prepare_cached(MRN_TAKEN).await?;
    let writes = match write_sql(&m.record) {
        Some((insert, update)) => Some((db.prepare_cached(insert).await?, db.prepare_cached(update).await?)),
        None => None,
    };
    // The row's own rules need no database; an invalid patient's MRN is not looked up.
    let invalid = validate(&m.record, settings.environment);
    let tx = db.transaction().await?;
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
                    tx.query_one(&mrn_taken, &[&patient.mrn, &patient.id]).await.map(Some)
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
    let facts = Facts {
        applied_before,
        invalid,
        scope,
        current: current.map(|r| (r.get(0), r.get(1))),
        mrn_taken: taken.is_some_and(|r| r.get(0)),
    };
    let edit = Edit { patient_id, base_version: m.base_version, author: &m.author, authored_at: m.authored_at };
    let update = match decide::decide(&edit, &facts) {
        Decision::Apply { update } => update,
        Decision::AlreadyApplied { version } => return Ok(MutationOutcome::AlreadyApplied { version }),
        Decision::Reject { reason, message } => return Ok(rejected(reason, message)),
        Decision::Conflict => {
            let record = record(&tx, entity, id).await?;
            return Ok(MutationOutcome::Conflict { current: Box::new(record) });
        }
    };
    let version = match (&m.record, writes) {
        (Record::Patient { patient }, _) => write_patient(&tx, patient, update).await?,
        (record, Some((insert, edit))) => {
            let statement = if update { edit } else { insert };
            write_row(&tx, record, &statement).await?
        }
        (_, None) => return Err(Error::Internal("no statement for a row kind".into())),
    };
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

/// A message naming the field and the limit (never the value), or `None`.
fn validate(record: &Record, environment: Environment) -> Option<String> {
    let (result, synthetic) = match record {
        Record::Patient { patient } => (validate_patient(patient, Utc::now().date_naive()), patient.synthetic),
        Record::Observation { observation } => (validate_observation(observation), observation.synthetic),
        Record::Allergy { allergy } => (validate_allergy(allergy), allergy.synthetic),
    };
    if let Err(errors) = result {
        return Some(errors.to_string());
    }
    (environment == Environment::Production && synthetic)
        .then(|| "Synthetic rows are refused in production.".to_owned())
}

/// Is the patient assigned to one of the device's locations?
pub async fn in_scope(tx: &Transaction<'_>, device: &DeviceAuth, patient_id: Uuid) -> Result<bool> {
    Ok(tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM patient_locations WHERE patient_id = $1 AND location_id = ANY($2) AND active)",
            &[&patient_id, &device.locations],
        )
        .await?
        .get(0))
}

/// The stored row as the feed would send it.
pub(crate) async fn record(tx: &Transaction<'_>, entity: Entity, id: Uuid) -> Result<Record> {
    let kind = match entity {
        Entity::Patient => feed::Kind::Patient,
        Entity::Observation => feed::Kind::Observation,
        Entity::Allergy => feed::Kind::Allergy,
    };
    let row = tx.query_one(&feed::row_query(kind), &[&id]).await?;
    Ok(match feed::decode_row(kind, &row)? {
        Change::Patient { patient } => Record::Patient { patient },
        Change::Observation { observation } => Record::Observation { observation },
        Change::Allergy { allergy } => Record::Allergy { allergy },
        Change::Remove { .. } => return Err(Error::Internal(format!("no stored {} {id}", entity.name()))),
    })
}

/// The (insert, update) statements of an observation or allergy; patients
/// write two tables and go through [`write_patient`].
pub(crate) fn write_sql(record: &Record) -> Option<(&'static str, &'static str)> {
    match record {
        Record::Patient { .. } => None,
        Record::Observation { .. } => Some((
            "INSERT INTO observations (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING version",
            "UPDATE observations SET synthetic = $3, deleted = $4, category = $5, code = $6, status = $7,
                    effective_at = $8, body = $9 WHERE id = $1 AND patient_id = $2 RETURNING version",
        )),
        Record::Allergy { .. } => Some((
            "INSERT INTO allergies (id, patient_id, synthetic, deleted, criticality, clinical_status, verification_status, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING version",
            "UPDATE allergies SET synthetic = $3, deleted = $4, criticality = $5, clinical_status = $6,
                    verification_status = $7, body = $8 WHERE id = $1 AND patient_id = $2 RETURNING version",
        )),
    }
}

/// Inserts or updates an observation or allergy; the trigger sets version and updated_at.
pub(crate) async fn write_row(tx: &Transaction<'_>, record: &Record, statement: &Statement) -> Result<i64> {
    let version = match record {
        Record::Observation { observation } => {
            let columns = ObservationColumns::new(observation)?;
            tx.query_one(statement, &columns.params()).await?.get(0)
        }
        Record::Allergy { allergy: a } => {
            let body = body(a)?;
            let params: [&(dyn ToSql + Sync); 8] = [
                &a.id,
                &a.patient_id,
                &a.synthetic,
                &a.deleted,
                &a.criticality.as_str(),
                &a.clinical_status.as_str(),
                &a.verification_status.as_str(),
                &body,
            ];
            tx.query_one(statement, &params).await?.get(0)
        }
        Record::Patient { .. } => return Err(Error::Internal("patients are written by write_patient".into())),
    };
    Ok(version)
}

/// An observation as the `observations` table's columns, in the order
/// (id, patient_id, synthetic, deleted, category, code, status,
/// effective_at, body) every insert, update and COPY uses.
pub(crate) struct ObservationColumns<'a> {
    observation: &'a Observation,
    category: &'static str,
    status: &'static str,
    body: serde_json::Value,
}

impl<'a> ObservationColumns<'a> {
    pub(crate) fn new(observation: &'a Observation) -> Result<Self> {
        Ok(ObservationColumns {
            observation,
            category: observation.category.as_str(),
            status: observation.status.as_str(),
            body: body(observation)?,
        })
    }

    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 9] {
        let o = self.observation;
        [
            &o.id,
            &o.patient_id,
            &o.synthetic,
            &o.deleted,
            &self.category,
            &o.code.code,
            &self.status,
            &o.effective_at,
            &self.body,
        ]
    }
}

/// The stored JSON body of an observation or allergy: the resource as the
/// protocol serialises it (server-managed fields are overlaid on read).
pub fn body<T: serde::Serialize>(row: &T) -> Result<serde_json::Value> {
    serde_json::to_value(row).map_err(|_| Error::Internal("a row did not serialise".into()))
}

/// Writes both halves of a patient: clinical columns and, apart, the identifiers.
pub async fn write_patient(tx: &Transaction<'_>, p: &Patient, update: bool) -> Result<i64> {
    let clinical: [&(dyn ToSql + Sync); 7] =
        [&p.id, &p.deleted, &p.synthetic, &p.sex.as_str(), &p.preferred_language, &p.location, &p.source_system];
    let identity: [&(dyn ToSql + Sync); 8] =
        [&p.id, &p.mrn, &p.given_name, &p.family_name, &p.birth_date, &p.phone, &p.email, &p.address];
    if update {
        tx.execute(
            "UPDATE phi.patient_identities SET mrn = $2, given_name = $3, family_name = $4, birth_date = $5,
                    phone = $6, email = $7, address = $8 WHERE patient_id = $1",
            &identity,
        )
        .await?;
        Ok(tx
            .query_one(
                "UPDATE patients SET deleted = $2, synthetic = $3, sex = $4, preferred_language = $5, location = $6,
                        source_system = $7 WHERE id = $1 RETURNING version",
                &clinical,
            )
            .await?
            .get(0))
    } else {
        let version = tx
            .query_one(
                "INSERT INTO patients (id, deleted, synthetic, sex, preferred_language, location, source_system)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING version",
                &clinical,
            )
            .await?
            .get(0);
        tx.execute(
            "INSERT INTO phi.patient_identities (patient_id, mrn, given_name, family_name, birth_date, phone, email, address)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &identity,
        )
        .await?;
        Ok(version)
    }
}
