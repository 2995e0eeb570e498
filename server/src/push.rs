//! Client mutations, each applied exactly once: the mutation id is recorded
//! in the same transaction as its effect, so a batch retried after a lost
//! response changes nothing, and a concurrent duplicate waits on the first
//! and then finds it applied.
//!
//! The mutations of one push run in one transaction, set-based: after a
//! per-device lock (which a concurrent duplicate of the batch waits on),
//! one query each finds the mutation ids applied before, the patients in
//! scope now and the stored versions of the target rows (locked, in id
//! order); [`decide::decide`] answers each mutation in Rust; and the new and
//! edited observations and allergies are written with one multi-row
//! statement per kind, their ids into `applied_mutations` with one more.
//! Conflicts and rejections write nothing, so re-sending gives the same
//! answer and a resolved conflict can be pushed later under a new id.
//!
//! The order of a batch is kept: a mutation whose row (or mutation id)
//! appeared earlier in the batch starts a new transaction, so it sees the
//! earlier one committed and each edit gets its own version, as the
//! change-feed triggers number them. Patients, administrations and dose
//! reviews (rarer, with rules of their own: the MRN, the one change an
//! administration allows, the order it answers, HL7 messages) go one at a
//! time inside the transaction, each under a savepoint. A value PostgreSQL
//! cannot hold fails only its own mutation: when a multi-row write fails so,
//! the batch is run again with each row written under its own savepoint.
//!
//! This module is the mutation flow: it fetches the facts, asks the pure
//! [`decide::decide`], and carries the decision out. The rows' own SQL (the
//! version lookup, inserts and updates, the scope check) is in `records`.

pub mod decide;

use std::collections::{HashMap, HashSet};

use chrono::{Duration, Utc};
use deadpool_postgres::{ClientWrapper, Transaction as PoolTransaction};
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;
use uuid::Uuid;
use wardbook_protocol::api::{Mutation, MutationOutcome, MutationResult, PushResponse, Record, RejectReason};
use wardbook_protocol::medication::{validate_administration, validate_dose_review};
use wardbook_protocol::{Allergy, Environment, Observation, validate_allergy, validate_observation, validate_patient};

use self::decide::{Decision, Edit, Facts, ScopeFacts, Stay};
use crate::auth::DeviceAuth;
use crate::config::{Policy, Settings};
use crate::error::{Error, INVALID_VALUE, Result};
use crate::keys::KeySet;
use crate::records::{self, Entity, IN_SCOPE, allergies, observations, patients};

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
    for segment in segments(mutations) {
        let mut attempts = 0;
        let outcomes = loop {
            attempts += 1;
            let tried = match apply_segment(db, keys, device, settings, segment, Writes::Together).await {
                // A value PostgreSQL cannot hold is one mutation's problem, not the
                // batch's: again, each row on its own (the first try rolled back).
                Err(Error::BadRequest { code: INVALID_VALUE, .. }) => {
                    apply_segment(db, keys, device, settings, segment, Writes::OneByOne).await
                }
                other => other,
            };
            match tried {
                // A deadlock with another device's batch rolled this piece back
                // whole: run it again, a few times, before answering 503.
                Err(Error::ConcurrentChange) if attempts < CONCURRENT_ATTEMPTS => continue,
                other => break other?,
            }
        };
        for (m, outcome) in segment.iter().zip(outcomes) {
            if !matches!(outcome, MutationOutcome::Applied { .. } | MutationOutcome::AlreadyApplied { .. }) {
                tracing::info!(device = %device.device_id, mutation = %m.id, outcome = outcome_name(&outcome), "mutation not applied");
            }
            results.push(MutationResult { id: m.id, outcome });
        }
    }
    Ok(PushResponse { results })
}

/// How many times a piece of a batch is tried when a concurrent transaction
/// rolls it back (PostgreSQL's deadlock detection picks one of two).
const CONCURRENT_ATTEMPTS: u32 = 3;

/// The batch cut where a mutation names a row (or carries a mutation id)
/// already named earlier in the same piece: each piece is one transaction,
/// and a later edit of a row sees the earlier one committed.
fn segments(mutations: &[Mutation]) -> Vec<&[Mutation]> {
    let mut out = Vec::new();
    let (mut start, mut ids, mut targets) = (0, HashSet::new(), HashSet::new());
    for (i, m) in mutations.iter().enumerate() {
        let target = Target::of(&m.record);
        if ids.contains(&m.id) || targets.contains(&(target.entity, target.id)) {
            out.push(&mutations[start..i]);
            (start, ids, targets) = (i, HashSet::new(), HashSet::new());
        }
        ids.insert(m.id);
        targets.insert((target.entity, target.id));
    }
    if start < mutations.len() {
        out.push(&mutations[start..]);
    }
    out
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

/// The row a mutation writes.
#[derive(Clone, Copy, Debug)]
struct Target {
    entity: Entity,
    id: Uuid,
    patient_id: Uuid,
}

impl Target {
    fn of(record: &Record) -> Target {
        let (entity, id, patient_id) = match record {
            Record::Patient { patient } => (Entity::Patient, patient.id, patient.id),
            Record::Observation { observation: o } => (Entity::Observation, o.id, o.patient_id),
            Record::Allergy { allergy: a } => (Entity::Allergy, a.id, a.patient_id),
            Record::MedicationAdministration { medication_administration: a } => {
                (Entity::MedicationAdministration, a.id, a.patient_id)
            }
            Record::DoseReview { dose_review: r } => (Entity::DoseReview, r.id, r.patient_id),
        };
        Target { entity, id, patient_id }
    }
}

/// How the rows decided in a segment are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writes {
    /// Observations and allergies with one statement per kind, at the end.
    Together,
    /// Each row as it is decided, under its own savepoint: a value PostgreSQL
    /// cannot hold rejects only its mutation.
    OneByOne,
}

/// Serialises the pushes of one device: a duplicate of a batch in flight (a
/// retry racing the original) waits here, then finds its mutations applied.
const LOCK_DEVICE: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 16))";
const INSERT_APPLIED: &str =
    "INSERT INTO applied_mutations (mutation_id, device_id, author, authored_at, entity, entity_id, version)
     VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (mutation_id) DO NOTHING";
/// One applied mutation with its version (a row written under a savepoint).
const INSERT_APPLIED_VERSION: &str =
    "INSERT INTO applied_mutations (mutation_id, device_id, author, authored_at, entity, entity_id, version)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (mutation_id) DO NOTHING";
/// Many applied mutations, one device's (`$2`).
const INSERT_APPLIED_MANY: &str =
    "INSERT INTO applied_mutations (mutation_id, device_id, author, authored_at, entity, entity_id, version)
     SELECT m.id, $2::uuid, m.author, m.authored_at, m.entity, m.entity_id, m.version
       FROM UNNEST($1::uuid[], $3::text[], $4::timestamptz[], $5::text[], $6::uuid[], $7::int8[])
            AS m (id, author, authored_at, entity, entity_id, version)
     ON CONFLICT (mutation_id) DO NOTHING";
/// The device's stays at locations and the patient's stays at those
/// locations (`false` and `true` in the first column), with the server's clock.
const STAYS: &str = "SELECT false, location_id, started_at, ended_at, statement_timestamp()
       FROM device_location_history WHERE device_id = $1
     UNION ALL
     SELECT true, location_id, started_at, ended_at, statement_timestamp()
       FROM patient_location_history
      WHERE patient_id = $2 AND location_id IN (SELECT location_id FROM device_location_history WHERE device_id = $1)";
const APPLIED_VERSION: &str = "SELECT version FROM applied_mutations WHERE mutation_id = $1";
const APPLIED_VERSIONS: &str = "SELECT mutation_id, version FROM applied_mutations WHERE mutation_id = ANY($1)";
const UPDATE_APPLIED: &str = "UPDATE applied_mutations SET version = $2 WHERE mutation_id = $1";

/// How long after a device lost a patient (transfer, discharge, the
/// workstation moved) it may still send an edit made before: the offline
/// window of the policy, `offline_unlock_hours`.
pub fn late_edit_window(policy: &Policy) -> Duration {
    Duration::hours(i64::from(policy.offline_unlock_hours))
}

/// What one query each found for a whole segment.
struct Lookups {
    /// Mutation id → the version it produced.
    applied: HashMap<Uuid, i64>,
    /// Patients assigned now to one of the device's locations.
    in_scope: HashSet<Uuid>,
    /// (kind, id) → (version, patient) of the stored rows, locked.
    current: HashMap<(Entity, Uuid), (i64, Uuid)>,
}

impl Lookups {
    async fn fetch(tx: &PoolTransaction<'_>, device: &DeviceAuth, batch: &[Mutation]) -> Result<Lookups> {
        let ids: Vec<Uuid> = batch.iter().map(|m| m.id).collect();
        let targets: Vec<Target> = batch.iter().map(|m| Target::of(&m.record)).collect();
        let mut patients: Vec<Uuid> = targets.iter().map(|t| t.patient_id).collect();
        patients.sort_unstable();
        patients.dedup();
        let applied_sql = tx.prepare_cached(APPLIED_VERSIONS).await?;
        let in_scope_sql = tx.prepare_cached(records::IN_SCOPE_ANY).await?;
        // A fixed order of kinds, each locked in id order: two pushes that
        // share rows lock them in the same order.
        let mut by_kind = Vec::new();
        for entity in [
            Entity::Patient,
            Entity::Observation,
            Entity::Allergy,
            Entity::MedicationAdministration,
            Entity::DoseReview,
        ] {
            let ids: Vec<Uuid> = targets.iter().filter(|t| t.entity == entity).map(|t| t.id).collect();
            if !ids.is_empty() {
                by_kind.push((entity, tx.prepare_cached(records::current_many_sql(entity)).await?, ids));
            }
        }
        let applied_params: [&(dyn ToSql + Sync); 1] = [&ids];
        let in_scope_params: [&(dyn ToSql + Sync); 2] = [&patients, &device.locations];
        let (applied, in_scope, current) =
            tokio::join!(tx.query(&applied_sql, &applied_params), tx.query(&in_scope_sql, &in_scope_params), async {
                let mut current: HashMap<(Entity, Uuid), (i64, Uuid)> = HashMap::new();
                for (entity, statement, ids) in &by_kind {
                    for row in tx.query(statement, &[ids]).await? {
                        current.insert((*entity, row.get::<_, Uuid>(0)), (row.get(1), row.get(2)));
                    }
                }
                Ok::<_, tokio_postgres::Error>(current)
            },);
        // In statement order: once one fails, the later ones only say "transaction aborted".
        let (applied, in_scope, current) = (applied?, in_scope?, current?);
        Ok(Lookups {
            applied: applied.iter().map(|r| (r.get(0), r.get(1))).collect(),
            in_scope: in_scope.iter().map(|r| r.get(0)).collect(),
            current,
        })
    }
}

/// A new or edited observation or allergy, decided, to be written.
struct Pending<'a> {
    index: usize,
    mutation: &'a Mutation,
    target: Target,
    update: bool,
}

/// Applies a segment (see [`segments`]) in one transaction and answers each
/// of its mutations, in order.
async fn apply_segment(
    db: &mut ClientWrapper,
    keys: &KeySet,
    device: &DeviceAuth,
    settings: &Settings,
    batch: &[Mutation],
    writes: Writes,
) -> Result<Vec<MutationOutcome>> {
    let lock = db.prepare_cached(LOCK_DEVICE).await?;
    let mut tx = db.transaction().await?;
    tx.execute(&lock, &[&device.device_id]).await?;
    let lookups = Lookups::fetch(&tx, device, batch).await?;
    let window = late_edit_window(&settings.policy);
    let mut outcomes: Vec<Option<MutationOutcome>> = Vec::with_capacity(batch.len());
    let mut pending = Vec::new();
    let mut stays_of: HashMap<Uuid, ScopeFacts> = HashMap::new();
    for (index, m) in batch.iter().enumerate() {
        let target = Target::of(&m.record);
        let together = matches!(m.record, Record::Observation { .. } | Record::Allergy { .. })
            // An author PostgreSQL cannot hold is refused as a value, whatever
            // else the mutation is: the one-at-a-time path finds it first.
            && !m.author.contains('\0');
        if !together {
            outcomes.push(Some(apply_alone(&mut tx, keys, device, settings, m).await?));
            continue;
        }
        let applied_before = lookups.applied.get(&m.id).copied();
        let invalid = validate(&m.record, settings.environment);
        // A repeat is answered whatever the scope; otherwise history is read
        // only for a patient not in scope now.
        let scope = if applied_before.is_some() || lookups.in_scope.contains(&target.patient_id) {
            ScopeFacts::in_scope_now(Utc::now(), window)
        } else if let Some(scope) = stays_of.get(&target.patient_id) {
            scope.clone()
        } else {
            let scope = stays(&tx, device, target.patient_id, window).await?;
            stays_of.insert(target.patient_id, scope.clone());
            scope
        };
        let current = lookups.current.get(&(target.entity, target.id)).copied();
        let facts = Facts { applied_before, invalid, scope, current, mrn_taken: false, append_only: None };
        let edit = Edit {
            patient_id: target.patient_id,
            base_version: m.base_version,
            author: &m.author,
            authored_at: m.authored_at,
        };
        let outcome = match decide::decide(&edit, &facts) {
            Decision::Apply { update } if writes == Writes::OneByOne => {
                Some(write_alone(&mut tx, device, m, target, update).await?)
            }
            Decision::Apply { update } => {
                pending.push(Pending { index, mutation: m, target, update });
                None
            }
            Decision::AlreadyApplied { version } => Some(MutationOutcome::AlreadyApplied { version }),
            Decision::Reject { reason, message } => Some(rejected(reason, message)),
            Decision::Conflict => {
                let record = records::record(&tx, keys, target.entity, target.id).await?;
                Some(MutationOutcome::Conflict { current: Box::new(record) })
            }
        };
        outcomes.push(outcome);
    }
    if !pending.is_empty() {
        for (index, version) in write_together(&tx, device, &pending).await? {
            outcomes[index] = Some(MutationOutcome::Applied { version });
        }
    }
    let outcomes = outcomes
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::Internal("a mutation of the batch was left unanswered".into()))?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Writes the decided observations and allergies with one statement per
/// kind and operation, and their mutation ids with one more. Returns each
/// one's index in the segment and its new version.
async fn write_together(
    tx: &PoolTransaction<'_>,
    device: &DeviceAuth,
    pending: &[Pending<'_>],
) -> Result<Vec<(usize, i64)>> {
    let mut groups: [(Vec<&Observation>, Vec<&Allergy>); 2] = Default::default();
    for p in pending {
        let group = &mut groups[usize::from(p.update)];
        match &p.mutation.record {
            Record::Observation { observation } => group.0.push(observation),
            Record::Allergy { allergy } => group.1.push(allergy),
            _ => return Err(Error::Internal("only observations and allergies are written together".into())),
        }
    }
    let [(new_observations, new_allergies), (edited_observations, edited_allergies)] = &groups;
    let statements = (
        tx.prepare_cached(observations::INSERT_MANY).await?,
        tx.prepare_cached(observations::UPDATE_MANY).await?,
        tx.prepare_cached(allergies::INSERT_MANY).await?,
        tx.prepare_cached(allergies::UPDATE_MANY).await?,
        tx.prepare_cached(INSERT_APPLIED_MANY).await?,
    );
    let (a, b, c, d) = tokio::join!(
        observations::write_many(tx, new_observations, &statements.0),
        observations::write_many(tx, edited_observations, &statements.1),
        allergies::write_many(tx, new_allergies, &statements.2),
        allergies::write_many(tx, edited_allergies, &statements.3),
    );
    let versions: HashMap<(Entity, Uuid), i64> =
        [(Entity::Observation, a?), (Entity::Observation, b?), (Entity::Allergy, c?), (Entity::Allergy, d?)]
            .into_iter()
            .flat_map(|(entity, rows)| rows.into_iter().map(move |(id, version)| ((entity, id), version)))
            .collect();
    let mut written = Vec::with_capacity(pending.len());
    let (mut ids, mut authors, mut authored, mut entities, mut entity_ids, mut new_versions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in pending {
        let version = *versions
            .get(&(p.target.entity, p.target.id))
            .ok_or_else(|| Error::Internal(format!("{} {} was not written", p.target.entity.name(), p.target.id)))?;
        ids.push(p.mutation.id);
        authors.push(p.mutation.author.as_str());
        authored.push(p.mutation.authored_at);
        entities.push(p.target.entity.name());
        entity_ids.push(p.target.id);
        new_versions.push(version);
        written.push((p.index, version));
    }
    let params: [&(dyn ToSql + Sync); 7] =
        [&ids, &device.device_id, &authors, &authored, &entities, &entity_ids, &new_versions];
    let recorded = tx.execute(&statements.4, &params).await?;
    if recorded != ids.len() as u64 {
        // Under the device's lock no other push records these ids: refuse
        // rather than apply a mutation twice (the transaction rolls back).
        return Err(Error::Internal("a mutation id was recorded by another push meanwhile".into()));
    }
    Ok(written)
}

/// Writes one decided observation or allergy under its own savepoint: a
/// value PostgreSQL cannot hold rejects this mutation only.
async fn write_alone(
    tx: &mut PoolTransaction<'_>,
    device: &DeviceAuth,
    m: &Mutation,
    target: Target,
    update: bool,
) -> Result<MutationOutcome> {
    let Some((insert, edit)) = records::write_sql(&m.record) else {
        return Err(Error::Internal("no statement for a row kind".into()));
    };
    let statement = tx.prepare_cached(if update { edit } else { insert }).await?;
    let recorded = tx.prepare_cached(INSERT_APPLIED_VERSION).await?;
    let savepoint = tx.savepoint("wardbook_mutation").await?;
    let written = async {
        let version = records::write_row(&savepoint, &m.record, &statement).await?;
        let entity = target.entity.name();
        let params: [&(dyn ToSql + Sync); 7] =
            [&m.id, &device.device_id, &m.author, &m.authored_at, &entity, &target.id, &version];
        savepoint.execute(&recorded, &params).await?;
        Ok::<_, Error>(version)
    }
    .await;
    match written {
        Ok(version) => {
            savepoint.commit().await?;
            Ok(MutationOutcome::Applied { version })
        }
        Err(Error::BadRequest { code: INVALID_VALUE, message }) => {
            savepoint.rollback().await?;
            Ok(rejected(RejectReason::Validation, message))
        }
        Err(other) => Err(other),
    }
}

/// Applies one mutation on its own under a savepoint of the push's
/// transaction: a conflict, a rejection or a value PostgreSQL cannot hold
/// rolls back only its own work.
async fn apply_alone(
    tx: &mut PoolTransaction<'_>,
    keys: &KeySet,
    device: &DeviceAuth,
    settings: &Settings,
    m: &Mutation,
) -> Result<MutationOutcome> {
    let savepoint = tx.savepoint("wardbook_mutation").await?;
    match apply(&savepoint, keys, device, settings, m).await {
        Ok(outcome @ MutationOutcome::Applied { .. }) => {
            savepoint.commit().await?;
            Ok(outcome)
        }
        Ok(outcome) => {
            savepoint.rollback().await?;
            Ok(outcome)
        }
        // A value PostgreSQL cannot hold is this mutation's problem, not the
        // batch's: refused like any invalid row.
        Err(Error::BadRequest { code: INVALID_VALUE, message }) => {
            savepoint.rollback().await?;
            Ok(rejected(RejectReason::Validation, message))
        }
        Err(other) => Err(other),
    }
}

/// Applies one mutation: records its id (a repeat finds it there), fetches
/// the facts, [`decide::decide`]s, and carries the decision out. Statements
/// are prepared once per connection (deadpool's cache) and the independent
/// lookups go out pipelined. The caller commits an application and rolls
/// anything else back.
async fn apply(
    tx: &PoolTransaction<'_>,
    keys: &KeySet,
    device: &DeviceAuth,
    settings: &Settings,
    m: &Mutation,
) -> Result<MutationOutcome> {
    let Target { entity, id, patient_id } = Target::of(&m.record);
    let insert_applied = tx.prepare_cached(INSERT_APPLIED).await?;
    let in_scope = tx.prepare_cached(IN_SCOPE).await?;
    let current_row = tx.prepare_cached(records::current_sql(entity)).await?;
    let update_applied = tx.prepare_cached(UPDATE_APPLIED).await?;
    let mrn_taken = tx.prepare_cached(patients::MRN_TAKEN).await?;
    let writes = match records::write_sql(&m.record) {
        Some((insert, update)) => Some((tx.prepare_cached(insert).await?, tx.prepare_cached(update).await?)),
        None => None,
    };
    // The row's own rules need no database; an invalid patient's MRN is not looked up.
    let mut invalid = validate(&m.record, settings.environment);
    if invalid.is_none() {
        invalid = order_problem(tx, &m.record).await?;
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
        stays(tx, device, patient_id, window).await?
    };
    let current: Option<(i64, Uuid)> = current.map(|r| (r.get(0), r.get(1)));
    let append_only = match (&m.record, current) {
        (Record::MedicationAdministration { medication_administration: next }, Some(_)) => {
            Some(records::medication_administrations::read(tx, id).await?.may_become(next))
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
            let record = records::record(tx, keys, entity, id).await?;
            return Ok(MutationOutcome::Conflict { current: Box::new(record) });
        }
    };
    let version = match (&m.record, writes) {
        (Record::Patient { patient }, _) => patients::write(tx, keys, patient, update).await?,
        (record, Some((insert, edit))) => {
            let statement = if update { edit } else { insert };
            records::write_row(tx, record, &statement).await?
        }
        (_, None) => return Err(Error::Internal("no statement for a row kind".into())),
    };
    crate::hl7::ras::queue(tx, keys, &m.record).await?;
    tx.execute(&update_applied, &[&m.id, &version]).await?;
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
