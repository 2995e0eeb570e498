//! Each ADT event from text to database over a real MLLP socket and a real
//! PostgreSQL: what it does to the patient, the ward and the visit, the
//! stored message (status and ACK code) and the ACK itself. Then what the
//! workstations of both wards receive when a patient is transferred, an edit
//! made before the transfer included. Synthetic data only (MSH-11 `T`,
//! MRNs `SYN-...`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod hl7_support;

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use common::{Device, TestServer};
use hl7_support::adt::{message, msh, seg, stored};
use hl7_support::identities::Db;
use hl7_support::{Connection, Feed, ack_code, err_location, field};
use tokio_postgres::Client;
use uuid::Uuid;
use wardbook_protocol::api::{Change, MutationOutcome, Record};
use wardbook_protocol::{
    Coding, Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity, vitals,
};
use wardbook_server::{admin, interfaces};

// --- Messages -------------------------------------------------------------

const ADT_APP: &str = "SYNTH-ADT";
const LAB_APP: &str = "SYNTH-LAB";

/// An ADT message: MSH, EVN, then `segments`, ended by `\r`.
fn adt(trigger: &str, control: &str, segments: &[String]) -> String {
    adt_with_ends(trigger, control, segments, "\r")
}

fn adt_with_ends(trigger: &str, control: &str, segments: &[String], end: &str) -> String {
    // MSH-9.3, the message structure, as HL7 v2.5.1 pairs it with each trigger.
    let structure = match trigger {
        "A02" => "ADT_A02",
        "A03" => "ADT_A03",
        "A04" | "A08" | "A13" => "ADT_A01",
        "A11" | "A12" => "ADT_A09",
        "A40" => "ADT_A39",
        _ => "ADT_A01",
    };
    let mut all = vec![
        msh(ADT_APP, &format!("ADT^{trigger}^{structure}"), control),
        seg("EVN", &[(1, trigger), (2, "20261201083000")]),
    ];
    all.extend_from_slice(segments);
    message(&all, end)
}

/// A PID with every demographic field Wardbook stores.
fn pid(mrn: &str) -> String {
    pid_with(
        &format!("{mrn}^^^GENHOSP^MR"),
        &[
            (5, "Synthetic^Alex^^^^^L"),
            (7, "19700101"),
            (8, "F"),
            (11, "1 Synthetic Way^^Testtown"),
            (13, "^PRN^PH^^^01632^960111"),
        ],
    )
}

/// A PID with PID-3 as given and only the fields named.
fn pid_with(pid_3: &str, fields: &[(usize, &str)]) -> String {
    let mut all = vec![(1, "1"), (3, pid_3)];
    all.extend_from_slice(fields);
    seg("PID", &all)
}

/// PV1 of an inpatient at `location` (PV1-3, `ward^room^bed^facility`), visit `visit` (PV1-19).
fn pv1(location: &str, visit: &str) -> String {
    seg("PV1", &[(1, "1"), (2, "I"), (3, location), (7, "0001^Doctor^Test"), (19, visit)])
}

fn bed(ward: &str, bed: &str) -> String {
    format!("{ward}^1^{bed}^GENHOSP")
}

fn al1(n: usize, kind: &str, allergen: &str, severity: &str, reaction: &str) -> String {
    seg("AL1", &[(1, &n.to_string()), (2, kind), (3, allergen), (4, severity), (5, reaction)])
}

fn penicillin() -> String {
    al1(1, "DA", "7980^Penicillin G^RXNORM", "SV", "Hives")
}

fn peanut() -> String {
    al1(2, "FA", "256349002^Peanut^SCT", "MO", "Swelling")
}

/// A01: `mrn` admitted to `ward`, bed `bed_no`, visit `visit`, allergic to penicillin and peanut.
fn admit(control: &str, mrn: &str, ward: &str, bed_no: &str, visit: &str) -> String {
    adt("A01", control, &[pid(mrn), pv1(&bed(ward, bed_no), visit), penicillin(), peanut()])
}

/// ORU^R01: two final results (potassium, sodium) of order `order` for the patient with PID-3 `pid_3`.
fn results(control: &str, pid_3: &str, order: &str) -> String {
    let segments = [
        msh(LAB_APP, "ORU^R01^ORU_R01", control),
        pid_with(pid_3, &[]),
        seg(
            "OBR",
            &[
                (1, "1"),
                (2, &format!("PL{order}")),
                (3, &format!("FL{order}")),
                (4, "24323-8^Comprehensive metabolic panel^LN"),
                (7, "20261201070000"),
            ],
        ),
        seg(
            "OBX",
            &[
                (1, "1"),
                (2, "NM"),
                (3, "2823-3^Potassium^LN"),
                (5, "4.2"),
                (6, "mmol/L"),
                (7, "3.5-5.1"),
                (8, "N"),
                (11, "F"),
            ],
        ),
        seg(
            "OBX",
            &[
                (1, "2"),
                (2, "NM"),
                (3, "2951-2^Sodium^LN"),
                (5, "140"),
                (6, "mmol/L"),
                (7, "135-145"),
                (8, "N"),
                (11, "F"),
            ],
        ),
    ];
    message(&segments, "\r")
}

fn mr(mrn: &str) -> String {
    format!("{mrn}^^^GENHOSP^MR")
}

// --- Sending and reading back ----------------------------------------------

/// Two wards, 7A and 7B, and an MLLP listener.
async fn hospital() -> (TestServer, Db, Feed) {
    let server = TestServer::start().await;
    let owner = Db::of(&server).await;
    for code in ["7A", "7B"] {
        admin::location_add(&owner, code, &format!("Ward {code}")).await.unwrap();
    }
    let feed = Feed::start(&server).await;
    (server, owner, feed)
}

/// MSH-10 of a message, whatever its segments end with.
fn control_id(text: &str) -> String {
    text.split(['\r', '\n']).next().and_then(|msh| msh.split('|').nth(9)).unwrap_or_default().to_owned()
}

/// Sends `text` and checks its ACK (`code`, for the message's control id)
/// and what was stored of it: processed/AA, error/AE, nothing for AR.
async fn send(conn: &mut Connection, owner: &Client, text: &str, code: &str) -> String {
    let ack = conn.send(text).await;
    let control = control_id(text);
    assert_eq!(ack_code(&ack), code, "the ACK of {control}: {ack}");
    assert_eq!(field(&ack, "MSA", 2), control, "MSA-2 echoes the control id");
    let want = match code {
        "AA" => Some(("processed".to_owned(), Some("AA".to_owned()))),
        "AE" => Some(("error".to_owned(), Some("AE".to_owned()))),
        _ => None,
    };
    assert_eq!(stored(owner, &control).await, want, "the stored message {control}");
    ack
}

async fn accepted(conn: &mut Connection, owner: &Client, text: &str) {
    send(conn, owner, text, "AA").await;
}

async fn patient_id(owner: &Db, mrn: &str) -> Uuid {
    owner.patient_id(mrn).await.unwrap_or_else(|| panic!("a patient with MRN {mrn}"))
}

/// Where the patient is: patients.location, patients.bed, and the codes of
/// the patient's active patient_locations.
async fn placement(owner: &Db, mrn: &str) -> (Option<String>, Option<String>, Vec<String>) {
    let r = owner
        .query_one(
            "SELECT p.location, p.bed,
                    ARRAY(SELECT l.code FROM patient_locations pl JOIN locations l ON l.id = pl.location_id
                           WHERE pl.patient_id = p.id AND pl.active ORDER BY l.code)
               FROM patients p WHERE p.id = $1",
            &[&patient_id(owner, mrn).await],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

fn placed(ward: &str, bed_no: &str) -> (Option<String>, Option<String>, Vec<String>) {
    (Some(ward.to_owned()), Some(bed_no.to_owned()), vec![ward.to_owned()])
}

const NOWHERE: (Option<String>, Option<String>, Vec<String>) = (None, None, Vec::new());

/// The patient's visits, oldest first: (status, location code, bed, discharged).
async fn encounters(owner: &Db, mrn: &str) -> Vec<(String, Option<String>, Option<String>, bool)> {
    owner
        .query(
            "SELECT e.status, l.code, e.bed, e.discharged_at IS NOT NULL
               FROM encounters e LEFT JOIN locations l ON l.id = e.location_id
              WHERE e.patient_id = $1
              ORDER BY e.id",
            &[&patient_id(owner, mrn).await],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn visit(status: &str, ward: &str, bed_no: &str, discharged: bool) -> (String, Option<String>, Option<String>, bool) {
    (status.to_owned(), Some(ward.to_owned()), Some(bed_no.to_owned()), discharged)
}

/// The identity as stored: family, given, birth date, sex, phone, address.
type Identity = (String, String, NaiveDate, String, Option<String>, Option<String>);

async fn identity(owner: &Db, mrn: &str) -> Identity {
    let p = owner.patient(mrn).await;
    let sex: String = owner.query_one("SELECT sex FROM patients WHERE id = $1", &[&p.id]).await.unwrap().get(0);
    (p.family_name, p.given_name, p.birth_date, sex, p.phone, p.address)
}

async fn count(owner: &Client, sql: &str, patient: Uuid) -> i64 {
    owner.query_one(sql, &[&patient]).await.unwrap().get(0)
}

async fn version(owner: &Client, patient: Uuid) -> i64 {
    count(owner, "SELECT version FROM patients WHERE id = $1", patient).await
}

async fn observations_of(owner: &Client, patient: Uuid) -> i64 {
    count(owner, "SELECT count(*) FROM observations WHERE patient_id = $1 AND NOT deleted", patient).await
}

async fn allergies_of(owner: &Client, patient: Uuid) -> i64 {
    count(owner, "SELECT count(*) FROM allergies WHERE patient_id = $1 AND NOT deleted", patient).await
}

// --- Admission, registration, update ---------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admission_places_the_patient_in_the_bed_with_the_allergies() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;

    accepted(&mut conn, &owner, &admit("A01-1", "SYN-0101", "7A", "04", "V101")).await;

    assert_eq!(placement(&owner, "SYN-0101").await, placed("7A", "04"));
    assert_eq!(
        identity(&owner, "SYN-0101").await,
        (
            "Synthetic".to_owned(),
            "Alex".to_owned(),
            NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
            "female".to_owned(),
            Some("01632 960111".to_owned()),
            Some("1 Synthetic Way, Testtown".to_owned()),
        )
    );
    let patient = patient_id(&owner, "SYN-0101").await;
    let row =
        owner.query_one("SELECT synthetic, source_system FROM patients WHERE id = $1", &[&patient]).await.unwrap();
    assert!(row.get::<_, bool>(0), "MSH-11 T marks the patient synthetic");
    assert_eq!(row.get::<_, String>(1), "hl7v2:SYNTH-ADT");

    let allergies: Vec<(String, String, String, String, String, bool)> = owner
        .query(
            "SELECT body->'allergen'->>'system', body->'allergen'->>'code', body->>'category', criticality,
                    body->'reactions'->0->'manifestation'->>'display', synthetic
               FROM allergies WHERE patient_id = $1 ORDER BY body->'allergen'->>'code'",
            &[&patient],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    let allergy = |system: &str, code: &str, category: &str, criticality: &str, reaction: &str| {
        (system.to_owned(), code.to_owned(), category.to_owned(), criticality.to_owned(), reaction.to_owned(), true)
    };
    assert_eq!(
        allergies,
        vec![
            allergy("http://snomed.info/sct", "256349002", "food", "low", "Swelling"),
            allergy("http://www.nlm.nih.gov/research/umls/rxnorm", "7980", "medication", "high", "Hives"),
        ]
    );
    assert_eq!(encounters(&owner, "SYN-0101").await, vec![visit("in-progress", "7A", "04", false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_creates_the_patient_on_no_ward() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;

    let outpatient = seg("PV1", &[(1, "1"), (2, "O"), (19, "V102")]);
    accepted(&mut conn, &owner, &adt("A04", "A04-1", &[pid("SYN-0102"), outpatient])).await;

    assert_eq!(placement(&owner, "SYN-0102").await, NOWHERE);
    assert_eq!(identity(&owner, "SYN-0102").await.0, "Synthetic");
    let class: String = owner
        .query_one(
            "SELECT class FROM encounters WHERE patient_id = $1 AND status = 'in-progress'",
            &[&patient_id(&owner, "SYN-0102").await],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(class, "O");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_keeps_what_is_empty_and_clears_what_is_two_quotes() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;
    accepted(&mut conn, &owner, &admit("A01-1", "SYN-0103", "7A", "04", "V103")).await;
    let before = identity(&owner, "SYN-0103").await;
    let patient = patient_id(&owner, "SYN-0103").await;
    let v1 = version(&owner, patient).await;

    // A new family name; date of birth, sex and address empty (kept); phone `""` (cleared).
    let rename = pid_with(&mr("SYN-0103"), &[(5, "Synthetic-Renamed"), (13, "\"\"")]);
    accepted(&mut conn, &owner, &adt("A08", "A08-1", &[rename])).await;
    assert_eq!(
        identity(&owner, "SYN-0103").await,
        ("Synthetic-Renamed".to_owned(), before.1.clone(), before.2, before.3.clone(), None, before.5.clone())
    );
    assert!(version(&owner, patient).await > v1, "the workstations receive the change");

    // Names empty (kept), address `""` (cleared), a new phone.
    let readdress = pid_with(&mr("SYN-0103"), &[(11, "\"\""), (13, "^PRN^PH^^^01632^960222")]);
    accepted(&mut conn, &owner, &adt("A08", "A08-2", &[readdress])).await;
    assert_eq!(
        identity(&owner, "SYN-0103").await,
        ("Synthetic-Renamed".to_owned(), before.1, before.2, before.3, Some("01632 960222".to_owned()), None)
    );
    // No PV1-3: the patient stays where they are.
    assert_eq!(placement(&owner, "SYN-0103").await, placed("7A", "04"));
}

// --- Movements --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_moves_the_patient_to_the_new_ward_and_bed() {
    let (server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;
    accepted(&mut conn, &owner, &admit("A01-1", "SYN-0201", "7A", "04", "V201")).await;

    accepted(&mut conn, &owner, &adt("A02", "A02-1", &[pid("SYN-0201"), pv1(&bed("7B", "11"), "V201")])).await;

    assert_eq!(placement(&owner, "SYN-0201").await, placed("7B", "11"));
    assert_eq!(encounters(&owner, "SYN-0201").await, vec![visit("in-progress", "7B", "11", false)]);
    let (ward_a, ward_b) = (server.location_id("7A").await, server.location_id("7B").await);
    let stays: Vec<(Uuid, bool)> = owner
        .query(
            "SELECT location_id, ended_at IS NULL FROM patient_location_history WHERE patient_id = $1 ORDER BY id",
            &[&patient_id(&owner, "SYN-0201").await],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(stays, vec![(ward_a, false), (ward_b, true)], "the stay on 7A ended, the one on 7B is open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discharge_takes_the_patient_off_every_ward_and_ends_the_visit() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;
    accepted(&mut conn, &owner, &admit("A01-1", "SYN-0202", "7A", "04", "V202")).await;

    let discharged = seg("PV1", &[(1, "1"), (2, "I"), (3, &bed("7A", "04")), (19, "V202"), (45, "20261203100000")]);
    accepted(&mut conn, &owner, &adt("A03", "A03-1", &[pid("SYN-0202"), discharged])).await;

    assert_eq!(placement(&owner, "SYN-0202").await, NOWHERE);
    assert_eq!(encounters(&owner, "SYN-0202").await, vec![visit("finished", "7A", "04", true)]);
    assert_eq!(allergies_of(&owner, patient_id(&owner, "SYN-0202").await).await, 2, "the record stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_admission_takes_the_patient_off_the_ward() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;
    accepted(&mut conn, &owner, &admit("A01-1", "SYN-0203", "7A", "04", "V203")).await;

    accepted(&mut conn, &owner, &adt("A11", "A11-1", &[pid("SYN-0203"), pv1(&bed("7A", "04"), "V203")])).await;

    assert_eq!(placement(&owner, "SYN-0203").await, NOWHERE);
    assert_eq!(encounters(&owner, "SYN-0203").await, vec![visit("cancelled", "7A", "04", false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_transfer_returns_the_patient_to_the_ward_in_pv1_3() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;
    accepted(&mut conn, &owner, &admit("A01-1", "SYN-0204", "7A", "04", "V204")).await;
    accepted(&mut conn, &owner, &adt("A02", "A02-1", &[pid("SYN-0204"), pv1(&bed("7B", "11"), "V204")])).await;
    assert_eq!(placement(&owner, "SYN-0204").await, placed("7B", "11"));

    // PV1-3 of an A12 is where the patient goes back to.
    accepted(&mut conn, &owner, &adt("A12", "A12-1", &[pid("SYN-0204"), pv1(&bed("7A", "04"), "V204")])).await;

    assert_eq!(placement(&owner, "SYN-0204").await, placed("7A", "04"));
    assert_eq!(encounters(&owner, "SYN-0204").await, vec![visit("in-progress", "7A", "04", false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_discharge_puts_the_patient_back_in_the_bed() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;
    accepted(&mut conn, &owner, &admit("A01-1", "SYN-0205", "7A", "04", "V205")).await;
    let discharged = seg("PV1", &[(1, "1"), (2, "I"), (3, &bed("7A", "04")), (19, "V205"), (45, "20261203100000")]);
    accepted(&mut conn, &owner, &adt("A03", "A03-1", &[pid("SYN-0205"), discharged])).await;
    assert_eq!(placement(&owner, "SYN-0205").await, NOWHERE);

    accepted(&mut conn, &owner, &adt("A13", "A13-1", &[pid("SYN-0205"), pv1(&bed("7A", "04"), "V205")])).await;

    assert_eq!(placement(&owner, "SYN-0205").await, placed("7A", "04"));
    // The visit is in progress again, without the cancelled A03's discharge time.
    assert_eq!(encounters(&owner, "SYN-0205").await, vec![visit("in-progress", "7A", "04", false)]);
}

// --- Merge -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_moves_the_records_to_the_survivor_and_later_results_follow() {
    let (server, owner, feed) = hospital().await;
    let device = server.enrol("7A").await;
    let mut conn = feed.connect().await;
    // Two records of one person: the survivor allergic to penicillin, the other to peanut.
    let survivor_pv1 = pv1(&bed("7A", "01"), "V301");
    accepted(&mut conn, &owner, &adt("A01", "A01-1", &[pid("SYN-0301"), survivor_pv1, penicillin()])).await;
    accepted(&mut conn, &owner, &adt("A01", "A01-2", &[pid("SYN-0302"), pv1(&bed("7A", "02"), "V302"), peanut()]))
        .await;
    accepted(&mut conn, &owner, &results("R-1", &mr("SYN-0301"), "301")).await;
    accepted(&mut conn, &owner, &results("R-2", &mr("SYN-0302"), "302")).await;
    let (survivor, merged) = (patient_id(&owner, "SYN-0301").await, patient_id(&owner, "SYN-0302").await);
    assert_eq!((observations_of(&owner, survivor).await, observations_of(&owner, merged).await), (2, 2));
    let moved: Vec<Uuid> = owner
        .query("SELECT id FROM observations WHERE patient_id = $1 UNION ALL SELECT id FROM allergies WHERE patient_id = $1", &[&merged])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(moved.len(), 3, "two results and an allergy to move");
    let (_, cursor) = pull_until(&server, &device, None, "both patients on 7A", |changes| {
        let ids = common::patient_ids(changes);
        ids.contains(&survivor) && ids.contains(&merged)
    })
    .await;

    let mrg = seg("MRG", &[(1, &mr("SYN-0302"))]);
    accepted(&mut conn, &owner, &adt("A40", "A40-1", &[pid("SYN-0301"), mrg])).await;

    assert_eq!(observations_of(&owner, survivor).await, 4, "both records' results");
    assert_eq!(allergies_of(&owner, survivor).await, 2, "both records' allergies");
    assert_eq!((observations_of(&owner, merged).await, allergies_of(&owner, merged).await), (0, 0));
    let row = owner.query_one("SELECT deleted, merged_into FROM patients WHERE id = $1", &[&merged]).await.unwrap();
    assert_eq!((row.get::<_, bool>(0), row.get::<_, Option<Uuid>>(1)), (true, Some(survivor)));
    assert_eq!(placement(&owner, "SYN-0302").await, NOWHERE);
    assert_eq!(placement(&owner, "SYN-0301").await, placed("7A", "01"));

    // A result sent afterwards under the merged MRN lands on the survivor.
    accepted(&mut conn, &owner, &results("R-3", &mr("SYN-0302"), "303")).await;
    assert_eq!(observations_of(&owner, survivor).await, 6);
    assert_eq!(observations_of(&owner, merged).await, 0);

    // The ward's workstation drops the merged record and sees its results
    // under the survivor.
    let (changes, _) = pull_until(&server, &device, Some(&cursor), "the merge in 7A's feed", |changes| {
        changes.iter().any(|c| matches!(c, Change::Remove { patient_id } if *patient_id == merged))
    })
    .await;
    let received: Vec<(&str, Uuid, Uuid)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Observation { observation: o } if moved.contains(&o.id) => {
                Some(("observation", o.id, o.patient_id))
            }
            Change::Allergy { allergy: a } if moved.contains(&a.id) => Some(("allergy", a.id, a.patient_id)),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), moved.len(), "the moved results and allergy are sent again");
    // The moved rows reach the workstation under the survivor, not under
    // the record it is told to remove (the stored body moves too).
    assert!(
        received.iter().all(|(_, _, patient)| *patient == survivor),
        "moved rows as the feed sends them: {received:?} (survivor {survivor}, merged {merged})"
    );
}

/// Pulls from `cursor` (the same cursor each time) until `done` holds for
/// what came back: the feed's horizon waits for every older transaction on
/// the cluster, so a write may show up a little later than its commit.
async fn pull_until(
    server: &TestServer,
    device: &Device,
    cursor: Option<&str>,
    what: &str,
    done: impl Fn(&[Change]) -> bool,
) -> (Vec<Change>, String) {
    let done = &done;
    common::eventually(Duration::from_secs(30), what, || async move {
        let (changes, next) = server.pull_all(device, cursor, 500).await;
        done(&changes).then_some((changes, next))
    })
    .await
}

// --- How the text is read ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_in_names_are_decoded() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;
    let escaped = pid_with(&mr("SYN-0401"), &[(5, r"O\S\Synthetic \T\ Co^Al\F\ex"), (7, "19800202"), (8, "M")]);
    let reaction = al1(1, "DA", "7980^Penicillin G^RXNORM", "SV", r"Hives\T\itch");
    let ack =
        send(&mut conn, &owner, &adt("A01", "A01-1", &[escaped, pv1(&bed("7A", "05"), "V401"), reaction]), "AA").await;

    let (family, given, ..) = identity(&owner, "SYN-0401").await;
    assert_eq!((family.as_str(), given.as_str()), ("O^Synthetic & Co", "Al|ex"));
    let display: String = owner
        .query_one(
            "SELECT body->'reactions'->0->'manifestation'->>'display' FROM allergies WHERE patient_id = $1",
            &[&patient_id(&owner, "SYN-0401").await],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(display, "Hives&itch");
    assert!(!ack.contains("Synthetic"), "the ACK holds no value of the message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_repetition_of_pid_3_identifies_the_patient() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;
    // The national number first, the MRN (type MR) second.
    let both = format!("SYN-NHS-0402^^^NHS^NH~{}", mr("SYN-0402"));
    let admitted = pid_with(&both, &[(5, "Synthetic^Rep"), (7, "19900303"), (8, "U")]);
    accepted(&mut conn, &owner, &adt("A01", "A01-1", &[admitted, pv1(&bed("7A", "06"), "V402")])).await;
    let patient = patient_id(&owner, "SYN-0402").await;
    let linked: i64 =
        count(&owner, "SELECT count(*) FROM phi.external_ids WHERE kind = 'patient' AND entity_id = $1", patient).await;
    assert_eq!(linked, 2, "both identifiers are filed");

    // Results naming either identifier alone find the patient.
    accepted(&mut conn, &owner, &results("R-1", "SYN-NHS-0402^^^NHS^NH", "402")).await;
    accepted(&mut conn, &owner, &results("R-2", &mr("SYN-0402"), "403")).await;
    assert_eq!(observations_of(&owner, patient).await, 4);

    // An update naming the patient by the national number alone changes the
    // name and leaves the MRN as it is.
    let renamed = pid_with("SYN-NHS-0402^^^NHS^NH", &[(5, "Synthetic-Again")]);
    send(&mut conn, &owner, &adt("A08", "A08-1", &[renamed]), "AA").await;
    let stored = owner.patient_by_id(patient).await;
    let (mrn, family) = (stored.mrn, stored.family_name);
    // With no identifier of type MR in PID-3 the stored MRN stays.
    assert_eq!((mrn.as_str(), family.as_str()), ("SYN-0402", "Synthetic-Again"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_may_end_with_cr_lf_or_cr_lf() {
    let (_server, owner, feed) = hospital().await;
    let mut conn = feed.connect().await;
    for (n, end) in [(1, "\r"), (2, "\n"), (3, "\r\n")] {
        let mrn = format!("SYN-050{n}");
        let segments = [pid(&mrn), pv1(&bed("7A", &format!("0{n}")), &format!("V50{n}")), penicillin(), peanut()];
        accepted(&mut conn, &owner, &adt_with_ends("A01", &format!("A01-{n}"), &segments, end)).await;
        assert_eq!(placement(&owner, &mrn).await, placed("7A", &format!("0{n}")), "segments ended by {end:?}");
        let patient = patient_id(&owner, &mrn).await;
        assert_eq!(allergies_of(&owner, patient).await, 2, "the last segment is read too, ended by {end:?}");
        assert_eq!(identity(&owner, &mrn).await.5.as_deref(), Some("1 Synthetic Way, Testtown"));
    }
}

// --- Interfaces ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interface_maps_its_wards_and_once_disabled_is_refused() {
    let (_server, owner, feed) = hospital().await;
    let interface = interfaces::add(
        &owner,
        &interfaces::NewInterface {
            name: "synthetic-adt".into(),
            kind: "hl7v2-mllp".into(),
            senders: vec![ADT_APP.into()],
            location_map: vec![("MED7A".into(), "7A".into())],
            silence_minutes: 60,
        },
    )
    .await
    .unwrap();
    let mut conn = feed.connect().await;

    accepted(&mut conn, &owner, &admit("A01-1", "SYN-0601", "MED7A", "03", "V601")).await;
    assert_eq!(placement(&owner, "SYN-0601").await, placed("7A", "03"));
    let (interface_id, point_of_care): (Option<Uuid>, Option<String>) = {
        let r = owner
            .query_one(
                "SELECT m.interface_id, e.point_of_care FROM phi.hl7_messages m, encounters e WHERE m.control_id = 'A01-1'",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(interface_id, Some(interface), "the stored message names its interface");
    assert_eq!(point_of_care.as_deref(), Some("MED7A"), "the visit keeps the sender's own code");

    // A point of care neither mapped nor a location code: AE naming PV1-3.
    let ack = send(&mut conn, &owner, &admit("A01-2", "SYN-0602", "MED9Z", "01", "V602"), "AE").await;
    assert_eq!(err_location(&ack), "PV1^1^3");

    interfaces::disable(&owner, "synthetic-adt").await.unwrap();
    let moved = adt("A02", "A02-1", &[pid("SYN-0601"), pv1(&bed("7B", "09"), "V601")]);
    let ack = send(&mut conn, &owner, &moved, "AR").await;
    assert_eq!(err_location(&ack), "MSH^1^3");
    assert_eq!(placement(&owner, "SYN-0601").await, placed("7A", "03"), "nothing of a refused message is applied");
}

// --- A transfer as the workstations see it ----------------------------------

/// A heart rate taken on the ward by a nurse, as the app records it.
fn heart_rate(patient: Uuid) -> Record {
    let now = Utc::now();
    Record::Observation {
        observation: Observation {
            id: Uuid::now_v7(),
            version: 0,
            updated_at: now,
            deleted: false,
            synthetic: true,
            patient_id: patient,
            category: ObservationCategory::VitalSigns,
            code: Coding::loinc(vitals::HEART_RATE, "Heart rate"),
            panel: None,
            value: ObservationValue::Quantity(Quantity { value: 88.0, unit: "/min".into() }),
            reference_range: None,
            interpretation: None,
            status: ObservationStatus::Final,
            status_reason: None,
            effective_at: now,
            recorded_by: "nurse.synthetic".into(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_moves_the_patient_between_the_wards_workstations_with_a_late_edit() {
    let (server, owner, feed) = hospital().await;
    let on_7a = server.enrol("7A").await;
    let on_7b = server.enrol("7B").await;
    let mut conn = feed.connect().await;
    accepted(&mut conn, &owner, &admit("A01-1", "SYN-0701", "7A", "04", "V701")).await;
    accepted(&mut conn, &owner, &results("R-1", &mr("SYN-0701"), "701")).await;
    let patient = patient_id(&owner, "SYN-0701").await;

    let (_, cursor_7a) = pull_until(&server, &on_7a, None, "the admission on 7A", |changes| {
        common::patient_ids(changes).contains(&patient)
            && changes
                .iter()
                .filter(|c| matches!(c, Change::Observation { observation } if observation.patient_id == patient))
                .count()
                == 2
    })
    .await;
    // A nurse on 7A records a heart rate; the workstation has not pushed it yet.
    let pending = common::new_mutation(None, heart_rate(patient));
    let Record::Observation { observation: pushed } = &pending.record else { unreachable!() };
    let pushed = pushed.id;

    accepted(&mut conn, &owner, &adt("A02", "A02-1", &[pid("SYN-0701"), pv1(&bed("7B", "11"), "V701")])).await;
    assert_eq!(placement(&owner, "SYN-0701").await, placed("7B", "11"));

    // Pushed after the transfer, made before it: within the late-edit window.
    let answer = server.push_ok(&on_7a, vec![pending]).await;
    assert_eq!(answer.results[0].outcome, MutationOutcome::Applied { version: 1 }, "{answer:?}");
    let stored_for: Uuid =
        owner.query_one("SELECT patient_id FROM observations WHERE id = $1", &[&pushed]).await.unwrap().get(0);
    assert_eq!(stored_for, patient);

    // 7A: the patient leaves its scope, and nothing more of the patient comes.
    let (changes_7a, _) = pull_until(&server, &on_7a, Some(&cursor_7a), "the patient removed from 7A", |changes| {
        changes.iter().any(|c| matches!(c, Change::Remove { patient_id } if *patient_id == patient))
    })
    .await;
    assert!(
        !changes_7a.iter().any(|c| !matches!(c, Change::Remove { .. }) && c.patient_id() == patient),
        "7A receives nothing of the patient after the transfer"
    );

    // 7B: the patient with the whole record, the edit made on 7A included.
    let all_observations: Vec<Uuid> = owner
        .query("SELECT id FROM observations WHERE patient_id = $1 ORDER BY id", &[&patient])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(all_observations.len(), 3);
    // Polled until the pushed row is inside the feed's horizon too.
    let (changes_7b, _) = pull_until(&server, &on_7b, None, "the patient on 7B with the record", |changes| {
        common::patient_ids(changes).contains(&patient)
            && changes.iter().any(|c| matches!(c, Change::Observation { observation } if observation.id == pushed))
    })
    .await;
    let arrived = changes_7b
        .iter()
        .find_map(|c| match c {
            Change::Patient { patient: p } if p.id == patient => Some(p.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((arrived.location.as_deref(), arrived.bed.as_deref()), (Some("7B"), Some("11")));
    let mut observations: Vec<Uuid> = changes_7b
        .iter()
        .filter_map(|c| match c {
            Change::Observation { observation } if observation.patient_id == patient => Some(observation.id),
            _ => None,
        })
        .collect();
    observations.sort();
    assert_eq!(observations, all_observations, "every result and the heart rate pushed from 7A");
    let allergies =
        changes_7b.iter().filter(|c| matches!(c, Change::Allergy { allergy } if allergy.patient_id == patient)).count();
    assert_eq!(allergies, 2);
}
