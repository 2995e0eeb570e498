//! Every inbound message stored before it is acknowledged: one transaction
//! writes the message to `phi.hl7_messages` and applies it; the ACK is built
//! only after that commit. A repeat of a control id from the same sender
//! changes nothing and gets the first answer again. A message that parses
//! but cannot be applied is kept with status `error` (AE) for IT to fix and
//! reprocess; one that cannot be read at all is refused (AR) and not kept.
//!
//! What is listed for IT (`hl7 messages`) holds no patient data: ids,
//! types, times, statuses, error codes and fields.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;

use super::ack::{AckTo, ack};
use super::apply::{Sender, apply};
use super::fields::Location;
use super::parse::{self, AckCode, ErrorCode, Header, Rejection};
use super::sealed;
use crate::db::{Client, Pool};
use crate::error::{Error, Result};
use crate::keys::{KeySet, Keyring};

/// What a message received: the ACK to send and its code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub code: AckCode,
    pub ack: String,
    /// The stored message, when it was stored.
    pub id: Option<i64>,
}

impl Answer {
    fn refused(to: &AckTo, rejection: &Rejection) -> Answer {
        Answer { code: rejection.ack, ack: ack(to, Err(rejection)), id: None }
    }
}

/// Receives one message (its text, already decoded from the wire):
/// stores, applies, answers. Never fails: a database outage is answered
/// with AR (nothing stored), so the sender sends it again.
pub async fn receive(pool: &Pool, keys: &Keyring, text: &str) -> Answer {
    let message = match parse::read_structure(text) {
        Ok(m) => m,
        Err(rejection) => return Answer::refused(&AckTo::best_effort(text), &rejection),
    };
    let header = match parse::header(&message) {
        Ok(h) => h,
        Err(rejection) => {
            tracing::warn!(code = rejection.code.number(), "an HL7 message was refused (AR)");
            return Answer::refused(&AckTo::best_effort(text), &rejection);
        }
    };
    let to = AckTo::from(&header);
    let parsed = parse::event(&message, &header).map(|event| parse::Inbound { header: header.clone(), event });
    match store_and_apply(pool, keys, text, &header, &parsed).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(error = %e, "an HL7 message could not be stored; answered AR for the sender to retry");
            let rejection = Rejection::reject(
                ErrorCode::ApplicationInternalError,
                None,
                "Wardbook could not store the message now. Send it again.",
            );
            Answer::refused(&to, &rejection)
        }
    }
}

async fn sender(
    client: &impl tokio_postgres::GenericClient,
    header: &Header,
) -> Result<std::result::Result<Sender, Rejection>> {
    let row = client
        .query_typed_opt(
            "SELECT id, location_map, active FROM interfaces WHERE kind = 'hl7v2-mllp' AND $1 = ANY(senders)
              ORDER BY active DESC LIMIT 1",
            &[(&header.sending_application, Type::TEXT)],
        )
        .await?;
    Ok(match row {
        None => Ok(Sender::default()),
        Some(r) if !r.get::<_, bool>(2) => Err(Rejection::reject(
            ErrorCode::ApplicationInternalError,
            Some(Location::new("MSH", 1, 3)),
            "The interface of this sending application is disabled in Wardbook.",
        )),
        Some(r) => Ok(Sender { interface_id: Some(r.get(0)), location_map: r.get(1) }),
    })
}

async fn store_and_apply(
    pool: &Pool,
    keys: &Keyring,
    text: &str,
    header: &Header,
    parsed: &std::result::Result<parse::Inbound, Rejection>,
) -> Result<Answer> {
    let keys = keys.get().await?;
    let mut client = pool.get().await.map_err(|_| Error::unavailable("PostgreSQL"))?;
    let tx = client.transaction().await?;
    let sender = match sender(&*tx, header).await? {
        Ok(s) => s,
        Err(rejection) => return Ok(Answer::refused(&AckTo::from(header), &rejection)),
    };
    let parsed_json = parsed.as_ref().ok().and_then(|p| serde_json::to_value(p).ok());
    let message_key = ("inbound", &*header.sending_application, &*header.sending_facility, &*header.control_id);
    let sealed = sealed::seal(&keys, message_key, text, parsed_json.as_ref());
    let inserted = tx
        .query_typed_opt(
            "INSERT INTO phi.hl7_messages (interface_id, sending_application, sending_facility, control_id,
                                           message_type, status, raw, parsed, key_id)
             VALUES ($1, $2, $3, $4, $5, 'received', $6, $7, $8)
             ON CONFLICT (sending_application, sending_facility, control_id, direction) DO NOTHING
             RETURNING id",
            &[
                (&sender.interface_id, Type::UUID),
                (&header.sending_application, Type::TEXT),
                (&header.sending_facility, Type::TEXT),
                (&header.control_id, Type::TEXT),
                (&header.message_type, Type::TEXT),
                (&sealed.raw, Type::BYTEA),
                (&sealed.parsed, Type::BYTEA),
                (&sealed.key_id, Type::INT4),
            ],
        )
        .await?;
    let to = AckTo::from(header);
    let Some(row) = inserted else {
        // A repeat: answered as the first time, applied once.
        let first = tx
            .query_one(
                "SELECT id, status, error_code, error_location, error_text FROM phi.hl7_messages
                  WHERE sending_application = $1 AND sending_facility = $2 AND control_id = $3 AND direction = 'inbound'",
                &[&header.sending_application, &header.sending_facility, &header.control_id],
            )
            .await?;
        tx.commit().await?;
        return Ok(repeat_answer(&to, &first));
    };
    let id: i64 = row.get(0);
    let outcome = match parsed {
        Err(rejection) => Err(rejection.clone()),
        Ok(inbound) => apply_or_undo(&tx, &keys, inbound, &sender).await?,
    };
    record_outcome(&tx, id, &outcome).await?;
    tx.commit().await?;
    let answer = match &outcome {
        Ok(()) => Answer { code: AckCode::AA, ack: ack(&to, Ok(())), id: Some(id) },
        Err(rejection) => {
            tracing::info!(message = id, code = rejection.code.number(), "an HL7 message is in error (AE)");
            Answer { code: AckCode::AE, ack: ack(&to, Err(rejection)), id: Some(id) }
        }
    };
    Ok(answer)
}

/// Applies the message; a refusal undoes its partial effects but keeps the
/// stored message, which the caller marks as in error.
async fn apply_or_undo(
    tx: &tokio_postgres::Transaction<'_>,
    keys: &KeySet,
    inbound: &parse::Inbound,
    sender: &Sender,
) -> Result<std::result::Result<(), Rejection>> {
    tx.execute("SAVEPOINT apply", &[]).await?;
    let outcome = apply(tx, keys, inbound, sender).await?;
    if outcome.is_err() {
        tx.execute("ROLLBACK TO SAVEPOINT apply", &[]).await?;
    }
    Ok(outcome)
}

async fn record_outcome(
    tx: &tokio_postgres::Transaction<'_>,
    id: i64,
    outcome: &std::result::Result<(), Rejection>,
) -> Result<()> {
    match outcome {
        Ok(()) => {
            tx.execute_typed(
                "UPDATE phi.hl7_messages SET status = 'processed', ack_code = 'AA', processed_at = now(),
                        error_code = NULL, error_location = NULL, error_text = NULL WHERE id = $1",
                &[(&id, Type::INT8)],
            )
            .await?
        }
        Err(r) => {
            tx.execute(
                "UPDATE phi.hl7_messages SET status = 'error', ack_code = 'AE', processed_at = NULL,
                        error_code = $2, error_location = $3, error_text = $4 WHERE id = $1",
                &[&id, &r.code.number().to_string(), &r.location.as_ref().map(|l| l.to_string()), &r.text],
            )
            .await?
        }
    };
    Ok(())
}

/// The answer to a repeated control id: what the first copy got.
fn repeat_answer(to: &AckTo, first: &tokio_postgres::Row) -> Answer {
    let id: i64 = first.get(0);
    let status: &str = first.get(1);
    if status != "error" {
        return Answer { code: AckCode::AA, ack: ack(to, Ok(())), id: Some(id) };
    }
    let code = first.get::<_, Option<String>>(2).and_then(|c| c.parse::<u16>().ok());
    let code = ErrorCode::ALL
        .iter()
        .copied()
        .find(|e| Some(e.number()) == code)
        .unwrap_or(ErrorCode::ApplicationInternalError);
    let location = first.get::<_, Option<String>>(3).and_then(|l| {
        let (segment, field) = l.split_once('-')?;
        Some(Location::new(segment, 1, field.parse().ok()?))
    });
    let text: Option<String> = first.get(4);
    let rejection = Rejection { ack: AckCode::AE, code, location, text: text.unwrap_or_default() };
    Answer { code: AckCode::AE, ack: ack(to, Err(&rejection)), id: Some(id) }
}

/// One stored message as IT sees it: no patient data.
#[derive(Clone, Debug, Serialize)]
pub struct MessageSummary {
    pub id: i64,
    pub interface: Option<String>,
    /// `inbound` (received) or `outbound` (filed back, `hl7::outbound`).
    pub direction: String,
    pub sending_application: String,
    pub sending_facility: String,
    pub control_id: String,
    pub message_type: String,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub status: String,
    pub ack_code: Option<String>,
    pub error_code: Option<String>,
    pub error_location: Option<String>,
    pub error_text: Option<String>,
    pub attempts: i32,
}

/// Stored messages, newest first: all, or those with `status`, since a time.
pub async fn list(
    db: &Client,
    status: Option<&str>,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<MessageSummary>> {
    summaries(db, None, status, since, limit).await
}

/// One stored message.
pub async fn get(db: &Client, id: i64) -> Result<MessageSummary> {
    summaries(db, Some(id), None, None, 1).await?.pop().ok_or(Error::NotFound(NO_MESSAGE))
}

const NO_MESSAGE: &str = "There is no stored HL7 message with that id. List them with `wardbook-server hl7 messages`.";

async fn summaries(
    db: &Client,
    id: Option<i64>,
    status: Option<&str>,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<MessageSummary>> {
    let rows = db
        .query(
            "SELECT m.id, i.name, m.sending_application, m.sending_facility, m.control_id, m.message_type,
                    m.received_at, m.processed_at, m.status, m.ack_code, m.error_code, m.error_location,
                    m.error_text, m.attempts, m.direction
               FROM phi.hl7_messages m LEFT JOIN interfaces i ON i.id = m.interface_id
              WHERE ($1::text IS NULL OR m.status = $1) AND ($2::timestamptz IS NULL OR m.received_at >= $2)
                AND ($4::bigint IS NULL OR m.id = $4)
              ORDER BY m.id DESC LIMIT $3",
            &[&status, &since, &limit, &id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| MessageSummary {
            id: r.get(0),
            interface: r.get(1),
            sending_application: r.get(2),
            sending_facility: r.get(3),
            control_id: r.get(4),
            message_type: r.get(5),
            received_at: r.get(6),
            processed_at: r.get(7),
            status: r.get(8),
            ack_code: r.get(9),
            error_code: r.get(10),
            error_location: r.get(11),
            error_text: r.get(12),
            attempts: r.get(13),
            direction: r.get(14),
        })
        .collect())
}

/// Applies a stored message again (after IT fixed what it lacked: the
/// patient's ADT, a location, the interface's map). A processed message is
/// left alone: it is never applied twice. An outbound message its receiver
/// refused is queued again, to be sent at once; one sent or queued is left
/// alone.
pub async fn reprocess(pool: &Pool, keys: &Keyring, id: i64) -> Result<MessageSummary> {
    let keys = keys.get().await?;
    let mut client = pool.get().await.map_err(|_| Error::unavailable("PostgreSQL"))?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(&format!("SELECT status, {} FROM phi.hl7_messages WHERE id = $1 FOR UPDATE", sealed::RAW), &[&id])
        .await?
        .ok_or(Error::NotFound(NO_MESSAGE))?;
    let (status, direction): (String, String) = (row.get(0), row.get(3));
    let raw = sealed::open_raw(&keys, &row, 1)?;
    if direction == "outbound" {
        if status == "error" {
            tx.execute(
                "UPDATE phi.hl7_messages SET status = 'queued', next_attempt_at = now(), ack_code = NULL,
                        error_code = NULL, error_location = NULL, error_text = NULL WHERE id = $1",
                &[&id],
            )
            .await?;
        }
    } else if status != "processed" {
        let outcome = match parse::parse(&raw) {
            Err(rejection) => Err(rejection),
            Ok(inbound) => {
                let sender = match sender(&*tx, &inbound.header).await? {
                    Ok(s) => s,
                    Err(rejection) => return Err(Error::bad_request("interface_disabled", rejection.text)),
                };
                apply_or_undo(&tx, &keys, &inbound, &sender).await?
            }
        };
        tx.execute("UPDATE phi.hl7_messages SET attempts = attempts + 1 WHERE id = $1", &[&id]).await?;
        record_outcome(&tx, id, &outcome).await?;
    }
    tx.commit().await?;
    let db = pool.get().await.map_err(|_| Error::unavailable("PostgreSQL"))?;
    get(&db, id).await
}

/// Removes processed (and sent) messages older than the retention.
/// Messages in error stay: they are the only copy to fix and reprocess, and
/// health lists them; so do those still queued, which are yet to be sent.
pub async fn remove_expired(db: &Client, retention_days: u32) -> Result<u64> {
    Ok(db
        .execute(
            "DELETE FROM phi.hl7_messages WHERE status IN ('processed', 'sent')
                AND received_at < now() - make_interval(days => $1)",
            &[&(retention_days as i32)],
        )
        .await?)
}

/// Splits a file of messages (a backfill, a test feed) into messages: each
/// starts at a line that begins with `MSH`; MLLP framing bytes are ignored.
pub fn split_file(text: &str) -> Vec<String> {
    let cleaned: String = text.chars().filter(|&c| c != '\u{0b}' && c != '\u{1c}').collect();
    let mut messages: Vec<String> = Vec::new();
    for line in cleaned.split(['\r', '\n']) {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with("MSH") || messages.is_empty() {
            messages.push(String::new());
        }
        if let Some(current) = messages.last_mut() {
            current.push_str(line);
            current.push('\r');
        }
    }
    messages
}

/// What an import did, by ACK code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub messages: u64,
    pub accepted: u64,
    pub errors: u64,
    pub rejected: u64,
}

/// Receives each message of a file in order, as if sent over MLLP.
pub async fn import(pool: &Pool, keys: &Keyring, text: &str) -> ImportReport {
    let mut report = ImportReport::default();
    for message in split_file(text) {
        report.messages += 1;
        match receive(pool, keys, &message).await.code {
            AckCode::AA => report.accepted += 1,
            AckCode::AE => report.errors += 1,
            AckCode::AR => report.rejected += 1,
        }
    }
    report
}
