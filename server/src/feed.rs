//! The change feed a device pulls: every row of its scope that changed since
//! its cursor, in pages, with tombstones and "remove" entries for patients
//! that left its scope.
//!
//! **No row is ever skipped.** Each row carries the id of the transaction that
//! last wrote it (`change_xid`, set by a trigger). A pull hands out a window
//! of transaction ids `[lo, hi)` where `hi` is the xmin of the current
//! snapshot (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction
//! below it has committed or aborted, so no row can later appear with an id
//! inside a window already handed out. A writer that took its id early and
//! commits late simply holds `hi` back until it ends; its rows arrive in the
//! next window. (A sequence number or timestamp would be assigned at write
//! time and become visible at commit time, in another order: that is how
//! feeds skip rows.) The price: one long-running write transaction anywhere
//! on the cluster delays every device's feed, never corrupts it.
//!
//! Within a window, entries are ordered by (kind, id) and paged with a
//! keyset cursor. The scope is evaluated as of `hi` (assignments written by
//! a later transaction are left to a later window), so it can only shrink
//! between pages of one window: a patient's observations never arrive
//! without the patient row.

use std::fmt;

use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;
use uuid::Uuid;
use wardbook_protocol::api::{Change, PullResponse};

use crate::auth::DeviceAuth;
use crate::error::{Error, Result};
use crate::keys::KeySet;
use crate::records::patients;
use crate::records::patients::PATIENT_JSON;

/// Where a device is in the feed. Opaque to clients:
/// `2.<lo>.<span>.<kind>.<last patient>.<last id>`, where the window's end
/// is `lo + span`. The end is written as a span so that every cursor the
/// grammar allows (the pattern in the API document, [`crate::routes::PullQuery`])
/// is one the feed can serve: an absolute end below `lo` could not be.
/// Version 1 (`1.<lo>.<hi>.…`), issued before, is still read, so that a
/// workstation mid-sync across an upgrade does not start again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Transactions below `lo` were all handed out.
    pub lo: i64,
    /// The end of the window being paged, once one is open.
    pub hi: Option<i64>,
    /// The kind of entry and the last (patient, id) handed out within the window.
    pub kind: Kind,
    pub last: Option<(Uuid, Uuid)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Remove = 0,
    Patient = 1,
    Allergy = 2,
    Observation = 3,
    MedicationRequest = 4,
    MedicationAdministration = 5,
    DoseReview = 6,
}

impl Kind {
    /// Orders before the administrations that answer them, and those before
    /// their reviews: a workstation files each after what it refers to.
    const ORDER: [Kind; 7] = [
        Kind::Remove,
        Kind::Patient,
        Kind::Allergy,
        Kind::Observation,
        Kind::MedicationRequest,
        Kind::MedicationAdministration,
        Kind::DoseReview,
    ];

    /// The table of a kind that has one with a patient column.
    fn table(self) -> Option<&'static str> {
        match self {
            Kind::Remove | Kind::Patient => None,
            Kind::Allergy => Some("allergies"),
            Kind::Observation => Some("observations"),
            Kind::MedicationRequest => Some("medication_requests"),
            Kind::MedicationAdministration => Some("medication_administrations"),
            Kind::DoseReview => Some("dose_reviews"),
        }
    }
}

impl Cursor {
    pub const START: Cursor = Cursor { lo: 0, hi: None, kind: Kind::Remove, last: None };

    pub fn parse(text: &str) -> Result<Cursor> {
        let bad = || {
            Error::bad_request(
                "invalid_cursor",
                "The sync cursor is not one this service issued. Pull again from the last cursor you stored, or from the start.",
            )
        };
        let parts: Vec<&str> = text.split('.').collect();
        let [version, lo, end, kind, last_patient, last_id] = parts.as_slice() else { return Err(bad()) };
        let lo: i64 = lo.parse().map_err(|_| bad())?;
        let end: Option<i64> = if end.is_empty() { None } else { Some(end.parse().map_err(|_| bad())?) };
        let hi = match *version {
            "1" => end,
            "2" => match end {
                Some(span) if span >= 0 => Some(lo.checked_add(span).ok_or_else(bad)?),
                Some(_) => return Err(bad()),
                None => None,
            },
            _ => return Err(bad()),
        };
        let kind = match *kind {
            "0" => Kind::Remove,
            "1" => Kind::Patient,
            "2" => Kind::Allergy,
            "3" => Kind::Observation,
            "4" => Kind::MedicationRequest,
            "5" => Kind::MedicationAdministration,
            "6" => Kind::DoseReview,
            _ => return Err(bad()),
        };
        let last = match (last_patient.is_empty(), last_id.is_empty()) {
            (true, true) => None,
            (false, false) => {
                Some((Uuid::try_parse(last_patient).map_err(|_| bad())?, Uuid::try_parse(last_id).map_err(|_| bad())?))
            }
            _ => return Err(bad()),
        };
        if lo < 0 || hi.is_some_and(|h| h < lo) || (hi.is_none() && last.is_some()) {
            return Err(bad());
        }
        let cursor = Cursor { lo, hi, kind, last };
        // A version 2 cursor is read only in the one spelling this service
        // writes (no leading zeros, lower-case ids), as the document's pattern says.
        if *version == "2" && cursor.to_string() != text {
            return Err(bad());
        }
        Ok(cursor)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let span = self.hi.map(|h| (h - self.lo).to_string()).unwrap_or_default();
        let (patient, id) =
            self.last.map(|(p, i)| (p.simple().to_string(), i.simple().to_string())).unwrap_or_default();
        write!(f, "2.{}.{span}.{}.{patient}.{id}", self.lo, self.kind as u8)
    }
}

/// A JSON-body row as the feed sends it: the stored body (which a write
/// validated) with the server-managed fields laid over it by PostgreSQL, as
/// text. Nothing is decoded and encoded again in the service.
const BODY_AS_SENT: &str = "(t.body || jsonb_build_object('version', t.version, 'updated_at', t.updated_at,
        'deleted', t.deleted, 'synthetic', t.synthetic))::text";

const SCOPE: &str = "scope AS (
    SELECT patient_id, bool_or(change_xid >= $2) AS entered
      FROM patient_locations
     WHERE location_id = ANY($1) AND active AND change_xid < $3
     GROUP BY patient_id)";

/// The SQL for one kind of entry: (patient, id, the row as [`entry`]
/// reads it). `$1` locations, `$2` lo, `$3` hi, `$4` and
/// `$5` the last (patient, id) handed out, `$6` limit. Entries are ordered by
/// (patient, id), which an index walks without sorting: on the first window
/// (lo = 0) everything in scope is sent straight off that index; later windows
/// combine the rows written inside the window with the rows of patients that
/// entered the scope.
fn query(kind: Kind, initial: bool) -> String {
    match kind {
        Kind::Remove => "SELECT DISTINCT pl.patient_id, pl.patient_id, NULL::text FROM patient_locations pl
                     WHERE pl.location_id = ANY($1) AND NOT pl.active
                       AND pl.change_xid >= $2 AND pl.change_xid < $3 AND pl.patient_id > $5
                       AND NOT EXISTS (SELECT 1 FROM patient_locations s
                                        WHERE s.patient_id = pl.patient_id AND s.location_id = ANY($1)
                                          AND s.active AND s.change_xid < $3)
                       AND $4::uuid IS NOT NULL -- same parameters as every query
                     ORDER BY pl.patient_id LIMIT $6"
            .to_owned(),
        Kind::Patient => paged(
            PATIENT_JSON,
            "patients p",
            "patients p JOIN phi.patient_identities i ON i.patient_id = p.id",
            "p.id",
            // Every query takes the same parameters; $4 (the last patient) is the id here.
            "p.id > $5 AND $4::uuid IS NOT NULL",
            "p",
            initial,
        ),
        // The rows stored as a JSON body with a patient column: the body as
        // stored, the server-managed fields laid over it, sent as is.
        _ => paged(
            BODY_AS_SENT,
            &format!("{} t", kind.table().unwrap_or_default()),
            &format!("{} t", kind.table().unwrap_or_default()),
            "t.patient_id",
            // The row comparison `(patient_id, id) > ($4, $5)`, spelt so that the
            // planner keeps walking the (patient_id, id) index to the last page
            // (the row form got a plan reading from the start late in a walk).
            "t.patient_id >= $4 AND (t.patient_id > $4 OR t.id > $5)",
            "t",
            initial,
        ),
    }
}

/// A device's scope of at most this many patients is read patient by
/// patient in a window (see [`paged`]); a larger one (a regional downtime
/// copy) reads the window's changes and keeps those in scope.
const SCOPE_DRIVEN_MAX: i64 = 5000;

/// The paged walk of one kind (`key` the alias of its table, `base` that
/// table alone, `table` what the rows are read from).
///
/// A later window reads only the device's scope: for each patient in it, its
/// rows changed in the window (one range of the `(patient_id, change_xid)`
/// index, central migration 12), never the hospital's other changes, so
/// that a thousand devices pulling a backlog at once do not each read all of
/// it. Past [`SCOPE_DRIVEN_MAX`] patients the window's changes are read
/// instead; the choice is a one-time filter on the scope's size, made by
/// PostgreSQL before either branch runs. (`OFFSET 0` keeps the planner from
/// turning the per-patient read back into a read of the whole window.)
fn paged(select: &str, base: &str, table: &str, patient: &str, after: &str, key: &str, initial: bool) -> String {
    if initial {
        format!(
            "WITH {SCOPE} SELECT {patient}, {key}.id, {select} FROM {table}
              WHERE {after} AND {key}.change_xid < $3 AND {patient} IN (SELECT patient_id FROM scope)
              ORDER BY {patient}, {key}.id LIMIT $6"
        )
    } else {
        format!(
            "WITH {SCOPE}, size AS (SELECT count(*) AS n FROM scope), picked AS (
                 SELECT w.id FROM scope s CROSS JOIN LATERAL (
                        SELECT {key}.id FROM {base}
                         WHERE {patient} = s.patient_id AND {key}.change_xid >= $2 AND {key}.change_xid < $3
                         OFFSET 0) w
                  WHERE (SELECT n FROM size) <= {SCOPE_DRIVEN_MAX}
                 UNION
                 SELECT {key}.id FROM {base}
                  WHERE {key}.change_xid >= $2 AND {key}.change_xid < $3 AND {patient} IN (SELECT patient_id FROM scope)
                    AND (SELECT n FROM size) > {SCOPE_DRIVEN_MAX}
                 UNION
                 SELECT e.id FROM scope s CROSS JOIN LATERAL (
                        SELECT {key}.id FROM {base} WHERE {patient} = s.patient_id AND {key}.change_xid < $3
                         OFFSET 0) e
                  WHERE s.entered)
             SELECT {patient}, {key}.id, {select} FROM {table} JOIN picked ON picked.id = {key}.id
              WHERE {after} ORDER BY {patient}, {key}.id LIMIT $6",
        )
    }
}

/// How many rows an initial sync (window `[0, $3)`) sends, for progress.
fn initial_count() -> String {
    let rows: String = Kind::ORDER
        .iter()
        .filter_map(|k| k.table())
        .map(|t| {
            format!(
                "\n           + (SELECT count(*) FROM {t} t WHERE t.change_xid < $3 AND t.patient_id IN (SELECT patient_id FROM scope))"
            )
        })
        .collect();
    format!(
        "WITH {SCOPE} SELECT
             (SELECT count(*) FROM patients p WHERE p.change_xid < $3 AND p.id IN (SELECT patient_id FROM scope)){rows}"
    )
}

/// Where a page is read: the primary, or a streaming replica
/// (`crate::replicas`), which serves a cursor only once its own horizon has
/// reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Primary,
    Replica,
}

/// A page of the feed as it goes on the wire: each entry's JSON text, made
/// without decoding the stored row where none is needed ([`BODY_AS_SENT`];
/// patients are decoded, their identifiers being sealed at rest).
#[derive(Debug)]
pub struct PullPage {
    /// Each change as `{"type":…,"<kind>":…}`, `type` first.
    pub changes: Vec<String>,
    pub cursor: String,
    pub has_more: bool,
    pub expected_rows: Option<i64>,
    pub revoked_users: Vec<Uuid>,
}

impl PullPage {
    /// The page as [`PullResponse`]'s JSON.
    pub fn to_json(&self) -> Result<String> {
        let failed = |_| Error::Internal("a pull page did not serialise".into());
        let entries: usize = self.changes.iter().map(|c| c.len() + 1).sum();
        let mut out = String::with_capacity(entries + 256);
        out.push_str("{\"changes\":[");
        for (i, change) in self.changes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(change);
        }
        out.push_str("],\"cursor\":");
        out.push_str(&serde_json::to_string(&self.cursor).map_err(failed)?);
        out.push_str(if self.has_more { ",\"has_more\":true" } else { ",\"has_more\":false" });
        if let Some(n) = self.expected_rows {
            out.push_str(&format!(",\"expected_rows\":{n}"));
        }
        if !self.revoked_users.is_empty() {
            out.push_str(",\"revoked_users\":");
            out.push_str(&serde_json::to_string(&self.revoked_users).map_err(failed)?);
        }
        out.push('}');
        Ok(out)
    }

    /// The page decoded, as a workstation reads it (tools and benchmarks).
    pub fn decode(&self) -> Result<PullResponse> {
        serde_json::from_str(&self.to_json()?)
            .map_err(|e| Error::Internal(format!("a pull page does not read back ({:?})", e.classify())))
    }
}

/// One page of the device's feed after `cursor`, at most `limit` entries,
/// with the users disabled within `revocation_window` (the offline unlock
/// window: an older verifier has expired on its own), read on the primary.
pub async fn pull(
    db: &mut deadpool_postgres::ClientWrapper,
    keys: &KeySet,
    device: &DeviceAuth,
    cursor: Cursor,
    limit: u32,
    revocation_window: chrono::Duration,
) -> Result<PullPage> {
    pull_from(db, Source::Primary, keys, device, cursor, limit, revocation_window)
        .await?
        .ok_or_else(|| Error::Internal("the primary refused a cursor as beyond its horizon".to_owned()))
}

/// [`pull`] from `source`. `None` when a replica has not yet replayed up to
/// the cursor: the transactions below the cursor's window end (or, for a new
/// window, its start) are not all resolved in the replica's snapshot, so a
/// page read there could miss rows. The caller reads the page from the
/// primary instead.
pub async fn pull_from(
    db: &mut deadpool_postgres::ClientWrapper,
    source: Source,
    keys: &KeySet,
    device: &DeviceAuth,
    cursor: Cursor,
    limit: u32,
    revocation_window: chrono::Duration,
) -> Result<Option<PullPage>> {
    let limit = i64::from(limit.max(1));
    let revoked_users = crate::identity::users::revoked_since(db, chrono::Utc::now() - revocation_window).await?;
    // One snapshot for the horizon and every query of the page.
    let tx = db.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
    // Planned for each page's own values. A generic plan, chosen once for
    // any window and any scope, walked whole tables on every later pull.
    tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan").await?;
    let horizon = match (source, cursor.hi) {
        (Source::Primary, Some(_)) => None,
        _ => Some(
            tx.query_one("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint", &[]).await?.get::<_, i64>(0),
        ),
    };
    if source == Source::Replica && horizon.is_some_and(|h| h < cursor.hi.unwrap_or(cursor.lo)) {
        tx.rollback().await?;
        return Ok(None);
    }
    // A new window ends at the horizon, read above whenever the cursor has no end.
    let hi = cursor.hi.or(horizon).ok_or_else(|| Error::Internal("no horizon for a new window".to_owned()))?;
    let lo = cursor.lo;
    let expected_rows = if lo == 0 && cursor.hi.is_none() {
        let params: [&(dyn ToSql + Sync); 3] = [&device.locations, &lo, &hi];
        let statement = tx.prepare_cached(&initial_count()).await?;
        Some(tx.query_one(&statement, &params).await?.get(0))
    } else {
        None
    };
    let mut changes = Vec::new();
    for kind in Kind::ORDER.into_iter().filter(|k| *k >= cursor.kind) {
        if kind == Kind::Remove && lo == 0 {
            continue; // nothing was sent before the first window
        }
        let (last_patient, last_id) = if kind == cursor.kind {
            cursor.last.unwrap_or((Uuid::nil(), Uuid::nil()))
        } else {
            (Uuid::nil(), Uuid::nil())
        };
        let want = limit - changes.len() as i64;
        let params: [&(dyn ToSql + Sync); 6] = [&device.locations, &lo, &hi, &last_patient, &last_id, &want];
        // Prepared once per pooled connection: parsed and analysed once,
        // planned for this page's values (above).
        let statement = tx.prepare_cached(&query(kind, lo == 0)).await?;
        let rows = tx.query(&statement, &params).await?;
        let mut last = None;
        for row in &rows {
            changes.push(entry(kind, row, keys)?);
            last = Some((row.get(0), row.get(1)));
        }
        if changes.len() as i64 >= limit {
            tx.commit().await?;
            let next = Cursor { lo, hi: Some(hi), kind, last };
            return Ok(Some(PullPage {
                changes,
                cursor: next.to_string(),
                has_more: true,
                expected_rows,
                revoked_users,
            }));
        }
    }
    tx.commit().await?;
    let next = Cursor { lo: hi, hi: None, kind: Kind::Remove, last: None };
    Ok(Some(PullPage { changes, cursor: next.to_string(), has_more: false, expected_rows, revoked_users }))
}

/// One row of [`query`] as the entry's JSON text: (patient, id, then for
/// patients the columns [`patients::decode`] reads, for the other kinds
/// the row as sent ([`BODY_AS_SENT`])).
fn entry(kind: Kind, row: &tokio_postgres::Row, keys: &KeySet) -> Result<String> {
    let failed = |_| Error::Internal("a feed entry did not serialise".into());
    let (tag, field) = match kind {
        Kind::Remove => {
            let patient_id: Uuid = row.get(1);
            return Ok(format!("{{\"type\":\"remove\",\"patient_id\":\"{patient_id}\"}}"));
        }
        Kind::Patient => {
            let change = Change::Patient { patient: patients::decode(row, keys)? };
            return serde_json::to_string(&change).map_err(failed);
        }
        Kind::Allergy => ("allergy", "allergy"),
        Kind::Observation => ("observation", "observation"),
        Kind::MedicationRequest => ("medication_request", "medication_request"),
        Kind::MedicationAdministration => ("medication_administration", "medication_administration"),
        Kind::DoseReview => ("dose_review", "dose_review"),
    };
    let body: Option<&str> = row.get(2);
    let Some(body) = body.filter(|b| b.starts_with('{')) else {
        let id: Uuid = row.get(1);
        return Err(Error::Internal(format!("stored {tag} {id} has no body")));
    };
    let mut out = String::with_capacity(body.len() + tag.len() + field.len() + 16);
    out.push_str("{\"type\":\"");
    out.push_str(tag);
    out.push_str("\",\"");
    out.push_str(field);
    out.push_str("\":");
    out.push_str(body);
    out.push('}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = Cursor { lo: 10, hi: Some(20), kind: Kind::Allergy, last: Some((Uuid::now_v7(), Uuid::now_v7())) };
        assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
        assert_eq!(Cursor::parse(&Cursor::START.to_string()).unwrap(), Cursor::START);
        // Version 1, as issued before, still reads.
        let v1 = Cursor::parse("1.10.20.2.0190d3b400007000800000000000000a.0190d3b400007000800000000000000b").unwrap();
        assert_eq!((v1.lo, v1.hi, v1.kind), (10, Some(20), Kind::Allergy));
        assert_eq!(Cursor::parse("2.10.5.1..").unwrap().hi, Some(15));
        for bad in [
            "",
            "2.0...",
            "3.0..0..",
            "2.007..0..",
            "2.5.-1.0..",
            "2.9223372036854775807.1.0..",
            "2.1..0.0190d3b400007000800000000000000a.0190d3b400007000800000000000000b",
            "1.5.4.0.",
            "1.x..0.",
            "1.0..9.",
            "1.0..0.notauuid",
            "1.0..0.0190d3b4-0000-7000-8000-000000000000",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }
}
