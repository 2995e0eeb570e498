//! The `patients` table. Its rows and census lines are PHI: they are read
//! only with an [`AuditedRead`] (or, for the row an edit changes, an
//! [`Edit`]); the read handle answers questions that carry none.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;
use wardbook_protocol::news2::news2_from_observations;
use wardbook_protocol::{Patient, PatientSummary, Sex, bed_order};

use super::StoreError;
use super::access::{AuditedRead, Edit};
use super::rows::{collect, date_text, get_date, get_enum, get_time, get_uuid, time_text};
use crate::config::ClinicalSettings;

/// Reads of `patients` that return no PHI.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Patients<'a>(pub(super) &'a Connection);

impl Patients<'_> {
    /// Is this patient (not deleted) in the cache?
    pub(crate) fn exists(self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM patients WHERE id = ?1 AND deleted = 0")?
            .query_row([id.to_string()], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// Writes to `patients`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PatientsMut<'a>(pub(super) &'a Connection);

impl PatientsMut<'_> {
    /// Inserts or replaces rows.
    pub(crate) fn upsert(self, rows: &[Patient]) -> Result<(), StoreError> {
        upsert(self.0, rows)
    }

    /// Writes a server row: a tombstone purges the patient.
    pub(crate) fn write(self, patient: &Patient) -> Result<(), StoreError> {
        write(self.0, patient)
    }

    /// Removes a patient that left this device's scope, with their rows.
    pub(crate) fn purge(self, id: Uuid) -> Result<(), StoreError> {
        purge(self.0, id)
    }

    /// Removes every patient but those waiting in `pending_purges` (a move to
    /// another location: they go once their edits are settled).
    pub(crate) fn purge_all_but_pending(self) -> Result<(), StoreError> {
        // Observations and allergies go with their patient (ON DELETE CASCADE).
        self.0.execute("DELETE FROM patients WHERE id NOT IN (SELECT patient_id FROM pending_purges)", [])?;
        Ok(())
    }
}

pub(super) fn write(conn: &Connection, patient: &Patient) -> Result<(), StoreError> {
    if patient.deleted { purge(conn, patient.id) } else { upsert(conn, std::slice::from_ref(patient)) }
}

/// Deletes the patient (observations and allergies go with it, ON DELETE
/// CASCADE) and settles its pending purge, if any.
pub(super) fn purge(conn: &Connection, id: Uuid) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM patients WHERE id = ?1")?.execute([id.to_string()])?;
    super::pending_purges::remove(conn, id)
}

pub(super) fn upsert(conn: &Connection, rows: &[Patient]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO patients (id, version, updated_at, deleted, synthetic, mrn, given_name,
             family_name, birth_date, sex, phone, email, address, preferred_language, location,
             source_system, bed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (id) DO UPDATE SET
             version = excluded.version, updated_at = excluded.updated_at,
             deleted = excluded.deleted, synthetic = excluded.synthetic, mrn = excluded.mrn,
             given_name = excluded.given_name, family_name = excluded.family_name,
             birth_date = excluded.birth_date, sex = excluded.sex, phone = excluded.phone,
             email = excluded.email, address = excluded.address,
             preferred_language = excluded.preferred_language, location = excluded.location,
             source_system = excluded.source_system, bed = excluded.bed",
    )?;
    for p in rows {
        stmt.execute(params![
            p.id.to_string(),
            p.version,
            time_text(&p.updated_at),
            p.deleted,
            p.synthetic,
            p.mrn,
            p.given_name,
            p.family_name,
            date_text(&p.birth_date),
            p.sex.as_str(),
            p.phone,
            p.email,
            p.address,
            p.preferred_language,
            p.location,
            p.source_system,
            p.bed,
        ])?;
    }
    Ok(())
}

/// One patient (not deleted): PHI.
pub(crate) fn get(read: &AuditedRead<'_>, id: Uuid) -> Result<Option<Patient>, StoreError> {
    get_in(read.conn(), id)
}

/// The patient an edit changes (not deleted).
pub(crate) fn for_edit(edit: &Edit<'_>, id: Uuid) -> Result<Option<Patient>, StoreError> {
    get_in(edit.conn(), id)
}

pub(super) fn get_in(conn: &Connection, id: Uuid) -> Result<Option<Patient>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT * FROM patients WHERE id = ?1 AND deleted = 0")?;
    let mut rows = stmt.query([id.to_string()])?;
    match rows.next()? {
        Some(row) => Ok(Some(from_row(row)?)),
        None => Ok(None),
    }
}

pub(super) fn from_row(row: &Row<'_>) -> Result<Patient, StoreError> {
    Ok(Patient {
        id: get_uuid(row, "id")?,
        version: row.get("version")?,
        updated_at: get_time(row, "updated_at")?,
        deleted: row.get("deleted")?,
        synthetic: row.get("synthetic")?,
        mrn: row.get("mrn")?,
        given_name: row.get("given_name")?,
        family_name: row.get("family_name")?,
        birth_date: get_date(row, "birth_date")?,
        sex: get_enum(row, "sex", Sex::parse)?,
        phone: row.get("phone")?,
        email: row.get("email")?,
        address: row.get("address")?,
        preferred_language: row.get("preferred_language")?,
        location: row.get("location")?,
        bed: row.get("bed")?,
        source_system: row.get("source_system")?,
    })
}

/// The columns of a census or search row, with the allergy flags the list shows.
const SUMMARY_SELECT: &str = "
    SELECT p.id, p.mrn, p.given_name, p.family_name, p.birth_date, p.sex, p.location, p.bed, p.synthetic,
        (SELECT count(*) FROM allergies a WHERE a.patient_id = p.id AND a.deleted = 0
            AND wardbook_allergy_current(a.clinical_status, a.verification_status)) AS active_allergies,
        EXISTS (SELECT 1 FROM allergies a WHERE a.patient_id = p.id AND a.deleted = 0 AND a.criticality = 'high'
            AND wardbook_allergy_current(a.clinical_status, a.verification_status)) AS high_criticality
    FROM patients p";

fn summary_from_row(row: &Row<'_>) -> Result<PatientSummary, StoreError> {
    Ok(PatientSummary {
        id: get_uuid(row, "id")?,
        mrn: row.get("mrn")?,
        given_name: row.get("given_name")?,
        family_name: row.get("family_name")?,
        birth_date: get_date(row, "birth_date")?,
        sex: get_enum(row, "sex", Sex::parse)?,
        location: row.get("location")?,
        bed: row.get("bed")?,
        active_allergy_count: row.get("active_allergies")?,
        has_high_criticality_allergy: row.get("high_criticality")?,
        synthetic: row.get("synthetic")?,
        next_due: None,
        overdue_doses: 0,
        possible_double_dose: false,
        news2: None,
    })
}

/// The census of one location (or of every cached patient): by location,
/// then by bed as the ward walks it ([`bed_order`]: "2" before "10", no bed
/// last), then by name. Patients without a location come last. Each line
/// has its medication columns at `now` (due times in `clinical`'s zone).
pub(crate) fn census(
    read: &AuditedRead<'_>,
    location: Option<&str>,
    clinical: &ClinicalSettings,
    now: DateTime<Utc>,
) -> Result<Vec<PatientSummary>, StoreError> {
    let mut census = census_lines(read, location)?;
    super::medication_census::fill(read.conn(), &mut census, location, clinical.time_zone, now)?;
    fill_news2(read.conn(), &mut census, location, clinical.news2_max_age, now)?;
    Ok(census)
}

/// Each line's NEWS2 score at `now` from the readings of the last `max_age`
/// (older ones would not count: `news2_from_observations` lists them as
/// missing), read for the whole census in one query.
fn fill_news2(
    conn: &Connection,
    census: &mut [PatientSummary],
    location: Option<&str>,
    max_age: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if census.is_empty() {
        return Ok(());
    }
    let mut vitals: std::collections::HashMap<Uuid, Vec<wardbook_protocol::Observation>> = Default::default();
    for o in super::observations::vitals_of_census(conn, location, &(now - max_age))? {
        vitals.entry(o.patient_id).or_default().push(o);
    }
    for line in census {
        line.news2 = vitals.get(&line.id).map(|readings| news2_from_observations(readings, now, max_age));
    }
    Ok(())
}

/// The census's lines in its order, without the medication columns (a
/// ward's printout only needs who is where).
pub(crate) fn census_lines(read: &AuditedRead<'_>, location: Option<&str>) -> Result<Vec<PatientSummary>, StoreError> {
    let conn = read.conn();
    // SQL orders by name; the stable sort below keeps that order among
    // patients of one bed (none, or a bed the feed gave twice).
    let mut census = match location {
        Some(location) => {
            let sql = format!(
                "{SUMMARY_SELECT} WHERE p.deleted = 0 AND p.location = ?1 ORDER BY p.family_name, p.given_name"
            );
            collect(&mut *conn.prepare_cached(&sql)?, [location], summary_from_row)?
        }
        None => {
            let sql = format!("{SUMMARY_SELECT} WHERE p.deleted = 0 ORDER BY p.family_name, p.given_name");
            collect(&mut *conn.prepare_cached(&sql)?, [], summary_from_row)?
        }
    };
    census.sort_by(census_order);
    Ok(census)
}

/// Location (none last), then bed ([`bed_order`]).
fn census_order(a: &PatientSummary, b: &PatientSummary) -> Ordering {
    let location = match (&a.location, &b.location) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    location.then_with(|| bed_order(a.bed.as_deref(), b.bed.as_deref()))
}

/// What a search box's text means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SearchTerm {
    /// `YYYY-MM-DD`: an exact date of birth.
    BirthDate(String),
    /// Starts with a letter run and contains a digit (e.g. `SYN-0012`): an MRN prefix.
    Mrn(String),
    /// `family, given` prefixes.
    FamilyGiven(String, String),
    /// One name prefix: family or given name.
    Name(String),
}

impl SearchTerm {
    pub(crate) fn parse(text: &str) -> Option<SearchTerm> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        if chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() {
            return Some(SearchTerm::BirthDate(text.to_owned()));
        }
        if text.chars().any(|c| c.is_ascii_digit()) {
            return Some(SearchTerm::Mrn(text.to_uppercase()));
        }
        if let Some((family, given)) = text.split_once(',') {
            return Some(SearchTerm::FamilyGiven(family.trim().to_owned(), given.trim().to_owned()));
        }
        Some(SearchTerm::Name(text.to_owned()))
    }
}

/// A `LIKE` prefix pattern with `%`, `_` and `\` escaped.
fn prefix_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Patients matching a search term, at most `limit`: by name, or by MRN
/// for an MRN search.
///
/// Two steps in one statement: `kept` reads the ids in order from the
/// term's index and stops at `limit` (a name search reads the family-name
/// index with its limit and the given-name index's matching range, both
/// without touching a row), then the summary and its allergy flags are
/// computed for the kept rows only. A search that matched thousands never
/// sorts them with their flags.
pub(crate) fn search(read: &AuditedRead<'_>, term: &SearchTerm, limit: u32) -> Result<Vec<PatientSummary>, StoreError> {
    let conn = read.conn();
    let by_name = "p.family_name, p.given_name";
    let kept_then_flags = |kept: &str, order: &str| {
        format!("WITH kept AS MATERIALIZED ({kept}) {SUMMARY_SELECT} JOIN kept ON kept.id = p.id ORDER BY {order}")
    };
    match term {
        SearchTerm::BirthDate(date) => {
            let sql = kept_then_flags(
                "SELECT id FROM patients WHERE deleted = 0 AND birth_date = ?1
                 ORDER BY family_name, given_name LIMIT ?2",
                by_name,
            );
            collect(&mut *conn.prepare_cached(&sql)?, params![date, limit], summary_from_row)
        }
        SearchTerm::Mrn(mrn) => {
            // In MRN order: the index's own, so a short prefix stops at the limit.
            let sql = kept_then_flags(
                "SELECT id FROM patients WHERE deleted = 0 AND mrn LIKE ?1 ESCAPE '\\' ORDER BY mrn LIMIT ?2",
                "p.mrn",
            );
            collect(&mut *conn.prepare_cached(&sql)?, params![prefix_pattern(mrn), limit], summary_from_row)
        }
        SearchTerm::FamilyGiven(family, given) => {
            let sql = kept_then_flags(
                "SELECT id FROM patients WHERE deleted = 0 AND family_name LIKE ?1 ESCAPE '\\'
                     AND given_name LIKE ?2 ESCAPE '\\' ORDER BY family_name, given_name LIMIT ?3",
                by_name,
            );
            collect(
                &mut *conn.prepare_cached(&sql)?,
                params![prefix_pattern(family), prefix_pattern(given), limit],
                summary_from_row,
            )
        }
        SearchTerm::Name(name) => {
            let sql = kept_then_flags(
                "SELECT id, family_name, given_name FROM (
                     SELECT id, family_name, given_name FROM patients
                     WHERE deleted = 0 AND family_name LIKE ?1 ESCAPE '\\'
                     ORDER BY family_name, given_name LIMIT ?2)
                 UNION
                 SELECT id, family_name, given_name FROM patients
                 WHERE deleted = 0 AND given_name LIKE ?1 ESCAPE '\\'
                 ORDER BY 2, 3 LIMIT ?2",
                by_name,
            );
            collect(&mut *conn.prepare_cached(&sql)?, params![prefix_pattern(name), limit], summary_from_row)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::store::access::{AuditedRead, Db};
    use crate::store::memory_cache as cache;

    fn patient(n: u128, family: &str, location: Option<&str>, bed: Option<&str>) -> Patient {
        Patient {
            id: Uuid::from_u128(n),
            version: 1,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            deleted: false,
            synthetic: true,
            mrn: format!("SYN-{n:06}"),
            given_name: "Test".into(),
            family_name: family.into(),
            birth_date: NaiveDate::from_ymd_opt(1970, 5, 17).expect("date"),
            sex: Sex::Unknown,
            phone: None,
            email: None,
            address: None,
            preferred_language: None,
            location: location.map(str::to_owned),
            bed: bed.map(str::to_owned),
            source_system: "test".into(),
        }
    }

    #[test]
    fn a_bed_is_stored_read_back_and_cleared() {
        let conn = cache();
        let mut p = patient(1, "Able", Some("Ward 7B"), Some("03-B"));
        upsert(&conn, std::slice::from_ref(&p)).expect("insert");
        assert_eq!(get_in(&conn, p.id).expect("read"), Some(p.clone()));
        let census =
            census(&AuditedRead::new(Db::new(&conn)), None, &ClinicalSettings::default(), Utc::now()).expect("census");
        assert_eq!(census[0].bed.as_deref(), Some("03-B"));

        // A move out of a bed (the feed sends none) is written, not kept.
        p.bed = None;
        p.version = 2;
        upsert(&conn, std::slice::from_ref(&p)).expect("update");
        assert_eq!(get_in(&conn, p.id).expect("read"), Some(p));
    }

    #[test]
    fn the_census_goes_by_location_then_bed_then_name() {
        let conn = cache();
        let rows = [
            patient(1, "Able", Some("Ward 7B"), Some("10")),
            patient(2, "Baker", Some("Ward 7B"), None),
            patient(3, "Carter", Some("Ward 7B"), Some("2")),
            patient(4, "Adams", Some("Ward 7B"), None),
            patient(5, "Drake", Some("Ward 7A"), Some("12")),
            patient(6, "Abbot", None, None),
            patient(7, "Evans", Some("Ward 7B"), Some("02-A")),
        ];
        upsert(&conn, &rows).expect("insert");
        let read = AuditedRead::new(Db::new(&conn));
        let names = |location: Option<&str>| -> Vec<String> {
            census(&read, location, &ClinicalSettings::default(), Utc::now())
                .expect("census")
                .into_iter()
                .map(|p| p.family_name)
                .collect()
        };
        assert_eq!(names(Some("Ward 7B")), ["Carter", "Evans", "Able", "Adams", "Baker"]);
        assert_eq!(names(None), ["Drake", "Carter", "Evans", "Able", "Adams", "Baker", "Abbot"]);
    }

    #[test]
    fn search_terms_are_classified() {
        assert_eq!(SearchTerm::parse("  "), None);
        assert_eq!(SearchTerm::parse("1950-03-04"), Some(SearchTerm::BirthDate("1950-03-04".into())));
        assert_eq!(SearchTerm::parse("syn-0001"), Some(SearchTerm::Mrn("SYN-0001".into())));
        assert_eq!(SearchTerm::parse("Smith, Jo"), Some(SearchTerm::FamilyGiven("Smith".into(), "Jo".into())));
        assert_eq!(SearchTerm::parse("smi"), Some(SearchTerm::Name("smi".into())));
    }

    fn named(n: u128, family: &str, given: &str) -> Patient {
        Patient { given_name: given.into(), ..patient(n, family, Some("Ward 7A"), None) }
    }

    fn found(conn: &Connection, term: &str, limit: u32) -> Vec<String> {
        let term = SearchTerm::parse(term).expect("a term");
        search(&AuditedRead::new(Db::new(conn)), &term, limit)
            .expect("search")
            .into_iter()
            .map(|p| format!("{}, {}", p.family_name, p.given_name))
            .collect()
    }

    #[test]
    fn a_name_search_takes_family_and_given_name_matches_in_name_order_up_to_the_limit() {
        let conn = cache();
        let mut rows = vec![
            named(1, "Smith", "Anna"),
            named(2, "Abbot", "Smita"),
            named(3, "smithers", "Bob"),
            named(4, "Young", "Smilla"),
            named(5, "Jones", "Mary"),
        ];
        let mut gone = named(6, "Smith", "Zed");
        gone.deleted = true;
        rows.push(gone);
        upsert(&conn, &rows).expect("insert");
        // Either name, any case, deleted rows never; ordered by family then given name.
        assert_eq!(found(&conn, "smi", 50), ["Abbot, Smita", "Smith, Anna", "smithers, Bob", "Young, Smilla"]);
        // The limit keeps the first in that order, whichever index each came from.
        assert_eq!(found(&conn, "SMI", 2), ["Abbot, Smita", "Smith, Anna"]);
        assert_eq!(found(&conn, "Smith, A", 50), ["Smith, Anna"]);
        assert!(found(&conn, "Q", 50).is_empty());
    }

    #[test]
    fn an_mrn_search_goes_in_mrn_order_and_stops_at_the_limit() {
        let conn = cache();
        let rows: Vec<Patient> = (1..=30).map(|n| named(n, if n % 2 == 0 { "Able" } else { "Zane" }, "Test")).collect();
        upsert(&conn, &rows).expect("insert");
        let term = SearchTerm::parse("syn-0000").expect("an MRN");
        let mrns: Vec<String> =
            search(&AuditedRead::new(Db::new(&conn)), &term, 5).expect("search").into_iter().map(|p| p.mrn).collect();
        assert_eq!(mrns, ["SYN-000001", "SYN-000002", "SYN-000003", "SYN-000004", "SYN-000005"]);
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(prefix_pattern("a%b_c\\"), "a\\%b\\_c\\\\%");
    }
}
