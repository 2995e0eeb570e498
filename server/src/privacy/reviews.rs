//! The break-the-glass review queue and the privacy office's reviews
//! (DESIGN.md section 8: "flagged for review").
//!
//! Each access is shown with the clinician's reason, how long it ran and
//! what the clinician viewed of that patient meanwhile: the events of their
//! own audit trail (user and patient of the access) from its start to its
//! end, widened by [`CLOCK_SKEW`] either side because the workstation's
//! clock, which stamps the events, is not the service's, which stamped the
//! access. The access ended at its expiry, or earlier when the workstation
//! recorded `break-glass-stop` (sign-out, lock, a new access).
//!
//! A review (justified or unjustified, with a note) is stored once, with
//! the reviewer and the time, and is final: a second review of the same
//! access is refused with 409 `already_reviewed` (migration V9 makes a
//! reviewed row unchangeable in the database too). Accesses are never
//! deleted. The workstation records its own `break-glass-review` event.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use tokio_postgres::Row;
use uuid::Uuid;
use wardbook_protocol::AuditEvent;
use wardbook_protocol::api::{
    BreakGlassAccess, BreakGlassQueue, BreakGlassReview, BreakGlassReviewRequest, MAX_VIEWED_PER_ACCESS, QueueFilter,
    ReviewOutcome, ReviewStatus, review_note_ok,
};

use super::Labels;
use crate::audit::{self, COLUMNS};
use crate::auth::UserAuth;
use crate::error::{Error, Result};
use crate::keys::KeySet;

/// How far a workstation's clock may be from the service's.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);
/// The most accesses one queue lists.
pub const MAX_QUEUE: i64 = 200;

const NOTE_REQUIRED: &str =
    "A review needs a note of 1 to 2000 characters saying why the access was or was not appropriate.";
const NO_SUCH_ACCESS: &str = "There is no such break-the-glass access.";
const ALREADY_REVIEWED: &str =
    "This access was already reviewed, and a review is final. The queue shows who reviewed it, when and why.";

const ACCESS_COLUMNS: &str = "id, user_id, device_id, patient_id, reason, started_at, expires_at, review_status,
                              reviewed_by, reviewed_at, review_note";

/// One stored access, before its labels and views are added.
struct Stored {
    id: Uuid,
    user_id: String,
    device_id: Uuid,
    patient_id: Uuid,
    reason: String,
    started_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    status: ReviewStatus,
    reviewed_by: Option<String>,
    reviewed_at: Option<DateTime<Utc>>,
    note: Option<String>,
}

impl Stored {
    fn from_row(r: &Row) -> Result<Stored> {
        let status: String = r.get(7);
        Ok(Stored {
            id: r.get(0),
            user_id: r.get::<_, Uuid>(1).to_string(),
            device_id: r.get(2),
            patient_id: r.get(3),
            reason: r.get(4),
            started_at: r.get(5),
            expires_at: r.get(6),
            status: ReviewStatus::parse(&status)
                .ok_or_else(|| Error::Internal("a break-the-glass access has an unknown review status".into()))?,
            reviewed_by: r.get::<_, Option<Uuid>>(8).map(|u| u.to_string()),
            reviewed_at: r.get(9),
            note: r.get(10),
        })
    }
}

/// The queue: pending accesses oldest first, reviewed ones most recently
/// reviewed first, or all newest first; at most [`MAX_QUEUE`].
pub async fn queue(db: &mut tokio_postgres::Client, keys: &KeySet, filter: QueueFilter) -> Result<BreakGlassQueue> {
    let clause = match filter {
        QueueFilter::Pending => "WHERE review_status = 'pending' ORDER BY started_at, id",
        QueueFilter::Reviewed => "WHERE review_status <> 'pending' ORDER BY reviewed_at DESC, id",
        QueueFilter::All => "ORDER BY started_at DESC, id",
    };
    let rows = db
        .query(&format!("SELECT {ACCESS_COLUMNS} FROM break_glass_accesses {clause} LIMIT $1"), &[&MAX_QUEUE])
        .await?;
    let stored = rows.iter().map(Stored::from_row).collect::<Result<Vec<_>>>()?;
    let accesses = complete(db, keys, stored).await?;
    let pending: i64 =
        db.query_one("SELECT count(*) FROM break_glass_accesses WHERE review_status = 'pending'", &[]).await?.get(0);
    Ok(BreakGlassQueue { filter, accesses, pending })
}

/// Records `caller`'s review of one access; answers the access as reviewed.
pub async fn review(
    db: &mut tokio_postgres::Client,
    keys: &KeySet,
    caller: &UserAuth,
    access_id: Uuid,
    request: &BreakGlassReviewRequest,
) -> Result<BreakGlassAccess> {
    if !review_note_ok(&request.note) {
        return Err(Error::bad_request("note_required", NOTE_REQUIRED));
    }
    // PostgreSQL text holds no NUL: the note keeps its other characters.
    let note = request.note.replace('\0', "\u{fffd}");
    let status = request.outcome.status().as_str();
    let reviewed_at = Utc::now().trunc_subsecs(6);
    let tx = db.transaction().await?;
    let current =
        tx.query_opt("SELECT review_status FROM break_glass_accesses WHERE id = $1 FOR UPDATE", &[&access_id]).await?;
    match current.map(|r| r.get::<_, String>(0)) {
        None => return Err(Error::NotFound(NO_SUCH_ACCESS)),
        Some(s) if s != ReviewStatus::Pending.as_str() => {
            tracing::info!(access = %access_id, reviewer = %caller.user_id, "second review of a break-the-glass access refused");
            return Err(Error::Conflict { code: "already_reviewed", message: ALREADY_REVIEWED });
        }
        Some(_) => {}
    }
    tx.execute(
        "UPDATE break_glass_accesses SET review_status = $2, reviewed_by = $3, reviewed_at = $4, review_note = $5
          WHERE id = $1 AND review_status = 'pending'",
        &[&access_id, &status, &caller.user_id, &reviewed_at, &note],
    )
    .await?;
    let row = tx
        .query_one(&format!("SELECT {ACCESS_COLUMNS} FROM break_glass_accesses WHERE id = $1"), &[&access_id])
        .await?;
    tx.commit().await?;
    tracing::info!(access = %access_id, reviewer = %caller.user_id, outcome = status, "break-the-glass access reviewed");
    let mut done = complete(db, keys, vec![Stored::from_row(&row)?]).await?;
    done.pop().ok_or_else(|| Error::Internal("a reviewed access vanished".into()))
}

/// The accesses with their labels, ends and views.
async fn complete(
    db: &mut tokio_postgres::Client,
    keys: &KeySet,
    stored: Vec<Stored>,
) -> Result<Vec<BreakGlassAccess>> {
    let mut viewed: Vec<(Vec<AuditEvent>, Option<DateTime<Utc>>)> = Vec::with_capacity(stored.len());
    for access in &stored {
        viewed.push(views(db, access).await?);
    }
    let all: Vec<AuditEvent> = viewed.iter().flat_map(|(events, _)| events.iter().cloned()).collect();
    let users: Vec<String> =
        stored.iter().flat_map(|a| [Some(a.user_id.clone()), a.reviewed_by.clone()]).flatten().collect();
    let patients: Vec<Uuid> = stored.iter().map(|a| a.patient_id).collect();
    let labels = Labels::load(db, keys, &all, &users, &patients).await?;
    let mut out = Vec::with_capacity(stored.len());
    for (access, (events, stop)) in stored.into_iter().zip(viewed) {
        let Some(patient) = labels.patient(access.patient_id) else {
            return Err(Error::Internal("a break-the-glass access names a patient without identifiers".into()));
        };
        let end = stop.map_or(access.expires_at, |s| s.min(access.expires_at));
        let review = match (access.status, access.reviewed_by, access.reviewed_at, access.note) {
            (ReviewStatus::Pending, ..) => None,
            (status, Some(by), Some(at), note) => Some(BreakGlassReview {
                outcome: if status == ReviewStatus::Justified {
                    ReviewOutcome::Justified
                } else {
                    ReviewOutcome::Unjustified
                },
                note: note.unwrap_or_default(),
                reviewed_by: labels.user(&by),
                reviewed_at: at,
            }),
            _ => None,
        };
        out.push(BreakGlassAccess {
            access_id: access.id,
            user: labels.user(&access.user_id),
            device: labels.device(access.device_id),
            patient,
            reason: access.reason,
            started_at: access.started_at,
            expires_at: access.expires_at,
            ended_at: stop.filter(|s| *s < access.expires_at),
            minutes: (end - access.started_at).num_minutes().max(0),
            viewed: events.iter().map(|e| labels.row(e)).collect(),
            status: access.status,
            review,
        });
    }
    Ok(out)
}

/// What the clinician viewed of the patient during the access (oldest
/// first), and when their workstation stopped it, if it did.
async fn views(db: &tokio_postgres::Client, access: &Stored) -> Result<(Vec<AuditEvent>, Option<DateTime<Utc>>)> {
    let from = access.started_at - CLOCK_SKEW;
    // The stop that follows this access's own start in the workstation's
    // chain (by sequence, which no clock moves): not an earlier access's.
    let stop: Option<DateTime<Utc>> = db
        .query_opt(
            "SELECT s.recorded_at FROM audit_events s
              WHERE s.device_id = $1 AND s.patient_id = $2 AND s.user_id = $3 AND s.subtype = 'break-glass-stop'
                AND s.sequence > (SELECT min(b.sequence) FROM audit_events b
                                   WHERE b.device_id = $1 AND b.patient_id = $2 AND b.user_id = $3
                                     AND b.subtype = 'break-glass-start' AND b.recorded_at BETWEEN $4 AND $5)
              ORDER BY s.sequence LIMIT 1",
            &[&access.device_id, &access.patient_id, &access.user_id, &from, &(access.started_at + CLOCK_SKEW)],
        )
        .await?
        .map(|r| r.get(0));
    let until = stop.map_or(access.expires_at, |s| s.min(access.expires_at)) + CLOCK_SKEW;
    let limit = i64::from(MAX_VIEWED_PER_ACCESS);
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM audit_events
                  WHERE patient_id = $1 AND user_id = $2 AND recorded_at >= $3 AND recorded_at <= $4
                  ORDER BY recorded_at, device_id, sequence LIMIT $5"
            ),
            &[&access.patient_id, &access.user_id, &from, &until, &limit],
        )
        .await?;
    let events = rows.iter().map(audit::event).collect::<Result<Vec<_>>>()?;
    Ok((events, stop))
}
