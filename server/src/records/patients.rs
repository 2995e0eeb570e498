//! Patients: clinical columns in `patients`, direct identifiers apart in
//! `phi.patient_identities` (PHI segregation, docs/decisions.md). A patient
//! is read as one JSON object built from both and written as two rows.

use chrono::NaiveDate;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;
use wardbook_protocol::Patient;

use crate::error::Result;
use crate::keys::{Column, KeyError, KeySet};

/// A patient's clinical columns as JSON text, then the sealed identifiers,
/// from `patients p` joined with `phi.patient_identities i`: the columns
/// after (patient, id) of a patient row, which [`decode`] reads.
pub(crate) const PATIENT_JSON: &str = "jsonb_build_object(
    'id', p.id, 'version', p.version, 'updated_at', p.updated_at, 'deleted', p.deleted, 'synthetic', p.synthetic,
    'sex', p.sex, 'preferred_language', p.preferred_language, 'location', p.location, 'bed', p.bed,
    'source_system', p.source_system)::text,
    i.key_id, i.mrn, i.given_name, i.family_name, i.birth_date, i.phone, i.email, i.address";

/// The version, locked for a mutation (`$1` the id).
pub(crate) const CURRENT: &str = "SELECT version, id FROM patients WHERE id = $1 FOR UPDATE";

/// `i` (phi.patient_identities) holds the MRN whose index is `$1` and whose
/// clear text, in a row not yet encrypted, is `$2` ([`mrn_params`]).
pub(crate) const MRN_IS: &str = "(i.mrn_index = $1 OR (i.key_id IS NULL AND i.mrn = $2))";

/// Whether another patient (`$3`) holds the MRN ([`MRN_IS`]) already.
pub(crate) const MRN_TAKEN: &str = "SELECT EXISTS (SELECT 1 FROM phi.patient_identities i
     WHERE (i.mrn_index = $1 OR (i.key_id IS NULL AND i.mrn = $2)) AND i.patient_id <> $3)";

/// The parameters of [`MRN_IS`]: the MRN's blind index and its clear bytes.
pub(crate) fn mrn_params(keys: &KeySet, mrn: &str) -> (Vec<u8>, Vec<u8>) {
    (keys.mrn_index(mrn), mrn.trim().as_bytes().to_vec())
}

/// The patient holding this MRN (deleted or merged ones too), if any.
pub(crate) async fn by_mrn(db: &impl GenericClient, keys: &KeySet, mrn: &str) -> Result<Option<Uuid>> {
    let (index, clear) = mrn_params(keys, mrn);
    Ok(db
        .query_opt(&format!("SELECT i.patient_id FROM phi.patient_identities i WHERE {MRN_IS}"), &[&index, &clear])
        .await?
        .map(|r| r.get(0)))
}

/// The live patients with this family name and date of birth (the blind
/// index; rows not yet encrypted are compared in the service).
pub(crate) async fn by_name_and_birth_date(
    db: &impl GenericClient,
    keys: &KeySet,
    family_name: &str,
    birth_date: NaiveDate,
) -> Result<Vec<Uuid>> {
    let index = keys.name_birth_index(family_name, birth_date);
    let mut found: Vec<Uuid> = db
        .query(
            "SELECT i.patient_id FROM phi.patient_identities i JOIN patients p ON p.id = i.patient_id
              WHERE i.name_birth_index = $1 AND NOT p.deleted AND p.merged_into IS NULL ORDER BY 1",
            &[&index],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let wanted = (crate::keys::normalise_name(family_name), birth_date.to_string());
    for row in db
        .query(
            "SELECT i.patient_id, i.family_name, i.birth_date FROM phi.patient_identities i
               JOIN patients p ON p.id = i.patient_id
              WHERE i.key_id IS NULL AND NOT p.deleted AND p.merged_into IS NULL",
            &[],
        )
        .await?
    {
        let (family, birth): (Vec<u8>, Vec<u8>) = (row.get(1), row.get(2));
        if crate::keys::normalise_name(&String::from_utf8_lossy(&family)) == wanted.0
            && String::from_utf8_lossy(&birth) == wanted.1
        {
            found.push(row.get(0));
        }
    }
    Ok(found)
}

/// The stored patient (`id`) as the feed would send it.
pub(crate) async fn read(tx: &Transaction<'_>, keys: &KeySet, id: Uuid) -> Result<Patient> {
    decode(&tx.query_one(&row_query(), &[&id]).await?, keys)
}

/// A patient's identifiers in clear, as one row of
/// `phi.patient_identities` holds them sealed. `Debug` shows none of them.
pub(crate) struct Identity {
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity { .. }")
    }
}

/// An [`Identity`] sealed for its row, with its blind indexes.
pub(crate) struct Sealed {
    pub patient_id: Uuid,
    pub key_id: i32,
    pub mrn: Vec<u8>,
    pub given_name: Vec<u8>,
    pub family_name: Vec<u8>,
    pub birth_date: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub email: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
    pub mrn_index: Vec<u8>,
    pub name_birth_index: Vec<u8>,
}

impl Identity {
    pub(crate) fn of(p: &Patient) -> Identity {
        Identity {
            mrn: p.mrn.clone(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            birth_date: p.birth_date,
            phone: p.phone.clone(),
            email: p.email.clone(),
            address: p.address.clone(),
        }
    }

    /// Sealed under the current key for the patient `id`.
    pub(crate) fn seal(&self, keys: &KeySet, id: Uuid) -> Sealed {
        let row = id.to_string();
        Sealed {
            patient_id: id,
            key_id: keys.current(),
            mrn: keys.seal_text(Column::Mrn, &row, &self.mrn),
            given_name: keys.seal_text(Column::GivenName, &row, &self.given_name),
            family_name: keys.seal_text(Column::FamilyName, &row, &self.family_name),
            birth_date: keys.seal_text(Column::BirthDate, &row, &self.birth_date.to_string()),
            phone: keys.seal_opt(Column::Phone, &row, self.phone.as_deref()),
            email: keys.seal_opt(Column::Email, &row, self.email.as_deref()),
            address: keys.seal_opt(Column::Address, &row, self.address.as_deref()),
            mrn_index: keys.mrn_index(&self.mrn),
            name_birth_index: keys.name_birth_index(&self.family_name, self.birth_date),
        }
    }

    /// The identity in `row` from column `at` on: key_id, mrn, given_name,
    /// family_name, birth_date, phone, email, address.
    pub(crate) fn open(keys: &KeySet, id: Uuid, row: &Row, at: usize) -> Result<Identity> {
        let key_id: Option<i32> = row.get(at);
        let r = id.to_string();
        let text = |column, i: usize| -> Result<String> { Ok(keys.open_text(key_id, column, &r, row.get(at + i))?) };
        let opt = |column, i: usize| -> Result<Option<String>> {
            Ok(keys.open_opt(key_id, column, &r, row.get::<_, Option<&[u8]>>(at + i))?)
        };
        let birth_date = text(Column::BirthDate, 4)?
            .parse::<NaiveDate>()
            .map_err(|_| KeyError::Integrity { column: Column::BirthDate.name() })?;
        Ok(Identity {
            mrn: text(Column::Mrn, 1)?,
            given_name: text(Column::GivenName, 2)?,
            family_name: text(Column::FamilyName, 3)?,
            birth_date,
            phone: opt(Column::Phone, 5)?,
            email: opt(Column::Email, 6)?,
            address: opt(Column::Address, 7)?,
        })
    }
}

/// One patient row (see [`super`]), as read by [`read`] and the feed.
pub(crate) fn decode(row: &Row, keys: &KeySet) -> Result<Patient> {
    let (id, json) = super::id_and_json(row);
    let identity = Identity::open(keys, id, row, 3)?;
    let mut object = match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(object)) => object,
        _ => return Err(super::corrupt("patient", id)),
    };
    object.insert("mrn".into(), identity.mrn.into());
    object.insert("given_name".into(), identity.given_name.into());
    object.insert("family_name".into(), identity.family_name.into());
    object.insert("birth_date".into(), identity.birth_date.to_string().into());
    object.insert("phone".into(), identity.phone.into());
    object.insert("email".into(), identity.email.into());
    object.insert("address".into(), identity.address.into());
    serde_json::from_value::<Patient>(serde_json::Value::Object(object)).map_err(|_| super::corrupt("patient", id))
}

/// The SQL for one patient (`$1` its id), for [`decode`].
fn row_query() -> String {
    format!(
        "SELECT p.id, p.id, {PATIENT_JSON} FROM patients p JOIN phi.patient_identities i ON i.patient_id = p.id
              WHERE p.id = $1"
    )
}

/// Writes both halves of a patient: clinical columns and, apart, the identifiers.
pub(crate) async fn write(tx: &Transaction<'_>, keys: &KeySet, p: &Patient, update: bool) -> Result<i64> {
    let clinical: [&(dyn ToSql + Sync); 8] = [
        &p.id,
        &p.deleted,
        &p.synthetic,
        &p.sex.as_str(),
        &p.preferred_language,
        &p.location,
        &p.source_system,
        &p.bed,
    ];
    let sealed = Identity::of(p).seal(keys, p.id);
    let identity = sealed.params();
    if update {
        write_identity(tx, &sealed).await?;
        Ok(tx
            .query_one(
                "UPDATE patients SET deleted = $2, synthetic = $3, sex = $4, preferred_language = $5, location = $6,
                        source_system = $7, bed = $8 WHERE id = $1 RETURNING version",
                &clinical,
            )
            .await?
            .get(0))
    } else {
        let version = tx
            .query_one(
                "INSERT INTO patients (id, deleted, synthetic, sex, preferred_language, location, source_system, bed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING version",
                &clinical,
            )
            .await?
            .get(0);
        tx.execute(
            "INSERT INTO phi.patient_identities (patient_id, mrn, given_name, family_name, birth_date, phone, email,
                                                 address, key_id, mrn_index, name_birth_index)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &identity,
        )
        .await?;
        Ok(version)
    }
}

impl Sealed {
    /// patient_id, mrn, given_name, family_name, birth_date, phone, email,
    /// address, key_id, mrn_index, name_birth_index: `$1` to `$11` of the
    /// statements that write `phi.patient_identities`.
    fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        [
            &self.patient_id,
            &self.mrn,
            &self.given_name,
            &self.family_name,
            &self.birth_date,
            &self.phone,
            &self.email,
            &self.address,
            &self.key_id,
            &self.mrn_index,
            &self.name_birth_index,
        ]
    }
}

/// Overwrites a patient's identity with `sealed`.
async fn write_identity(db: &impl GenericClient, sealed: &Sealed) -> Result<()> {
    db.execute(
        "UPDATE phi.patient_identities SET mrn = $2, given_name = $3, family_name = $4, birth_date = $5,
                phone = $6, email = $7, address = $8, key_id = $9, mrn_index = $10, name_birth_index = $11
          WHERE patient_id = $1",
        &sealed.params(),
    )
    .await?;
    Ok(())
}

/// Re-seals up to `limit` identities not under the current key (or in clear
/// text) under it, in `tx`; returns how many. Values do not change, so the
/// patients' versions do not either (see `wardbook.reencrypt` in V7).
pub(crate) async fn reseal(tx: &Transaction<'_>, keys: &KeySet, limit: i64) -> Result<u64> {
    let rows = tx
        .query(
            "SELECT patient_id, key_id, mrn, given_name, family_name, birth_date, phone, email, address
               FROM phi.patient_identities WHERE key_id IS NULL OR key_id <> $1
              ORDER BY patient_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            &[&keys.current(), &limit],
        )
        .await?;
    for row in &rows {
        let id: Uuid = row.get(0);
        write_identity(tx, &Identity::open(keys, id, row, 1)?.seal(keys, id)).await?;
    }
    Ok(rows.len() as u64)
}
