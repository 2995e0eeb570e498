//! `make bench`: the HL7 v2 feed over MLLP against raw PostgreSQL, side by side.
//!
//! - ADT: A01 admissions (PID, PV1, one AL1), each a new patient, sent over
//!   MLLP and answered with an ACK that is read before the next message is
//!   sent on that connection: parsed, stored in `phi.hl7_messages` and
//!   applied in one transaction (patient, identity, ward, allergy, visit,
//!   the sender's identifiers, location history);
//! - ORU: R01 results (one OBR, two OBX) for those patients, the same way;
//!
//! each on one connection and on four at once. The baseline writes the same
//! rows without parsing or lookups, through tokio-postgres directly, one
//! transaction per message: for an ADT the message row (raw text, processed,
//! AA), the patient, its identity, its ward, its allergy and its visit; for an
//! ORU the message row and two observations. Rows are built before the clock
//! starts; the baseline uses as many connections as the case it stands for.
//!
//! A real cluster started by wardbook-test-support (fsync off there, on both
//! sides alike). Synthetic data only (MSH-11 `T`, MRNs `SYN-...`). Size:
//! WARDBOOK_BENCH_MLLP_MESSAGES messages per case (default 1,000).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::future::join_all;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;
use wardbook_protocol::{
    Allergy, AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, Coding, Criticality,
    Interpretation, Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity, Reaction,
    ReactionSeverity, ReferenceRange, coding,
};
use wardbook_server::hl7::mllp::{self, Listener};
use wardbook_server::{admin, db};
use wardbook_test_support::PgCluster;

/// Connections of the concurrent cases.
const CONNECTIONS: usize = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = env_usize("WARDBOOK_BENCH_MLLP_MESSAGES", 1_000).max(CONNECTIONS);

    let cluster = tokio::task::spawn_blocking(PgCluster::start).await.unwrap().expect("a PostgreSQL cluster");
    let name = cluster.create_database().expect("database");
    let url = cluster.url(&name);
    db::migrate(&url, None).await.expect("migrate");
    let client = connect(&url).await;
    let ward = admin::location_add(&client, "7A", "Ward 7A").await.expect("a ward");

    let (pool, _) = db::pool(&url, None, 2 * CONNECTIONS).expect("a pool");
    let keys = std::sync::Arc::new(wardbook_server::keys::Keyring::new(
        None,
        wardbook_protocol::Environment::Test,
        pool.clone(),
        "the bench's cluster".to_owned(),
    ));
    let listener = Listener {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        keys,
        tls: None,
        max_message_bytes: 1 << 20,
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(600),
        max_connections: 2 * CONNECTIONS,
    };
    let running = mllp::start(pool, listener).await.expect("the MLLP listener");
    let addr = running.addr;

    // Patients 0..n are admitted on one connection, n..2n on four; each
    // case's results go to the patients its ADT case admitted.
    let adt_one: Vec<String> = (0..n).map(admission).collect();
    let adt_four: Vec<String> = (n..2 * n).map(admission).collect();
    let oru_one: Vec<String> = (0..n).map(results).collect();
    let oru_four: Vec<String> = (n..2 * n).map(results).collect();

    let mut rows = Vec::new();
    let feed = |messages: &[String], connections| send_all(addr, messages.to_vec(), connections);

    let raw_patients: Vec<RawAdmission> = (0..2 * n).map(|i| RawAdmission::new(i, ward)).collect();
    let raw_results: Vec<RawResults> = raw_patients.iter().enumerate().map(|(i, p)| RawResults::new(i, p.id)).collect();
    let (raw_one, raw_four) = raw_patients.split_at(n);
    let (res_one, res_four) = raw_results.split_at(n);

    let ours = feed(&adt_one, 1).await;
    let base = raw(&url, raw_one, 1, RawAdmission::insert).await;
    rows.push(("ADT^A01, 1 connection", n, ours, base));
    let ours = feed(&oru_one, 1).await;
    let base = raw(&url, res_one, 1, RawResults::insert).await;
    rows.push(("ORU^R01, 1 connection", n, ours, base));
    let ours = feed(&adt_four, CONNECTIONS).await;
    let base = raw(&url, raw_four, CONNECTIONS, RawAdmission::insert).await;
    rows.push(("ADT^A01, 4 connections", n, ours, base));
    let ours = feed(&oru_four, CONNECTIONS).await;
    let base = raw(&url, res_four, CONNECTIONS, RawResults::insert).await;
    rows.push(("ORU^R01, 4 connections", n, ours, base));
    running.stop();

    // Every message was applied, and every baseline row written.
    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) as usize }
    };
    assert_eq!(count("SELECT count(*) FROM phi.hl7_messages WHERE status = 'processed'").await, 8 * n);
    assert_eq!(count("SELECT count(*) FROM patients").await, 4 * n);
    assert_eq!(count("SELECT count(*) FROM observations").await, 8 * n);

    let version: String = client.query_one("SHOW server_version", &[]).await.unwrap().get(0);
    println!();
    println!("Wardbook HL7 v2 over MLLP: {n} messages per case, PostgreSQL {version}");
    println!();
    println!("| case | messages | seconds | messages/s | ratio to baseline |");
    println!("|---|---:|---:|---:|---:|");
    for (case, messages, ours, base) in rows {
        let rate = |d: Duration| messages as f64 / d.as_secs_f64();
        println!(
            "| {case}, MLLP with ACK | {messages} | {:.2} | {:.0} | {:.3} |",
            ours.as_secs_f64(),
            rate(ours),
            rate(ours) / rate(base)
        );
        println!("| {case}, raw baseline | {messages} | {:.2} | {:.0} | 1.000 |", base.as_secs_f64(), rate(base));
    }
    println!();
    println!(
        "MLLP with ACK = framed over loopback, parsed, stored and applied in one transaction, ACK read before the next \
         message of the connection; raw baseline = the same rows by tokio-postgres, one transaction per message, no \
         parsing; ratio = messages/s over the baseline's (higher is better)."
    );
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

fn mrn(i: usize) -> String {
    format!("SYN-B{i:07}")
}

/// A01 of patient `i`: a new synthetic patient on 7A with a penicillin allergy.
fn admission(i: usize) -> String {
    let mrn = mrn(i);
    format!(
        "MSH|^~\\&|SYNTH-ADT|GENHOSP|WARDBOOK|GENHOSP|20261201083000||ADT^A01^ADT_A01|ADT{i}|T|2.5.1\r\
EVN|A01|20261201083000\r\
PID|1||{mrn}^^^GENHOSP^MR||Synthetic^Bench^^^^^L||19700101|F|||1 Synthetic Way^^Testtown||^PRN^PH^^^01632^960111\r\
PV1|1|I|7A^1^{bed}^GENHOSP||||0001^Doctor^Test||||||||||||V{i}\r\
AL1|1|DA|7980^Penicillin G^RXNORM|SV|Hives\r",
        bed = i % 30 + 1
    )
}

/// R01 for patient `i`: order `i`, potassium and sodium.
fn results(i: usize) -> String {
    let mrn = mrn(i);
    format!(
        "MSH|^~\\&|SYNTH-LAB|GENHOSP|WARDBOOK|GENHOSP|20261201090000||ORU^R01^ORU_R01|ORU{i}|T|2.5.1\r\
PID|1||{mrn}^^^GENHOSP^MR\r\
OBR|1|PL{i}|FL{i}|24323-8^Comprehensive metabolic panel^LN|||20261201070000\r\
OBX|1|NM|2823-3^Potassium^LN||4.2|mmol/L|3.5-5.1|N|||F\r\
OBX|2|NM|2951-2^Sodium^LN||140|mmol/L|135-145|N|||F\r"
    )
}

/// Sends `messages` over `connections` connections at once (split evenly),
/// each message's ACK read before the next is sent; the time it all took.
async fn send_all(addr: SocketAddr, messages: Vec<String>, connections: usize) -> Duration {
    let per = messages.len().div_ceil(connections);
    let chunks: Vec<Vec<String>> = messages.chunks(per).map(<[String]>::to_vec).collect();
    let mut streams = Vec::new();
    for _ in &chunks {
        let stream = TcpStream::connect(addr).await.expect("connect to the listener");
        stream.set_nodelay(true).unwrap();
        streams.push(BufReader::new(stream));
    }
    let started = Instant::now();
    join_all(streams.into_iter().zip(chunks).map(|(mut stream, chunk)| async move {
        for message in chunk {
            let mut frame = Vec::with_capacity(message.len() + 3);
            frame.push(0x0B);
            frame.extend_from_slice(message.as_bytes());
            frame.extend_from_slice(&[0x1C, 0x0D]);
            stream.get_mut().write_all(&frame).await.unwrap();
            let mut ack = Vec::new();
            stream.read_until(0x1C, &mut ack).await.unwrap();
            assert_eq!(stream.read_u8().await.unwrap(), 0x0D, "an MLLP frame ends with 0x1C 0x0D");
            let ack = String::from_utf8(ack).unwrap();
            assert!(ack.contains("\rMSA|AA|"), "every message is accepted: {ack}");
        }
    }))
    .await;
    started.elapsed()
}

/// Writes `items` over `connections` connections at once, one transaction per item.
async fn raw<T: Sync>(
    url: &str,
    items: &[T],
    connections: usize,
    insert: for<'a> fn(&'a T, &'a tokio_postgres::Transaction<'a>) -> InsertFuture<'a>,
) -> Duration {
    let per = items.len().div_ceil(connections);
    let mut clients = Vec::new();
    for _ in items.chunks(per) {
        clients.push(connect(url).await);
    }
    let started = Instant::now();
    join_all(clients.iter_mut().zip(items.chunks(per)).map(|(client, chunk)| async move {
        for item in chunk {
            let tx = client.transaction().await.unwrap();
            insert(item, &tx).await;
            tx.commit().await.unwrap();
        }
    }))
    .await;
    started.elapsed()
}

type InsertFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// The rows of one admission, built ahead.
struct RawAdmission {
    id: Uuid,
    ward: Uuid,
    mrn: String,
    message: String,
    control: String,
    allergy: Allergy,
    allergy_body: serde_json::Value,
}

impl RawAdmission {
    fn new(i: usize, ward: Uuid) -> RawAdmission {
        // Other MRNs and control ids than the feed's.
        let id = Uuid::now_v7();
        let allergy = Allergy {
            id: Uuid::now_v7(),
            version: 0,
            updated_at: Utc::now(),
            deleted: false,
            synthetic: true,
            patient_id: id,
            allergen: Coding::new(coding::RXNORM, "7980", "Penicillin G"),
            allergy_type: AllergyType::Allergy,
            category: AllergyCategory::Medication,
            clinical_status: AllergyClinicalStatus::Active,
            verification_status: AllergyVerificationStatus::Confirmed,
            criticality: Criticality::High,
            reactions: vec![Reaction {
                manifestation: Coding::new("urn:wardbook:text", "", "Hives"),
                severity: Some(ReactionSeverity::Severe),
            }],
            recorded_at: Utc::now(),
            recorded_by: "hl7v2:SYNTH-ADT".into(),
        };
        RawAdmission {
            id,
            ward,
            mrn: mrn(1_000_000 + i),
            message: admission(1_000_000 + i),
            control: format!("RAW-ADT{i}"),
            allergy_body: serde_json::to_value(&allergy).unwrap(),
            allergy,
        }
    }

    fn insert<'a>(&'a self, tx: &'a tokio_postgres::Transaction<'a>) -> InsertFuture<'a> {
        Box::pin(async move {
            insert_message(tx, "SYNTH-ADT", &self.control, "ADT^A01", &self.message).await;
            tx.execute(
                "INSERT INTO patients (id, deleted, synthetic, sex, preferred_language, location, source_system, bed)
                 VALUES ($1, false, true, 'female', NULL, '7A', 'hl7v2:SYNTH-ADT', '04')",
                &[&self.id],
            )
            .await
            .unwrap();
            tx.execute(
                "INSERT INTO phi.patient_identities (patient_id, mrn, given_name, family_name, birth_date, phone, email, address)
                 VALUES ($1, $2, 'Bench', 'Synthetic', '1970-01-01', '01632 960111', NULL, '1 Synthetic Way, Testtown')",
                &[&self.id, &self.mrn],
            )
            .await
            .unwrap();
            tx.execute(
                "INSERT INTO patient_locations (patient_id, location_id, active) VALUES ($1, $2, true)",
                &[&self.id, &self.ward],
            )
            .await
            .unwrap();
            let a = &self.allergy;
            tx.execute(
                "INSERT INTO allergies (id, patient_id, synthetic, deleted, criticality, clinical_status, verification_status, body)
                 VALUES ($1, $2, true, false, $3, $4, $5, $6)",
                &[&a.id, &self.id, &a.criticality.as_str(), &a.clinical_status.as_str(), &a.verification_status.as_str(), &self.allergy_body],
            )
            .await
            .unwrap();
            tx.execute(
                "INSERT INTO encounters (id, patient_id, status, class, location_id, point_of_care, room, bed, attending,
                                         admitted_at, discharged_at, source_system, synthetic)
                 VALUES ($1, $2, 'in-progress', 'I', $3, '7A', '1', '04', '0001 Doctor Test', NULL, NULL, 'hl7v2:SYNTH-ADT', true)",
                &[&Uuid::now_v7(), &self.id, &self.ward],
            )
            .await
            .unwrap();
        })
    }
}

/// The rows of one result message, built ahead.
struct RawResults {
    message: String,
    control: String,
    observations: Vec<(Observation, serde_json::Value)>,
}

impl RawResults {
    fn new(i: usize, patient: Uuid) -> RawResults {
        let observation = |code: &str, display: &str, value: f64, low: f64, high: f64| {
            let o = Observation {
                id: Uuid::now_v7(),
                version: 0,
                updated_at: Utc::now(),
                deleted: false,
                synthetic: true,
                patient_id: patient,
                category: ObservationCategory::Laboratory,
                code: Coding::loinc(code, display),
                panel: Some(Coding::loinc("24323-8", "Comprehensive metabolic panel")),
                value: ObservationValue::Quantity(Quantity { value, unit: "mmol/L".into() }),
                reference_range: Some(ReferenceRange { low: Some(low), high: Some(high), unit: "mmol/L".into() }),
                interpretation: Some(Interpretation::Normal),
                status: ObservationStatus::Final,
                status_reason: None,
                effective_at: Utc::now(),
                recorded_by: "hl7v2:SYNTH-LAB".into(),
            };
            let body = serde_json::to_value(&o).unwrap();
            (o, body)
        };
        RawResults {
            message: results(1_000_000 + i),
            control: format!("RAW-ORU{i}"),
            observations: vec![
                observation("2823-3", "Potassium", 4.2, 3.5, 5.1),
                observation("2951-2", "Sodium", 140.0, 135.0, 145.0),
            ],
        }
    }

    fn insert<'a>(&'a self, tx: &'a tokio_postgres::Transaction<'a>) -> InsertFuture<'a> {
        Box::pin(async move {
            insert_message(tx, "SYNTH-LAB", &self.control, "ORU^R01", &self.message).await;
            for (o, body) in &self.observations {
                tx.execute(
                    "INSERT INTO observations (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)
                     VALUES ($1, $2, true, false, $3, $4, $5, $6, $7)",
                    &[&o.id, &o.patient_id, &o.category.as_str(), &o.code.code, &o.status.as_str(), &o.effective_at, body],
                )
                .await
                .unwrap();
            }
        })
    }
}

/// The stored message as the feed keeps it once applied (without the parsed form).
async fn insert_message(tx: &tokio_postgres::Transaction<'_>, app: &str, control: &str, kind: &str, raw: &str) {
    tx.execute(
        "INSERT INTO phi.hl7_messages (sending_application, sending_facility, control_id, message_type, status,
                                       ack_code, processed_at, raw)
         VALUES ($1, 'GENHOSP', $2, $3, 'processed', 'AA', now(), $4)",
        &[&app, &control, &kind, &raw],
    )
    .await
    .unwrap();
}
