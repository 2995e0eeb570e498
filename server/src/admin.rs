//! What IT staff do from the admin CLI: locations, users, patient
//! assignments, and synthetic data outside production. Plain functions over
//! a database client, called by `main.rs` and by tests.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::Environment;
use wardbook_protocol::api::{Record, Role};
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};

use crate::auth;
use crate::error::{Error, Result};
use crate::keys::KeySet;
use crate::records::{self, observations, patients};

pub async fn location_add(db: &tokio_postgres::Client, code: &str, name: &str) -> Result<Uuid> {
    let code = code.trim();
    if code.is_empty() || code.chars().count() > 60 || name.trim().is_empty() || name.chars().count() > 120 {
        return Err(Error::bad_request(
            "invalid_location",
            "A location code is 1 to 60 characters and its name 1 to 120.",
        ));
    }
    let id = Uuid::now_v7();
    let n = db
        .execute(
            "INSERT INTO locations (id, code, name) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING",
            &[&id, &code, &name.trim()],
        )
        .await?;
    if n == 0 {
        return Err(Error::bad_request("duplicate_location", "A location with that code exists already."));
    }
    Ok(id)
}

pub async fn location_id(db: &tokio_postgres::Client, code: &str) -> Result<Uuid> {
    db.query_opt("SELECT id FROM locations WHERE code = $1", &[&code])
        .await?
        .map(|r| r.get(0))
        .ok_or(Error::NotFound("There is no location with that code. Add it with `wardbook-server location add`."))
}

/// Creates a user; the password is hashed with Argon2id on the blocking pool.
pub async fn user_add(
    db: &tokio_postgres::Client,
    username: &str,
    display_name: &str,
    roles: &[Role],
    password: &str,
) -> Result<Uuid> {
    let username = username.trim().to_lowercase();
    let valid_name = username.len() >= 2
        && username.len() <= 64
        && username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && username.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !valid_name {
        return Err(Error::bad_request(
            "invalid_username",
            "A user name is 2 to 64 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.",
        ));
    }
    if display_name.trim().is_empty() || display_name.chars().count() > 120 {
        return Err(Error::bad_request("invalid_display_name", "The display name must be 1 to 120 characters."));
    }
    if password.chars().count() < 12 {
        return Err(Error::bad_request("weak_password", "A password must be at least 12 characters."));
    }
    if roles.is_empty() {
        return Err(Error::bad_request("invalid_roles", "Give the user at least one role."));
    }
    let password = zeroize::Zeroizing::new(password.to_owned());
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| Error::Internal("password hashing task failed".into()))?
        .map_err(|_| Error::Internal("password hashing failed".into()))?;
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let id = Uuid::now_v7();
    let n = db
        .execute(
            "INSERT INTO users (id, username, display_name, password_hash, roles) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (username) DO NOTHING",
            &[&id, &username, &display_name.trim(), &hash, &roles],
        )
        .await?;
    if n == 0 {
        return Err(Error::bad_request("duplicate_user", "A user with that name exists already."));
    }
    Ok(id)
}

const NO_USER: &str = "There is no user with that name. `wardbook-server user add` makes local ones; directory users appear at their first sign-in.";

async fn user_id(db: &tokio_postgres::Client, username: &str) -> Result<Uuid> {
    let name = username.trim().to_lowercase();
    db.query_opt("SELECT id FROM users WHERE username = $1", &[&name])
        .await?
        .map(|r| r.get(0))
        .ok_or(Error::NotFound(NO_USER))
}

/// Disables a user and ends their sessions (a leaver); whether it changed anything.
pub async fn user_disable(db: &tokio_postgres::Client, username: &str) -> Result<(Uuid, bool)> {
    let id = user_id(db, username).await?;
    Ok((id, crate::identity::users::disable(db, id, crate::identity::users::DisabledBy::Admin).await?))
}

/// Enables a disabled user; whether it changed anything.
pub async fn user_enable(db: &tokio_postgres::Client, username: &str) -> Result<(Uuid, bool)> {
    let id = user_id(db, username).await?;
    Ok((id, crate::identity::users::enable(db, id).await?))
}

/// How a patient is named on the command line: its id or its MRN.
pub async fn patient_id(db: &tokio_postgres::Client, keys: &KeySet, id_or_mrn: &str) -> Result<Uuid> {
    if let Ok(id) = Uuid::try_parse(id_or_mrn) {
        return Ok(id);
    }
    patients::by_mrn(db, keys, id_or_mrn).await?.ok_or(Error::NotFound("There is no patient with that id or MRN."))
}

/// A patient as the feed sends it, identifiers opened (for tools and tests
/// that must see the clear values: the database holds only ciphertext).
pub async fn patient(
    db: &mut tokio_postgres::Client,
    keys: &KeySet,
    id: Uuid,
) -> Result<Option<wardbook_protocol::Patient>> {
    let tx = db.transaction().await?;
    let exists: bool = tx.query_one("SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1)", &[&id]).await?.get(0);
    let patient = if exists { Some(patients::read(&tx, keys, id).await?) } else { None };
    tx.commit().await?;
    Ok(patient)
}

/// Every patient, identifiers opened, ordered by MRN (tools and tests).
pub async fn patients(db: &mut tokio_postgres::Client, keys: &KeySet) -> Result<Vec<wardbook_protocol::Patient>> {
    let ids: Vec<Uuid> = db.query("SELECT id FROM patients", &[]).await?.iter().map(|r| r.get(0)).collect();
    let tx = db.transaction().await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(patients::read(&tx, keys, id).await?);
    }
    tx.commit().await?;
    out.sort_by(|a, b| a.mrn.cmp(&b.mrn));
    Ok(out)
}

/// Every sender's identifier of one kind (`patient`, `medication_request`,
/// ...), opened: (system, value, our row), sorted by (system, value). For
/// tools and tests: the database holds the values sealed.
pub async fn external_ids(
    db: &tokio_postgres::Client,
    keys: &KeySet,
    kind: &str,
) -> Result<Vec<(String, String, Uuid)>> {
    let sql = format!("SELECT {} FROM phi.external_ids e WHERE e.kind = $1", records::external_ids::COLUMNS);
    let mut out = db
        .query(&sql, &[&kind])
        .await?
        .iter()
        .map(|row| records::external_ids::open(keys, row).map(|id| (id.system, id.value, id.entity_id)))
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    Ok(out)
}

/// Assigns (or, with `active = false`, unassigns) a patient to a location.
pub async fn assign(db: &tokio_postgres::Client, patient: Uuid, location: Uuid, active: bool) -> Result<()> {
    db.execute(
        "INSERT INTO patient_locations (patient_id, location_id, active) VALUES ($1, $2, $3)
         ON CONFLICT (patient_id, location_id) DO UPDATE SET active = EXCLUDED.active
         WHERE patient_locations.active IS DISTINCT FROM EXCLUDED.active",
        &[&patient, &location, &active],
    )
    .await?;
    Ok(())
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SynthReport {
    pub patients: u64,
    pub observations: u64,
    pub allergies: u64,
    pub medication_requests: u64,
    pub medication_administrations: u64,
    /// Location code to its id, created when missing.
    pub locations: BTreeMap<String, Uuid>,
}

/// Loads a synthetic ward (the protocol's generator) and assigns each patient
/// to its location, creating the locations that do not exist. Refused in
/// production.
pub async fn synth(
    db: &mut tokio_postgres::Client,
    keys: &KeySet,
    environment: Environment,
    patients: usize,
    seed: u64,
    anchor: DateTime<Utc>,
) -> Result<SynthReport> {
    refuse_in_production(environment)?;
    let ward = generate(&SyntheticConfig::new(seed, patients, anchor));
    load_ward(db, keys, environment, &ward).await
}

/// Loads a generated ward's medication orders and charted doses for
/// patients that arrived another way (`make run` feeds the ward over HL7,
/// which carries no doses): each generated patient is found by its MRN.
/// Refused in production.
pub async fn load_medications(
    db: &mut tokio_postgres::Client,
    keys: &KeySet,
    environment: Environment,
    ward: &SyntheticWard,
) -> Result<(u64, u64)> {
    refuse_in_production(environment)?;
    let tx = db.transaction().await?;
    let mut ids = std::collections::HashMap::new();
    for p in &ward.patients {
        if let Some(id) = patients::by_mrn(&tx, keys, &p.mrn).await? {
            ids.insert(p.id, id);
        }
    }
    let counts = write_medications(&tx, ward, Some(&ids)).await?;
    tx.commit().await?;
    Ok(counts)
}

/// Writes the ward's orders and doses, with patient ids mapped through
/// `ids` when given (rows of unmapped patients are left out).
async fn write_medications(
    tx: &tokio_postgres::Transaction<'_>,
    ward: &SyntheticWard,
    ids: Option<&std::collections::HashMap<Uuid, Uuid>>,
) -> Result<(u64, u64)> {
    let map = |patient: Uuid| match ids {
        Some(ids) => ids.get(&patient).copied(),
        None => Some(patient),
    };
    let (mut orders, mut doses) = (0, 0);
    for order in &ward.medication_requests {
        let Some(patient_id) = map(order.patient_id) else { continue };
        let order = wardbook_protocol::medication::MedicationRequest { patient_id, ..order.clone() };
        records::medication_requests::write(tx, &order).await?;
        orders += 1;
    }
    if !ward.medication_administrations.is_empty() {
        let insert = tx.prepare(records::medication_administrations::INSERT).await?;
        for a in &ward.medication_administrations {
            let Some(patient_id) = map(a.patient_id) else { continue };
            let a = wardbook_protocol::medication::MedicationAdministration { patient_id, ..a.clone() };
            records::medication_administrations::write(tx, &a, &insert).await?;
            doses += 1;
        }
    }
    Ok((orders, doses))
}

fn refuse_in_production(environment: Environment) -> Result<()> {
    if environment == Environment::Production {
        return Err(Error::Forbidden(
            "Synthetic data is never loaded in production. Set WARDBOOK_ENV=development or test on a non-production database.",
        ));
    }
    Ok(())
}

/// Loads a generated ward in one transaction, observations by binary COPY
/// (a million take seconds). Refused in production.
pub async fn load_ward(
    db: &mut tokio_postgres::Client,
    keys: &KeySet,
    environment: Environment,
    ward: &SyntheticWard,
) -> Result<SynthReport> {
    refuse_in_production(environment)?;
    let tx = db.transaction().await?;
    let mut report = SynthReport::default();
    for patient in &ward.patients {
        patients::write(&tx, keys, patient, false).await?;
        if let Some(code) = &patient.location {
            let location = match report.locations.get(code) {
                Some(id) => *id,
                None => {
                    let id: Uuid = tx
                        .query_one(
                            "INSERT INTO locations (id, code, name) VALUES ($1, $2, $2)
                             ON CONFLICT (code) DO UPDATE SET code = EXCLUDED.code RETURNING id",
                            &[&Uuid::now_v7(), code],
                        )
                        .await?
                        .get(0);
                    report.locations.insert(code.clone(), id);
                    id
                }
            };
            tx.execute(
                "INSERT INTO patient_locations (patient_id, location_id, active) VALUES ($1, $2, true)",
                &[&patient.id, &location],
            )
            .await?;
        }
    }
    report.patients = ward.patients.len() as u64;

    report.observations = observations::copy_in(&tx, &ward.observations).await?;

    let mut insert_allergy = None;
    for a in &ward.allergies {
        let record = Record::Allergy { allergy: a.clone() };
        if insert_allergy.is_none() {
            let (insert, _) = records::write_sql(&record).ok_or(Error::Internal("no allergy statement".into()))?;
            insert_allergy = Some(tx.prepare(insert).await?);
        }
        if let Some(statement) = &insert_allergy {
            records::write_row(&tx, &record, statement).await?;
        }
    }
    report.allergies = ward.allergies.len() as u64;
    (report.medication_requests, report.medication_administrations) = write_medications(&tx, ward, None).await?;
    tx.commit().await?;
    tracing::info!(patients = report.patients, observations = report.observations, "synthetic ward loaded");
    Ok(report)
}
