//! Pharmacy orders over a real MLLP socket and a real PostgreSQL (issue
//! 15): an RDE^O11 new order, its repeat, change, hold, release and
//! discontinue; an OMP^O09 with the timing forms (PRN with its interval and
//! daily maximum, explicit times, the old TQ of ORC-7); high-alert orders;
//! an order for an unknown patient kept in error and reprocessed. Each ACK
//! is checked, and what the order row holds after. Synthetic data only
//! (MSH-11 `T`, MRNs `SYN-...`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod hl7_support;

use common::TestServer;
use hl7_support::adt::{message, seg};
use hl7_support::identities::Db;
use hl7_support::wire::{adt_a01, err_code};
use hl7_support::{Connection, Feed, ack_code, err_location};
use serde_json::{Value, json};
use tokio_postgres::Client;

/// MSH of a synthetic pharmacy message from PHARM.
fn msh(kind: &str, control: &str) -> String {
    format!("MSH|^~\\&|PHARM|GENHOSP|WARDBOOK|GENHOSP|20261201083000||{kind}|{control}|T|2.5.1")
}

fn pid(mrn: &str) -> String {
    seg("PID", &[(1, "1"), (3, &format!("{mrn}^^^GENHOSP^MR"))])
}

/// An RDE^O11 for `mrn` of the order groups given.
fn rde(control: &str, mrn: &str, groups: &[Vec<String>]) -> String {
    let mut all = vec![msh("RDE^O11^RDE_O11", control), pid(mrn)];
    all.extend(groups.iter().flatten().cloned());
    message(&all, "\r")
}

/// An OMP^O09 for `mrn`.
fn omp(control: &str, mrn: &str, groups: &[Vec<String>]) -> String {
    let mut all = vec![msh("OMP^O09^OMP_O09", control), pid(mrn)];
    all.extend(groups.iter().flatten().cloned());
    message(&all, "\r")
}

fn orc(control: &str, placer: &str, filler: &str) -> String {
    seg("ORC", &[(1, control), (2, placer), (3, filler), (9, "20261201080000"), (12, "0042^Synthetic^Prescriber")])
}

/// Amoxicillin `dose` mg three times a day by mouth, from 09:00 on 1 December.
fn amoxicillin(control: &str, placer: &str, filler: &str, dose: &str) -> Vec<String> {
    vec![
        orc(control, placer, filler),
        seg(
            "RXE",
            &[
                (2, "723^Amoxicillin 500 MG Oral Capsule^RXNORM"),
                (3, dose),
                (5, "mg^milligram^UCUM"),
                (7, "^Take with food"),
                (25, "500"),
                (26, "mg"),
                (27, "^Chest infection"),
            ],
        ),
        seg("TQ1", &[(1, "1"), (3, "TID"), (7, "20261201090000")]),
        seg("RXR", &[(1, "PO^Oral^HL70162")]),
        seg("RXC", &[(1, "B"), (2, "723^Amoxicillin^RXNORM")]),
    ]
}

async fn hospital() -> (TestServer, Db, Feed, Connection) {
    let server = TestServer::start().await;
    let owner = Db::of(&server).await;
    wardbook_server::admin::location_add(&owner, "4B", "Ward 4B (synthetic)").await.unwrap();
    let feed = Feed::start(&server).await;
    let conn = feed.connect().await;
    (server, owner, feed, conn)
}

async fn send(conn: &mut Connection, text: &str, code: &str) -> String {
    let ack = conn.send(text).await;
    assert_eq!(ack_code(&ack), code, "{ack}");
    assert!(!ack.contains("SYN-"), "an ACK holds no value from the message: {ack}");
    ack
}

/// The orders on file: (status, version, body), by medication code.
async fn orders(owner: &Client) -> Vec<(String, i64, Value)> {
    owner
        .query("SELECT status, version, body FROM medication_requests ORDER BY medication_code, id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rde_order_is_filed_changed_held_released_and_stopped() {
    let (_server, owner, _feed, mut conn) = hospital().await;
    send(&mut conn, &adt_a01("A1", "SYN-P700", "4B", "01"), "AA").await;

    send(&mut conn, &rde("RX1", "SYN-P700", &[amoxicillin("NW", "P100^EPIC", "F200^PHARM", "500")]), "AA").await;
    let [(status, version, body)] = orders(&owner).await.try_into().unwrap();
    assert_eq!((status.as_str(), version), ("active", 1));
    assert_eq!(
        body["medication"],
        json!({"system": wardbook_protocol::RXNORM, "code": "723", "display": "Amoxicillin 500 MG Oral Capsule"})
    );
    assert_eq!(body["timing"], json!({"kind": "times_per_day", "count": 3}));
    assert_eq!(body["dose"], json!({"value": 500.0, "unit": "mg"}));
    assert_eq!(body["route"]["system"], "http://terminology.hl7.org/CodeSystem/v2-0162");
    assert_eq!(body["route"]["code"], "PO");
    assert_eq!((body["strength"].as_str(), body["generic_name"].as_str()), (Some("500 mg"), Some("Amoxicillin")));
    assert_eq!(
        (body["indication"].as_str(), body["instructions"].as_str()),
        (Some("Chest infection"), Some("Take with food"))
    );
    assert_eq!(body["prescriber"], "0042 Synthetic Prescriber");
    assert_eq!(body["start"], "2026-12-01T09:00:00Z");
    assert_eq!((body["high_alert"].as_bool(), body["synthetic"].as_bool()), (Some(false), Some(true)));
    let mut keys: Vec<String> = owner
        .external_ids("medication_request")
        .await
        .into_iter()
        .map(|(system, value, _)| format!("{system}|{value}"))
        .collect();
    keys.sort();
    assert_eq!(keys, ["urn:wardbook:hl7v2:filler-order:PHARM|F200", "urn:wardbook:hl7v2:placer-order:EPIC|P100"]);

    // The same order under a new control id changes nothing.
    send(&mut conn, &rde("RX2", "SYN-P700", &[amoxicillin("NW", "P100^EPIC", "F200^PHARM", "500")]), "AA").await;
    assert_eq!(orders(&owner).await[0].1, 1, "an unchanged order is not written again");

    // A change (by the placer number alone) is a new version of the same order.
    send(&mut conn, &rde("RX3", "SYN-P700", &[amoxicillin("XO", "P100^EPIC", "", "250")]), "AA").await;
    let [(_, version, body)] = orders(&owner).await.try_into().unwrap();
    assert_eq!((version, body["dose"]["value"].as_f64()), (2, Some(250.0)));

    // Hold, release and discontinue: an ORC alone, by either number.
    let alone = |id: &str, control: &str, placer: &str, filler: &str| {
        rde(id, "SYN-P700", &[vec![orc(control, placer, filler)]])
    };
    send(&mut conn, &alone("S1", "HD", "P100^EPIC", ""), "AA").await;
    assert_eq!(orders(&owner).await[0].0, "on-hold");
    send(&mut conn, &alone("S2", "RL", "", "F200^PHARM"), "AA").await;
    assert_eq!(orders(&owner).await[0].0, "active");
    send(&mut conn, &alone("S3", "DC", "", "F200^PHARM"), "AA").await;
    let [(status, _, body)] = orders(&owner).await.try_into().unwrap();
    assert_eq!((status.as_str(), body["dose"]["value"].as_f64()), ("stopped", Some(250.0)), "a stop keeps the order");

    // A stop for an order not on file, and an order control Wardbook does
    // not apply, are kept in error naming the field.
    let ack = send(&mut conn, &alone("S4", "DC", "P999^EPIC", ""), "AE").await;
    assert_eq!((err_location(&ack).as_str(), err_code(&ack).as_str()), ("ORC^1^2", "204"));
    let ack = send(&mut conn, &alone("S5", "ZZ", "P100^EPIC", ""), "AE").await;
    assert_eq!((err_location(&ack).as_str(), err_code(&ack).as_str()), ("ORC^1^1", "103"));
    let stored: Vec<(String, String)> = owner
        .query("SELECT control_id, status FROM phi.hl7_messages WHERE message_type = 'RDE^O11' ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(stored.iter().filter(|(_, s)| s == "processed").count(), 6, "{stored:?}");
    assert_eq!(stored.iter().filter(|(_, s)| s == "error").count(), 2, "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_omp_order_reads_each_timing_form_and_high_alert_drugs_are_flagged() {
    let (_server, owner, _feed, mut conn) = hospital().await;
    send(&mut conn, &adt_a01("A1", "SYN-P701", "4B", "02"), "AA").await;
    let morphine = vec![
        orc("NW", "P1^EPIC", ""),
        seg("TQ1", &[(1, "1"), (3, "Q4H"), (7, "20261201100000"), (9, "PRN")]),
        seg("RXO", &[(1, "7052^Morphine^RXNORM"), (2, "5"), (4, "mg"), (23, "30^mg")]),
        seg("RXR", &[(1, "SC^Subcutaneous^HL70162")]),
    ];
    let paracetamol = vec![
        orc("NW", "P2^EPIC", ""),
        seg("TQ1", &[(1, "1"), (4, "0800~1400~2000"), (7, "20261201080000"), (8, "20261208080000")]),
        seg("RXO", &[(1, "PARA1^Paracetamol 1 g^LOCALRX"), (2, "1"), (4, "g")]),
    ];
    let gentamicin = vec![
        seg("ORC", &[(1, "NW"), (2, "P3^EPIC"), (7, "1^Q8H^^20261201060000")]),
        seg("RXO", &[(1, "GENT^Gentamicin^LOCALRX"), (2, "80"), (4, "mg")]),
        seg("ZRX", &[(1, "Y")]),
    ];
    send(&mut conn, &omp("OMP1", "SYN-P701", &[morphine, paracetamol, gentamicin]), "AA").await;
    let rows = orders(&owner).await;
    let by_code = |code: &str| rows.iter().find(|(_, _, b)| b["medication"]["code"] == code).unwrap().2.clone();
    let m = by_code("7052");
    assert_eq!(m["timing"], json!({"kind": "prn", "min_interval_minutes": 240, "max_daily_dose": 30.0}));
    assert_eq!(m["high_alert"], true, "an opioid is high-alert without a flag");
    let p = by_code("PARA1");
    assert_eq!(p["timing"], json!({"kind": "fixed_times", "times": ["08:00:00", "14:00:00", "20:00:00"]}));
    assert_eq!((p["start"].as_str(), p["end"].as_str()), (Some("2026-12-01T08:00:00Z"), Some("2026-12-08T08:00:00Z")));
    assert_eq!(p["medication"]["system"], "urn:wardbook:unmapped:PHARM:LOCALRX");
    assert_eq!(p["high_alert"], false);
    let g = by_code("GENT");
    assert_eq!(g["timing"], json!({"kind": "every_hours", "hours": 8}));
    assert_eq!(g["start"], "2026-12-01T06:00:00Z");
    assert_eq!(g["high_alert"], true, "ZRX-1 Y is the formulary's flag");

    // A timing Wardbook does not schedule is kept in error, naming TQ1-3;
    // nothing of the message is applied.
    let monthly = vec![
        orc("NW", "P4^EPIC", ""),
        seg("TQ1", &[(1, "1"), (3, "Q1L")]),
        seg("RXO", &[(1, "B12^Vitamin B12^LOCALRX"), (2, "1"), (4, "mg")]),
    ];
    let ack = send(&mut conn, &omp("OMP2", "SYN-P701", &[monthly]), "AE").await;
    assert_eq!((err_location(&ack).as_str(), err_code(&ack).as_str()), ("TQ1^1^3", "103"));
    assert_eq!(orders(&owner).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_for_an_unknown_patient_is_kept_in_error_until_its_admission() {
    let (server, owner, _feed, mut conn) = hospital().await;
    let ack = send(&mut conn, &rde("RX404", "SYN-P404", &[amoxicillin("NW", "P7^EPIC", "", "500")]), "AE").await;
    assert_eq!((err_location(&ack).as_str(), err_code(&ack).as_str()), ("PID^1^3", "204"));
    assert!(orders(&owner).await.is_empty());
    let id: i64 =
        owner.query_one("SELECT id FROM phi.hl7_messages WHERE control_id = 'RX404'", &[]).await.unwrap().get(0);

    send(&mut conn, &adt_a01("A404", "SYN-P404", "4B", "03"), "AA").await;
    let m = wardbook_server::hl7::messages::reprocess(&server.state.pool, &server.state.keys, id).await.unwrap();
    assert_eq!((m.status.as_str(), m.direction.as_str()), ("processed", "inbound"));
    assert_eq!(orders(&owner).await.len(), 1);
}
