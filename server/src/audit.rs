//! The central audit store: each device's hash chain, uploaded in order and
//! verified on arrival, and the reports a privacy officer reads
//! (ONC 170.315(d)(3): who viewed patient X, what did user Y view).
//!
//! An upload is all or nothing: either every new event continues the stored
//! chain (next sequence, matching `prev_hash`, correct `hash`) and all are
//! stored, or none is, the request is refused with the first wrong position,
//! and a security finding is recorded. Events already stored are skipped
//! when identical, so a repeated upload changes nothing.
//!
//! The chain is checked in Rust against the stored head and the stored
//! events the batch repeats (one range read), and the new events are stored
//! with one binary COPY.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;
use wardbook_protocol::api::{AuditReportPage, AuditUploadResponse};
use wardbook_protocol::{AuditAction, AuditEvent, AuditOutcome, AuditSubtype, GENESIS_HASH, LinkBreak, PurposeOfUse};

use crate::error::{Error, Result};

/// Events in one upload, at most.
pub const MAX_BATCH: usize = wardbook_protocol::api::MAX_AUDIT_BATCH;

/// Why a chain was refused: also the finding's `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Break {
    /// A sequence number is missing.
    Gap,
    /// `prev_hash` does not match the previous event's hash.
    Unlinked,
    /// The event's content does not match its hash, or differs from the stored copy.
    Altered,
    /// The event names another device.
    ForeignDevice,
}

impl Break {
    /// A broken link of the event expected at `expected` (the sequence, or
    /// for a gap the first missing one), as (kind, position).
    fn at(link: LinkBreak, expected: i64) -> (Break, i64) {
        let kind = match link {
            LinkBreak::Gap => Break::Gap,
            LinkBreak::Altered => Break::Altered,
            LinkBreak::Unlinked => Break::Unlinked,
        };
        (kind, expected)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Break::Gap => "audit_gap",
            Break::Unlinked => "audit_unlinked",
            Break::Altered => "audit_altered",
            Break::ForeignDevice => "audit_foreign_device",
        }
    }

    fn message(self, position: i64) -> String {
        match self {
            Break::Gap => format!(
                "The audit chain has a gap: sequence {position} is missing. Upload from sequence {position} on, in order."
            ),
            Break::Unlinked => format!(
                "The audit event at sequence {position} does not link to the one before it (prev_hash). The chain was recorded as a security finding."
            ),
            Break::Altered => format!(
                "The audit event at sequence {position} does not match its hash or the copy already stored. The chain was recorded as a security finding."
            ),
            Break::ForeignDevice => format!(
                "The audit event at sequence {position} belongs to another device: a device uploads only its own chain."
            ),
        }
    }
}

/// Verifies and stores a device's events. See the module docs.
///
/// The event ids are not looked up before storing: a batch is stored with
/// them unchecked, and only if PostgreSQL refuses one as a duplicate (a
/// device reusing an id, never an honest one) is the batch checked again
/// with the stored ids read, to refuse it at the position of the first.
pub async fn upload(
    db: &mut deadpool_postgres::ClientWrapper,
    device_id: Uuid,
    events: &[AuditEvent],
) -> Result<AuditUploadResponse> {
    if events.len() > MAX_BATCH {
        return Err(Error::bad_request(
            "batch_too_large",
            format!("An audit upload carries at most {MAX_BATCH} events. Split the batch."),
        ));
    }
    let checked = match check_and_store_in_transaction(db, device_id, events, false).await {
        Err(StoreError::IdTaken) => check_and_store_in_transaction(db, device_id, events, true).await,
        other => other,
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(StoreError::IdTaken) => {
            return Err(Error::Internal("an audit event id was taken although no stored one was".into()));
        }
        Err(StoreError::Other(e)) => return Err(e),
    };
    match checked {
        Ok(response) => Ok(response),
        Err((kind, position)) => {
            record_finding(db, Some(device_id), kind.as_str(), Some(position), "upload refused").await?;
            tracing::warn!(device = %device_id, kind = kind.as_str(), position, "audit chain refused");
            Err(Error::AuditChain { code: kind.as_str(), message: kind.message(position), position })
        }
    }
}

/// Why a batch was not stored, apart from a refusal of its chain.
enum StoreError {
    /// PostgreSQL refused an event id as stored already (`audit_events_id_key`).
    IdTaken,
    Other(Error),
}

impl<E: Into<Error>> From<E> for StoreError {
    fn from(e: E) -> StoreError {
        StoreError::Other(e.into())
    }
}

/// One transaction of [`upload`]: the device's uploads serialised, the batch
/// checked and its new events stored (committed), or its refusal.
async fn check_and_store_in_transaction(
    db: &mut deadpool_postgres::ClientWrapper,
    device_id: Uuid,
    events: &[AuditEvent],
    check_ids: bool,
) -> std::result::Result<Result<AuditUploadResponse, (Break, i64)>, StoreError> {
    let tx = db.transaction().await?;
    // Serialises uploads of one device.
    let lock = tx.prepare_cached("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE").await?;
    tx.execute(&lock, &[&device_id]).await?;
    match check_and_store(&tx, device_id, events, check_ids).await? {
        Ok(response) => {
            tx.commit().await?;
            Ok(Ok(response))
        }
        Err(refusal) => Ok(Err(refusal)), // the transaction rolls back on drop
    }
}

/// The stored events of a device (`$1`) whose sequence is from `$2` to `$3`:
/// what a batch repeats, in one range read.
const STORED_RANGE: &str =
    "SELECT sequence, id, hash FROM audit_events WHERE device_id = $1 AND sequence BETWEEN $2 AND $3";

/// The new events of a batch, by binary COPY (see [`copy_in`]).
const COPY_IN: &str = "COPY audit_events (device_id, sequence, id, recorded_at, user_id, session_id, action, subtype,
        patient_id, purpose_of_use, outcome, prev_hash, hash) FROM STDIN (FORMAT binary)";

/// The column types of [`COPY_IN`].
const COPY_TYPES: [Type; 13] = [
    Type::UUID,
    Type::INT8,
    Type::UUID,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// Checks the batch against the stored chain in Rust (the head and the
/// events it repeats read with one query each; with `check_ids`, also the
/// event ids it would reuse) and stores its new events with one binary
/// COPY, or returns the first broken position.
async fn check_and_store(
    tx: &deadpool_postgres::Transaction<'_>,
    device_id: Uuid,
    events: &[AuditEvent],
    check_ids: bool,
) -> std::result::Result<Result<AuditUploadResponse, (Break, i64)>, StoreError> {
    // The batch's sequences as far as they rise: past the first that does
    // not, the batch is refused there and nothing after it is looked at.
    let rising = events.windows(2).position(|w| w[1].sequence <= w[0].sequence).map_or(events.len(), |i| i + 1);
    let (first, last) = match (events.first(), events[..rising].last()) {
        (Some(first), Some(last)) => (first.sequence, last.sequence),
        _ => (1, 0),
    };
    let head_params: [&(dyn ToSql + Sync); 1] = [&device_id];
    let range_params: [&(dyn ToSql + Sync); 3] = [&device_id, &first, &last];
    let (head_statement, range_statement) = tokio::join!(tx.prepare_cached(HEAD), tx.prepare_cached(STORED_RANGE));
    let (head_statement, range_statement) = (head_statement?, range_statement?);
    let (head, repeats) =
        tokio::join!(tx.query_opt(&head_statement, &head_params), tx.query(&range_statement, &range_params));
    let (head, repeats) = (head?, repeats?);
    // Event ids stored already: an event of the batch with one is no continuation.
    let taken: HashSet<Uuid> = if check_ids {
        let ids: Vec<Uuid> = events[..rising].iter().map(|ev| ev.id).collect();
        tx.query("SELECT id FROM audit_events WHERE id = ANY($1)", &[&ids]).await?.iter().map(|r| r.get(0)).collect()
    } else {
        HashSet::new()
    };
    let stored: HashMap<i64, (Uuid, String)> = repeats.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect();
    let (mut highest, mut prev_hash): (i64, String) =
        head.map(|r| (r.get(0), r.get(1))).unwrap_or((0, GENESIS_HASH.to_owned()));
    let mut fresh: Vec<&AuditEvent> = Vec::new();
    let mut fresh_ids = HashSet::new();
    let mut last_seen = 0i64;
    for ev in events {
        if ev.device_id != device_id {
            return Ok(Err((Break::ForeignDevice, ev.sequence)));
        }
        if ev.sequence <= last_seen {
            return Ok(Err((Break::Gap, last_seen + 1))); // not in sequence order
        }
        last_seen = ev.sequence;
        if ev.sequence <= highest {
            // A repeat: must be the very event stored.
            let same = stored.get(&ev.sequence).is_some_and(|(id, hash)| *id == ev.id && *hash == ev.hash);
            if !same || ev.compute_hash() != ev.hash {
                return Ok(Err((Break::Altered, ev.sequence)));
            }
            continue;
        }
        if let Err(link) = ev.check_link(highest + 1, &prev_hash) {
            return Ok(Err(Break::at(link, highest + 1)));
        }
        // The same event id under another sequence or device (stored, or
        // earlier in this batch): not a continuation.
        if taken.contains(&ev.id) || !fresh_ids.insert(ev.id) {
            return Ok(Err((Break::Altered, ev.sequence)));
        }
        fresh.push(ev);
        highest = ev.sequence;
        prev_hash.clone_from(&ev.hash);
    }
    let stored = match copy_in(tx, device_id, &fresh).await {
        Ok(stored) => stored,
        Err(e) if !check_ids && e.as_db_error().is_some_and(|d| d.constraint() == Some("audit_events_id_key")) => {
            return Err(StoreError::IdTaken);
        }
        Err(e) => return Err(e.into()),
    };
    if stored != fresh.len() as u64 {
        return Err(StoreError::Other(Error::Internal("the audit events were not all stored".into())));
    }
    Ok(Ok(AuditUploadResponse { highest_sequence: highest, stored: fresh.len() as u32 }))
}

/// The head of a device's (`$1`) stored chain.
const HEAD: &str = "SELECT sequence, hash FROM audit_events WHERE device_id = $1 ORDER BY sequence DESC LIMIT 1";

/// Stores new events with one binary COPY and returns how many.
async fn copy_in(
    tx: &tokio_postgres::Transaction<'_>,
    device_id: Uuid,
    events: &[&AuditEvent],
) -> std::result::Result<u64, tokio_postgres::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let sink = tx.copy_in(COPY_IN).await?;
    let writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
    let mut writer = std::pin::pin!(writer);
    for ev in events {
        let row: [&(dyn ToSql + Sync); 13] = [
            &device_id,
            &ev.sequence,
            &ev.id,
            &ev.recorded_at,
            &ev.user_id,
            &ev.session_id,
            &ev.action.as_str(),
            &ev.subtype.as_str(),
            &ev.patient_id,
            &ev.purpose_of_use.as_str(),
            &ev.outcome.as_str(),
            &ev.prev_hash,
            &ev.hash,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.as_mut().finish().await
}

/// Appends a security finding (its own transaction: it outlives the refusal).
pub async fn record_finding(
    db: &tokio_postgres::Client,
    device_id: Option<Uuid>,
    kind: &str,
    position: Option<i64>,
    detail: &str,
) -> Result<()> {
    db.execute(
        "INSERT INTO security_findings (device_id, kind, position, detail) VALUES ($1, $2, $3, $4)",
        &[&device_id, &kind, &position, &detail],
    )
    .await?;
    Ok(())
}

/// What a report asks: one patient's viewers or one user's views, over a
/// time range. Without either, every event in the range (the privacy
/// office's review of a shift or a day), a page at a time.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Events about this patient (who viewed patient X).
    pub patient_id: Option<Uuid>,
    /// Events by this user (what did user Y view).
    pub user_id: Option<String>,
    /// From this time (inclusive), RFC 3339.
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive), RFC 3339.
    pub to: Option<DateTime<Utc>>,
    /// `asc` (oldest first) or `desc` (newest first, the default).
    #[param(inline)]
    pub sort: Option<SortOrder>,
    /// 1-based page number.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295_i64)]
    pub page: Option<u32>,
    /// Events per page, 1 to 500 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub page_size: Option<u32>,
}

/// The order of a report's events by the time they were recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// The most events one report page holds.
pub const MAX_PAGE_SIZE: u32 = 500;

pub async fn report(db: &tokio_postgres::Client, q: &ReportQuery) -> Result<AuditReportPage> {
    let order = match q.sort.unwrap_or_default() {
        SortOrder::Desc => "DESC",
        SortOrder::Asc => "ASC",
    };
    let page = q.page.unwrap_or(1);
    let page_size = q.page_size.unwrap_or(100);
    if page == 0 || !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(Error::bad_request(
            "invalid_query",
            format!("page must be at least 1 and page_size between 1 and {MAX_PAGE_SIZE}."),
        ));
    }
    if q.user_id.as_deref().is_some_and(|u| u.contains('\0')) {
        // No user id holds a NUL character (PostgreSQL text cannot).
        return Ok(AuditReportPage { events: Vec::new(), total: 0, page, page_size });
    }
    let filter = "($1::uuid IS NULL OR patient_id = $1) AND ($2::text IS NULL OR user_id = $2)
                  AND ($3::timestamptz IS NULL OR recorded_at >= $3) AND ($4::timestamptz IS NULL OR recorded_at < $4)";
    let params: [&(dyn ToSql + Sync); 4] = [&q.patient_id, &q.user_id, &q.from, &q.to];
    let total: i64 = db.query_one(&format!("SELECT count(*) FROM audit_events WHERE {filter}"), &params).await?.get(0);
    let limit = i64::from(page_size);
    let offset = i64::from(page - 1) * limit;
    let mut all: Vec<&(dyn ToSql + Sync)> = params.to_vec();
    all.push(&limit);
    all.push(&offset);
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM audit_events WHERE {filter}
                  ORDER BY recorded_at {order}, device_id, sequence {order} LIMIT $5 OFFSET $6"
            ),
            &all,
        )
        .await?;
    let events = rows.iter().map(event).collect::<Result<Vec<_>>>()?;
    Ok(AuditReportPage { events, total, page, page_size })
}

pub(crate) const COLUMNS: &str =
    "id, device_id, sequence, recorded_at, user_id, session_id, action, subtype, patient_id,
                       purpose_of_use, outcome, prev_hash, hash";

pub(crate) fn event(r: &tokio_postgres::Row) -> Result<AuditEvent> {
    let bad = || Error::Internal("a stored audit event has an unknown code".into());
    Ok(AuditEvent {
        id: r.get(0),
        device_id: r.get(1),
        sequence: r.get(2),
        recorded_at: r.get(3),
        user_id: r.get(4),
        session_id: r.get(5),
        action: AuditAction::parse(r.get(6)).ok_or_else(bad)?,
        subtype: AuditSubtype::parse(r.get(7)).ok_or_else(bad)?,
        patient_id: r.get(8),
        purpose_of_use: PurposeOfUse::parse(r.get(9)).ok_or_else(bad)?,
        outcome: AuditOutcome::parse(r.get(10)).ok_or_else(bad)?,
        prev_hash: r.get(11),
        hash: r.get(12),
    })
}

/// The result of re-verifying one device's stored chain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChainCheck {
    pub device_id: Uuid,
    pub events: i64,
    /// The first broken position and how, if any.
    pub broken_at: Option<(i64, &'static str)>,
}

/// Re-verifies stored chains (one device, or every device): sequence,
/// links and hashes, from the database as it is now.
pub async fn verify(db: &tokio_postgres::Client, device: Option<Uuid>) -> Result<Vec<ChainCheck>> {
    let devices: Vec<Uuid> = match device {
        Some(d) => vec![d],
        None => db.query("SELECT id FROM devices ORDER BY id", &[]).await?.iter().map(|r| r.get(0)).collect(),
    };
    let mut out = Vec::new();
    for device_id in devices {
        let rows = db
            .query(&format!("SELECT {COLUMNS} FROM audit_events WHERE device_id = $1 ORDER BY sequence"), &[&device_id])
            .await?;
        let mut prev = GENESIS_HASH.to_owned();
        let mut broken_at = None;
        for (i, row) in rows.iter().enumerate() {
            let ev = event(row)?;
            if let Err(link) = ev.check_link(i as i64 + 1, &prev) {
                let (kind, position) = Break::at(link, i as i64 + 1);
                broken_at = Some((position, kind.as_str()));
                break;
            }
            prev = ev.hash;
        }
        out.push(ChainCheck { device_id, events: rows.len() as i64, broken_at });
    }
    Ok(out)
}
