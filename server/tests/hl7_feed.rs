//! HL7 v2 over MLLP, from text to database, on a real socket and a real
//! PostgreSQL: each message type's effects, the stored message and its ACK;
//! repeats applied once; errors kept for reprocessing. Synthetic data only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod hl7_support;

use common::TestServer;
use hl7_support::identities::Db;
use hl7_support::{Feed, ack_code, err_location};

/// A synthetic admission to `ward`, bed `bed`, for MRN `mrn`.
fn a01(control: &str, mrn: &str, ward: &str, bed: &str) -> String {
    format!(
        "MSH|^~\\&|SYNTH-ADT|GENHOSP|WARDBOOK|GENHOSP|20261201083000||ADT^A01^ADT_A01|{control}|T|2.5.1\r\
EVN|A01|20261201083000\r\
PID|1||{mrn}^^^GENHOSP^MR||Synthetic^Alex^^^^^L||19700101|F|||1 Synthetic Way^^Testtown||^PRN^PH^^^01632^960111\r\
PV1|1|I|{ward}^1^{bed}^GENHOSP||||0001^Doctor^Test\r\
AL1|1|DA|7980^Penicillin G^RXNORM|SV|Hives\r"
    )
}

fn oru(control: &str, mrn: &str, status: &str, potassium: &str, flag: &str) -> String {
    format!(
        "MSH|^~\\&|SYNTH-LAB|GENHOSP|WARDBOOK|GENHOSP|20261201090000||ORU^R01^ORU_R01|{control}|T|2.5.1\r\
PID|1||{mrn}^^^GENHOSP^MR\r\
OBR|1|PL100|FL100|24323-8^Comprehensive metabolic panel^LN|||20261201070000\r\
OBX|1|NM|2823-3^Potassium^LN||{potassium}|mmol/L|3.5-5.1|{flag}|||{status}\r\
OBX|2|NM|LOCAL42^Local thing^99LAB||12|U/L|||||{status}\r"
    )
}

#[tokio::test]
async fn admission_result_correction_and_repeat_each_apply_once() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    for code in ["7A", "7B"] {
        wardbook_server::admin::location_add(&owner, code, code).await.unwrap();
    }
    let feed = Feed::start(&server).await;
    let mut conn = feed.connect().await;

    let ack = conn.send(&a01("C1", "SYN-0001", "7A", "04")).await;
    assert_eq!(ack_code(&ack), "AA", "{ack}");
    let patient = Db::of(&server).await.patient("SYN-0001").await;
    assert_eq!(patient.location.as_deref(), Some("7A"));
    assert_eq!(patient.bed.as_deref(), Some("04"));
    assert!(patient.synthetic, "MSH-11 T marks the rows synthetic");
    assert_eq!(patient.family_name, "Synthetic");
    assert_eq!(server.row_count("allergies").await, 1);

    // The same control id again: acknowledged, nothing applied twice.
    let ack = conn.send(&a01("C1", "SYN-0001", "7A", "04")).await;
    assert_eq!(ack_code(&ack), "AA");
    assert_eq!(server.row_count("patients").await, 1);
    assert_eq!(count(&owner, "SELECT count(*) FROM phi.hl7_messages").await, 1);

    let ack = conn.send(&oru("R1", "SYN-0001", "P", "5.9", "H")).await;
    assert_eq!(ack_code(&ack), "AA", "{ack}");
    assert_eq!(server.row_count("observations").await, 2);
    let body: serde_json::Value =
        owner.query_one("SELECT body FROM observations WHERE code = '2823-3'", &[]).await.unwrap().get(0);
    assert_eq!(body["interpretation"], "H");
    assert_eq!(body["status"], "preliminary");
    assert_eq!(body["value"]["value"], 5.9);
    let unmapped: String = owner
        .query_one("SELECT body->'code'->>'system' FROM observations WHERE code = 'LOCAL42'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(unmapped.starts_with("urn:wardbook:unmapped:SYNTH-LAB:"), "{unmapped}");

    // A correction is a new version of the same observation.
    let ack = conn.send(&oru("R2", "SYN-0001", "C", "4.1", "N")).await;
    assert_eq!(ack_code(&ack), "AA");
    assert_eq!(server.row_count("observations").await, 2);
    let row = owner
        .query_one(
            "SELECT version, body->>'status', body->>'interpretation' FROM observations WHERE code = '2823-3'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    assert_eq!(row.get::<_, String>(1), "amended");
    assert_eq!(row.get::<_, String>(2), "N");

    // The same results again under a new control id change nothing: no new
    // version for every workstation to pull.
    let ack = conn.send(&oru("R3", "SYN-0001", "C", "4.1", "N")).await;
    assert_eq!(ack_code(&ack), "AA");
    let versions: Vec<i64> = owner
        .query("SELECT version FROM observations ORDER BY code", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![2, 2], "unchanged results are not written again");
    let ack = conn.send(&a01("C2", "SYN-0001", "7A", "04")).await;
    assert_eq!(ack_code(&ack), "AA");
    let version: i64 = owner.query_one("SELECT version FROM patients", &[]).await.unwrap().get(0);
    assert_eq!(version, 1, "an admission that changes nothing writes nothing");
    let version: i64 = owner.query_one("SELECT version FROM allergies", &[]).await.unwrap().get(0);
    assert_eq!(version, 1, "nor its allergies");

    // Generated and real records never mix: a production message (MSH-11 P)
    // does not update the synthetic patient; a bed must be a bed.
    let ack = conn.send(&a01("C3", "SYN-0001", "7A", "04").replacen("|T|2.5.1", "|P|2.5.1", 1)).await;
    assert_eq!((ack_code(&ack).as_str(), err_location(&ack).as_str()), ("AE", "MSH^1^11"), "{ack}");
    let long_bed = "B".repeat(41);
    let ack = conn.send(&a01("C4", "SYN-0001", "7B", &long_bed)).await;
    assert_eq!((ack_code(&ack).as_str(), err_location(&ack).as_str()), ("AE", "PV1^1^3"), "{ack}");
    let location: String = owner.query_one("SELECT location FROM patients", &[]).await.unwrap().get(0);
    assert_eq!(location, "7A", "a message in error changes nothing");
}

#[tokio::test]
async fn a_result_for_an_unknown_patient_is_kept_in_error_and_reprocessed() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, "7A", "7A").await.unwrap();
    let feed = Feed::start(&server).await;
    let mut conn = feed.connect().await;

    let ack = conn.send(&oru("R1", "SYN-0404", "F", "3.1", "L")).await;
    assert_eq!(ack_code(&ack), "AE", "{ack}");
    assert_eq!(err_location(&ack), "PID^1^3");
    assert!(!ack.contains("SYN-0404"), "the ACK never holds a value from the message");
    assert_eq!(server.row_count("observations").await, 0);
    let (id, status): (i64, String) = {
        let r = owner.query_one("SELECT id, status FROM phi.hl7_messages", &[]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(status, "error");

    // An unknown location is an AE naming PV1-3.
    let ack = conn.send(&a01("C9", "SYN-0404", "9Z", "01")).await;
    assert_eq!((ack_code(&ack).as_str(), err_location(&ack).as_str()), ("AE", "PV1^1^3"));

    let ack = conn.send(&a01("C1", "SYN-0404", "7A", "01")).await;
    assert_eq!(ack_code(&ack), "AA");
    let m = wardbook_server::hl7::messages::reprocess(&server.state.pool, &server.state.keys, id).await.unwrap();
    assert_eq!(m.status, "processed");
    assert_eq!(m.attempts, 2);
    assert_eq!(server.row_count("observations").await, 2);
    // Reprocessing a processed message changes nothing.
    wardbook_server::hl7::messages::reprocess(&server.state.pool, &server.state.keys, id).await.unwrap();
    assert_eq!(server.row_count("observations").await, 2);
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

/// A bedside monitor's vital signs with what NEWS2 needs besides numbers:
/// "on oxygen" as Y (HL7 has no boolean) and consciousness as an ACVPU
/// code. Both are filed as vital signs, the first as a yes/no value.
#[tokio::test]
async fn news2_readings_arrive_as_vital_signs() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, "7A", "7A").await.unwrap();
    let feed = Feed::start(&server).await;
    let mut conn = feed.connect().await;
    assert_eq!(ack_code(&conn.send(&a01("V1", "SYN-0002", "7A", "05")).await), "AA");
    let message = "MSH|^~\\&|SYNTH-MON|GENHOSP|WARDBOOK|GENHOSP|20261201100000||ORU^R01^ORU_R01|V2|T|2.5.1\r\
PID|1||SYN-0002^^^GENHOSP^MR\r\
OBR|1|PV200|FV200|85353-1^Vital signs panel^LN|||20261201095500\r\
OBX|1|NM|9279-1^Respiratory rate^LN||22|/min|||||F\r\
OBX|2|ID|371825009^Patient on oxygen^SCT||Y||||||F\r\
OBX|3|CWE|67775-7^Level of responsiveness^LN||300202002^Responds to voice^SCT||||||F\r";
    assert_eq!(ack_code(&conn.send(message).await), "AA");
    let patient = Db::of(&server).await.patient_id("SYN-0002").await.expect("the admitted patient");
    let rows = owner
        .query(
            "SELECT o.code, o.category, o.body->'value'->>'kind', o.body->'value'->>'value', o.body->'value'->>'code'
               FROM observations o WHERE o.patient_id = $1 ORDER BY o.code",
            &[&patient],
        )
        .await
        .unwrap();
    /// (code, category, value kind, value, coded value's code)
    type Stored = (String, String, String, Option<String>, Option<String>);
    let got: Vec<Stored> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect();
    let want = [
        ("371825009", "vital-signs", "boolean", Some("true"), None),
        ("67775-7", "vital-signs", "coded", None, Some("300202002")),
        ("9279-1", "vital-signs", "quantity", Some("22.0"), None),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0.as_str(), g.1.as_str(), g.2.as_str()), (w.0, w.1, w.2), "{got:?}");
        assert_eq!(g.3.as_deref(), w.3, "{got:?}");
        assert_eq!(g.4.as_deref(), w.4, "{got:?}");
    }
}
