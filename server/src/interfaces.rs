//! The sending systems (EMR connections): each interface engine channel,
//! lab system or FHIR client that feeds Wardbook, with the senders it
//! expects (MSH-3), its location mapping (PV1-3 to a Wardbook location
//! code), how long it may be silent before health warns, and, for an MLLP
//! interface, where administrations are filed back to (`send_to`, RAS^O17,
//! `hl7::outbound`). Message counts, errors and the last message's time are
//! counted from the stored messages (within their retention).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use wardbook_protocol::api::{HealthFinding, Severity};

use crate::error::{Error, Result};

/// The kinds of interface.
pub const KINDS: &[&str] = &["hl7v2-mllp", "fhir"];

/// A new interface, as IT describes it.
#[derive(Clone, Debug, Default)]
pub struct NewInterface {
    pub name: String,
    pub kind: String,
    pub senders: Vec<String>,
    /// (sender's point of care, Wardbook location code).
    pub location_map: Vec<(String, String)>,
    pub silence_minutes: i32,
}

/// Where an MLLP interface's outbound messages go: `host:port`, over TLS
/// or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Destination {
    pub send_to: String,
    pub tls: bool,
}

impl Destination {
    /// Checks `host:port` (a host name or IPv4 address, a port 1 to 65535).
    pub fn new(send_to: &str, tls: bool) -> Result<Destination> {
        let valid = send_to.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && host.len() <= 253
                && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
                && port.len() <= 5
                && port.chars().all(|c| c.is_ascii_digit())
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            return Err(Error::bad_request(
                "invalid_destination",
                "--send-to is HOST:PORT, for example engine.hospital.example:2576 (a host name or IPv4 address).",
            ));
        }
        Ok(Destination { send_to: send_to.to_owned(), tls })
    }
}

/// One interface with its statistics. No patient data.
#[derive(Clone, Debug, Serialize)]
pub struct Interface {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub senders: Vec<String>,
    pub location_map: serde_json::Value,
    pub silence_minutes: i32,
    pub active: bool,
    /// Where administrations are filed back to, if anywhere.
    pub send_to: Option<String>,
    pub send_tls: bool,
    /// Inbound messages stored.
    pub messages: i64,
    /// Messages in error, inbound (not applied) or outbound (refused by the receiver).
    pub errors: i64,
    /// Outbound messages waiting to be acknowledged.
    pub queued: i64,
    pub last_message_at: Option<DateTime<Utc>>,
    /// Active and silent for longer than `silence_minutes`.
    pub silent: bool,
}

pub async fn add(db: &tokio_postgres::Client, new: &NewInterface) -> Result<Uuid> {
    let valid_name = !new.name.is_empty()
        && new.name.len() <= 60
        && new.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && new.name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !valid_name {
        return Err(Error::bad_request(
            "invalid_interface_name",
            "An interface name is 1 to 60 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        ));
    }
    if !KINDS.contains(&new.kind.as_str()) {
        return Err(Error::bad_request("invalid_interface_type", "The interface type is hl7v2-mllp or fhir."));
    }
    if new.kind == "hl7v2-mllp" && new.senders.is_empty() {
        return Err(Error::bad_request(
            "missing_sender",
            "Name the sending application (MSH-3) the interface engine uses with --sender.",
        ));
    }
    if new.silence_minutes <= 0 {
        return Err(Error::bad_request("invalid_silence", "The silence window is a positive number of minutes."));
    }
    let mut map = serde_json::Map::new();
    for (from, to) in &new.location_map {
        let known: bool = db.query_one("SELECT EXISTS (SELECT 1 FROM locations WHERE code = $1)", &[to]).await?.get(0);
        if !known {
            return Err(Error::bad_request(
                "unknown_location",
                "A location in the map does not exist. Add it with `wardbook-server location add` first.",
            ));
        }
        map.insert(from.clone(), serde_json::Value::String(to.clone()));
    }
    let id = Uuid::now_v7();
    let n = db
        .execute(
            "INSERT INTO interfaces (id, name, kind, senders, location_map, silence_minutes) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO NOTHING",
            &[&id, &new.name, &new.kind, &new.senders, &serde_json::Value::Object(map), &new.silence_minutes],
        )
        .await?;
    if n == 0 {
        return Err(Error::bad_request("duplicate_interface", "An interface with that name exists already."));
    }
    Ok(id)
}

/// Sets (or, with `None`, removes) where an MLLP interface files
/// administrations back to.
pub async fn set_destination(db: &tokio_postgres::Client, id: Uuid, destination: Option<&Destination>) -> Result<()> {
    let kind: Option<String> =
        db.query_opt("SELECT kind FROM interfaces WHERE id = $1", &[&id]).await?.map(|r| r.get(0));
    match kind.as_deref() {
        None => Err(Error::NotFound("There is no such interface. List them with `wardbook-server interface list`.")),
        Some(kind) if kind != "hl7v2-mllp" && destination.is_some() => {
            Err(Error::bad_request("destination_not_mllp", "Only an hl7v2-mllp interface sends messages (--send-to)."))
        }
        Some(_) => {
            db.execute(
                "UPDATE interfaces SET send_to = $2, send_tls = $3 WHERE id = $1",
                &[&id, &destination.map(|d| d.send_to.as_str()), &destination.is_some_and(|d| d.tls)],
            )
            .await?;
            Ok(())
        }
    }
}

/// Stops accepting messages from the interface's senders (they get AR).
pub async fn disable(db: &tokio_postgres::Client, name: &str) -> Result<()> {
    let n = db.execute("UPDATE interfaces SET active = false WHERE name = $1", &[&name]).await?;
    if n == 0 {
        return Err(Error::NotFound(
            "There is no interface with that name. List them with `wardbook-server interface list`.",
        ));
    }
    Ok(())
}

pub async fn list(db: &tokio_postgres::Client) -> Result<Vec<Interface>> {
    let rows = db
        .query(
            "SELECT i.id, i.name, i.kind, i.senders, i.location_map, i.silence_minutes, i.active,
                    count(m.id) FILTER (WHERE m.direction = 'inbound'), count(m.id) FILTER (WHERE m.status = 'error'),
                    max(m.received_at) FILTER (WHERE m.direction = 'inbound'),
                    i.active AND coalesce(max(m.received_at) FILTER (WHERE m.direction = 'inbound'), i.created_at)
                        < now() - make_interval(mins => i.silence_minutes),
                    i.send_to, i.send_tls, count(m.id) FILTER (WHERE m.status = 'queued')
               FROM interfaces i LEFT JOIN phi.hl7_messages m ON m.interface_id = i.id
              GROUP BY i.id ORDER BY i.name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Interface {
            id: r.get(0),
            name: r.get(1),
            kind: r.get(2),
            senders: r.get(3),
            location_map: r.get(4),
            silence_minutes: r.get(5),
            active: r.get(6),
            send_to: r.get(11),
            send_tls: r.get(12),
            messages: r.get(7),
            errors: r.get(8),
            queued: r.get(13),
            last_message_at: r.get(9),
            silent: r.get(10),
        })
        .collect())
}

/// What health reports about the feed: silent interfaces, messages in
/// error, messages from senders no interface expects.
pub async fn findings(db: &tokio_postgres::Client) -> std::result::Result<Vec<HealthFinding>, tokio_postgres::Error> {
    let mut findings = Vec::new();
    let silent = db
        .query(
            "SELECT i.name, i.silence_minutes FROM interfaces i
              WHERE i.active AND coalesce((SELECT max(received_at) FROM phi.hl7_messages m
                                            WHERE m.interface_id = i.id AND m.direction = 'inbound'), i.created_at)
                    < now() - make_interval(mins => i.silence_minutes)
              ORDER BY i.name",
            &[],
        )
        .await?;
    for r in &silent {
        let (name, minutes): (String, i32) = (r.get(0), r.get(1));
        findings.push(HealthFinding {
            severity: Severity::Warning,
            code: "interface_silent".into(),
            message: format!(
                "Interface {name} has sent nothing for more than {minutes} minutes. Check the interface engine's channel and the network; ward data may be going stale."
            ),
        });
    }
    let errors = db.query("SELECT id FROM phi.hl7_messages WHERE status = 'error' ORDER BY id LIMIT 20", &[]).await?;
    if !errors.is_empty() {
        let total: i64 =
            db.query_one("SELECT count(*) FROM phi.hl7_messages WHERE status = 'error'", &[]).await?.get(0);
        let ids: Vec<String> = errors.iter().map(|r| r.get::<_, i64>(0).to_string()).collect();
        findings.push(HealthFinding {
            severity: Severity::Warning,
            code: "hl7_messages_in_error".into(),
            message: format!(
                "{total} HL7 message(s) are in error and not applied (ids {}{}). See `wardbook-server hl7 messages --status error`, fix the cause, then `wardbook-server hl7 reprocess ID`.",
                ids.join(", "),
                if total > ids.len() as i64 { ", ..." } else { "" }
            ),
        });
    }
    let unregistered: i64 = db
        .query_one(
            "SELECT count(*) FROM phi.hl7_messages WHERE interface_id IS NULL AND received_at > now() - interval '1 day'",
            &[],
        )
        .await?
        .get(0);
    if unregistered > 0 {
        findings.push(HealthFinding {
            severity: Severity::Warning,
            code: "hl7_unregistered_sender".into(),
            message: format!(
                "{unregistered} HL7 message(s) in the last day came from a sending application no interface lists. Register it with `wardbook-server interface add --sender`."
            ),
        });
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_is_host_and_port() {
        for good in ["engine.hospital.example:2576", "10.1.2.3:2575", "engine:1", "mirth-01:65535"] {
            assert!(Destination::new(good, false).is_ok(), "{good}");
        }
        for bad in
            ["", "engine", "engine:", ":2575", "engine:0", "engine:65536", "engine:25x5", "en gine:2575", "[::1]:2575"]
        {
            assert!(Destination::new(bad, true).is_err(), "{bad:?}");
        }
    }
}
