//! Identifiers encrypted at rest in the central database (server/src/keys):
//! a dump and every file of the cluster's data directory hold no synthetic
//! name, date of birth, phone, email or MRN; a ciphertext moved to another
//! row or column fails its integrity check; lookups by MRN, by a feed's
//! identifier and by family name plus date of birth still work, and the pull
//! delivers the values loaded; a missing, unreadable or wrong key-encryption
//! key stops `serve` before anything is written. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use axum::http::{Method, StatusCode};
use chrono::{DurationRound, TimeDelta, Utc};
use common::TestServer;
use serde_json::json;
use wardbook_protocol::api::{Change, Role};
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};
use wardbook_protocol::{Environment, Patient};
use wardbook_server::keys::KeyError;
use wardbook_server::{admin, serve};

fn ward(seed: u64, patients: usize, mrn_prefix: &str) -> SyntheticWard {
    let anchor = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap();
    let mut config = SyntheticConfig::new(seed, patients, anchor);
    config.days = 1;
    let mut ward = generate(&config);
    for p in &mut ward.patients {
        p.mrn = p.mrn.replacen("SYN-", mrn_prefix, 1);
    }
    ward
}

/// Loads one ward directly (as `synth` does) and one over HL7 (raw
/// messages, the senders' identifiers); returns every patient loaded.
async fn load(server: &TestServer) -> Vec<Patient> {
    let keys = server.state.keys.get().await.unwrap();
    let direct = ward(11, 8, "SYN-D");
    admin::load_ward(&mut server.owner().await, &keys, Environment::Test, &direct).await.unwrap();
    let fed = ward(12, 6, "SYN-H");
    let text = wardbook_server::hl7::emit::ward_as_hl7(&fed, Utc::now());
    let report = wardbook_server::hl7::messages::import(&server.state.pool, &server.state.keys, &text).await;
    assert_eq!(report.accepted, report.messages, "every synthetic HL7 message is accepted: {report:?}");
    direct.patients.into_iter().chain(fed.patients).collect()
}

/// What must never appear in clear: names, dates of birth (ISO and HL7's
/// YYYYMMDD), phones, emails, MRNs. Values shorter than five bytes are left
/// out: ciphertext is random, and a short string turns up in it by chance.
fn needles(patients: &[Patient]) -> Vec<String> {
    let mut set = BTreeSet::new();
    for p in patients {
        set.insert(p.given_name.clone());
        set.insert(p.family_name.clone());
        set.insert(p.birth_date.to_string());
        set.insert(p.birth_date.format("%Y%m%d").to_string());
        set.insert(p.mrn.clone());
        set.extend(p.phone.clone());
        set.extend(p.email.clone());
    }
    set.into_iter().filter(|n| n.len() >= 5).collect()
}

/// How often each needle occurs in `bytes`.
fn occurrences(needles: &[String], bytes: &[u8], counts: &mut [u64]) {
    let finder = aho_corasick::AhoCorasick::new(needles).unwrap();
    for m in finder.find_overlapping_iter(bytes) {
        counts[m.pattern().as_usize()] += 1;
    }
}

/// Occurrences over every file under `dir` (heap, indexes, WAL, ...).
fn scan_dir(needles: &[String], dir: &Path) -> Vec<u64> {
    let mut counts = vec![0; needles.len()];
    let mut stack = vec![dir.to_owned()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                // A file can vanish between listing and reading (a WAL segment recycled).
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    occurrences(needles, &bytes, &mut counts);
                    files += 1;
                }
            }
        }
    }
    assert!(files > 100, "the data directory was scanned ({files} files)");
    counts
}

fn dump(server: &TestServer) -> Vec<u8> {
    let cluster = server.db.cluster().expect("the test database has its own cluster");
    let out = std::process::Command::new(cluster.program("pg_dump"))
        .arg(format!("--dbname={}", server.owner_url))
        .output()
        .unwrap();
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.len() > 10_000, "the dump has the schema and the rows");
    out.stdout
}

/// The needles whose count went up between `before` and `after`.
fn grown(needles: &[String], before: &[u64], after: &[u64]) -> Vec<String> {
    needles.iter().zip(before.iter().zip(after)).filter(|(_, (b, a))| a > b).map(|(n, _)| n.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_and_the_data_directory_hold_no_identifier_in_clear() {
    let server = TestServer::start().await;
    let data_dir = server.db.cluster().unwrap().data_dir().to_owned();
    // The values are known before they are loaded: the generators are seeded.
    let expected: Vec<Patient> =
        ward(11, 8, "SYN-D").patients.into_iter().chain(ward(12, 6, "SYN-H").patients).collect();
    let needles = needles(&expected);
    assert!(needles.len() > 50, "names, dates, phones, emails and MRNs to look for: {}", needles.len());
    // What the catalogs and an empty database hold by themselves.
    server.owner().await.batch_execute("CHECKPOINT").await.unwrap();
    let dir_before = scan_dir(&needles, &data_dir);
    let mut dump_before = vec![0; needles.len()];
    occurrences(&needles, &dump(&server), &mut dump_before);

    let loaded = load(&server).await;
    assert_eq!(needles, self::needles(&loaded), "the values loaded are the ones looked for");
    let owner = server.owner().await;
    let stored: i64 = owner.query_one("SELECT count(*) FROM phi.hl7_messages", &[]).await.unwrap().get(0);
    assert!(stored > 6, "raw HL7 messages are stored ({stored})");
    owner.batch_execute("CHECKPOINT").await.unwrap();

    let mut dump_after = vec![0; needles.len()];
    occurrences(&needles, &dump(&server), &mut dump_after);
    assert_eq!(grown(&needles, &dump_before, &dump_after), Vec::<String>::new(), "pg_dump shows identifiers");
    let dir_after = scan_dir(&needles, &data_dir);
    assert_eq!(grown(&needles, &dir_before, &dir_after), Vec::<String>::new(), "the data directory shows identifiers");

    // The scan can fail: the same search finds a value written in clear.
    owner.batch_execute("CREATE TABLE leak_probe (t text)").await.unwrap();
    owner
        .execute("INSERT INTO leak_probe VALUES ($1)", &[&expected[0].email.clone().unwrap_or(expected[0].mrn.clone())])
        .await
        .unwrap();
    owner.batch_execute("CHECKPOINT").await.unwrap();
    assert_eq!(grown(&needles, &dir_after, &scan_dir(&needles, &data_dir)).len(), 1, "a clear value is found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ciphertext_moved_to_another_row_or_column_fails_its_integrity_check() {
    let server = TestServer::start().await;
    let loaded = load(&server).await;
    let keys = server.state.keys.get().await.unwrap();
    let mut owner = server.owner().await;
    let (a, b) = (
        admin::patient_id(&owner, &keys, &loaded[0].mrn).await.unwrap(),
        admin::patient_id(&owner, &keys, &loaded[1].mrn).await.unwrap(),
    );
    assert_eq!(admin::patient(&mut owner, &keys, a).await.unwrap().unwrap().family_name, loaded[0].family_name);

    // A sender's identifier moved to another identifier's row: a rotation,
    // which reads every row, stops at it and changes nothing.
    owner
        .batch_execute(
            "UPDATE phi.external_ids e SET value = (SELECT value FROM phi.external_ids o
                                                     WHERE o.kind = 'patient' AND o.value_index <> e.value_index LIMIT 1)
              WHERE (e.kind, e.system, e.value_index) = (SELECT kind, system, value_index FROM phi.external_ids
                                                          WHERE kind = 'patient' ORDER BY value_index LIMIT 1)",
        )
        .await
        .unwrap();
    let kek = server.state.keys.kek().unwrap();
    let new_key = wardbook_server::keys::store::rotate(&mut owner, kek).await.unwrap();
    server.state.keys.reload().await.unwrap();
    let err = wardbook_server::keys::reencrypt::run_to_end(&server.state).await.unwrap_err();
    assert!(
        matches!(err, wardbook_server::Error::Keys(KeyError::Integrity { column: "phi.external_ids.value" })),
        "{err:?}"
    );
    let moved: i64 = owner
        .query_one("SELECT count(*) FROM phi.patient_identities WHERE key_id = $1", &[&new_key])
        .await
        .unwrap()
        .get(0);
    assert_eq!(moved, 0, "the failed batch changed nothing");

    // Another patient's family name copied into this row.
    owner
        .execute(
            "UPDATE phi.patient_identities SET family_name = (SELECT family_name FROM phi.patient_identities WHERE patient_id = $2)
              WHERE patient_id = $1",
            &[&a, &b],
        )
        .await
        .unwrap();
    let err = admin::patient(&mut owner, &keys, a).await.unwrap_err();
    assert!(
        matches!(
            err,
            wardbook_server::Error::Keys(KeyError::Integrity { column: "phi.patient_identities.family_name" })
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "integrity_error");
    let message = err.to_string();
    assert!(!message.contains(&loaded[0].family_name) && !message.contains(&loaded[1].family_name), "{message}");

    // This row's own given name moved into its family name.
    owner
        .execute("UPDATE phi.patient_identities SET family_name = given_name WHERE patient_id = $1", &[&b])
        .await
        .unwrap();
    assert!(matches!(
        admin::patient(&mut owner, &keys, b).await.unwrap_err(),
        wardbook_server::Error::Keys(KeyError::Integrity { .. })
    ));
    // The untouched patients still read.
    let c = admin::patient_id(&owner, &keys, &loaded[2].mrn).await.unwrap();
    assert_eq!(admin::patient(&mut owner, &keys, c).await.unwrap().unwrap().family_name, loaded[2].family_name);
}

/// `POST /v1/break-glass` as a clinician on a workstation.
async fn break_glass(
    server: &TestServer,
    token: &str,
    device: &common::Device,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v1/break-glass")
        .header(axum::http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(wardbook_server::auth::DEVICE_HEADER, &device.credential)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    server.send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_by_mrn_feed_identifier_and_name_with_birth_date_work_and_the_pull_delivers_the_values() {
    let server = TestServer::start().await;
    let loaded = load(&server).await;
    let keys = server.state.keys.get().await.unwrap();
    let owner = server.owner().await;

    // By MRN.
    for p in &loaded {
        let id = admin::patient_id(&owner, &keys, &p.mrn).await.unwrap();
        let stored = admin::patient(&mut server.owner().await, &keys, id).await.unwrap().unwrap();
        assert_eq!((&stored.mrn, &stored.family_name, stored.birth_date), (&p.mrn, &p.family_name, p.birth_date));
    }
    // By the feed's identifier: results (ORU^R01) found their patients by PID-3.
    let fed = &loaded[8];
    let fed_id = admin::patient_id(&owner, &keys, &fed.mrn).await.unwrap();
    let results: i64 =
        owner.query_one("SELECT count(*) FROM observations WHERE patient_id = $1", &[&fed_id]).await.unwrap().get(0);
    assert!(results > 0, "the HL7 results reached the patient the ADT created");

    // The pull delivers the values loaded, decrypted in the service.
    let device = server.enrol("Ward 7A").await;
    let (changes, _) = server.pull_all(&device, None, 1000).await;
    let pulled: Vec<&Patient> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Patient { patient } => Some(patient),
            _ => None,
        })
        .collect();
    assert!(!pulled.is_empty());
    for p in pulled {
        let source = loaded.iter().find(|l| l.mrn == p.mrn).expect("a loaded patient");
        assert_eq!(
            (&p.given_name, &p.family_name, p.birth_date, &p.phone, &p.email, &p.address),
            (&source.given_name, &source.family_name, source.birth_date, &source.phone, &source.email, &source.address)
        );
    }

    // Break-the-glass by family name and date of birth (case and spacing ignored).
    let target = &loaded[1];
    server.add_user("nurse.keys.synthetic", &[Role::Clinician]).await;
    let token = server.login(&device, "nurse.keys.synthetic").await;
    let reason = "Synthetic test: patient arrived without an MRN band";
    let body = json!({
        "family_name": format!("  {}  ", target.family_name.to_uppercase()),
        "birth_date": target.birth_date,
        "reason": reason,
    });
    let (status, answer) = break_glass(&server, &token, &device, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["patient"]["mrn"], json!(target.mrn));
    let wrong = json!({ "family_name": target.family_name, "birth_date": "1900-01-01", "reason": reason });
    let (status, _) = break_glass(&server, &token, &device, wrong).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_unreadable_or_wrong_key_encryption_key_stops_serve_before_anything_is_written() {
    let server = TestServer::start().await;
    server.synth(3, 4).await; // keys exist now, under the throwaway key of the tests
    let owner = server.owner().await;
    let snapshot = || async {
        owner
            .query_one(
                "SELECT (SELECT count(*) FROM data_keys), (SELECT count(*) FROM patients),
                        (SELECT string_agg(kek_fingerprint || coalesce(encode(wrapped, 'hex'), ''), ',' ORDER BY id) FROM data_keys)",
                &[],
            )
            .await
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1), r.get::<_, String>(2)))
            .unwrap()
    };
    let before = snapshot().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("kek-missing");
    let malformed = dir.path().join("kek-malformed");
    std::fs::write(&malformed, "not a key\n").unwrap();
    let wrong = dir.path().join("kek-wrong");
    wardbook_server::keys::write_new_kek(&wrong).unwrap();

    for (file, what) in [(&missing, "does not exist"), (&malformed, "does not hold a key"), (&wrong, "is not the one")]
    {
        let mut settings = server.settings.clone();
        settings.kek_file = Some(file.clone());
        let refused = serve::start(settings).await.expect_err("serve refuses");
        let message = refused.to_string();
        assert!(message.contains(&file.display().to_string()), "names the file: {message}");
        assert!(message.contains(what), "{message}");
        assert!(matches!(refused, serve::ServeError::Keys(_)), "{refused:?}");
    }
    // Production with no key configured: refused, with what to do.
    let mut settings = server.settings.clone();
    settings.environment = Environment::Production;
    settings.tls = None;
    let state = wardbook_server::AppState::new(settings).unwrap();
    let message = state.keys.kek().unwrap_err().to_string();
    assert!(message.contains("WARDBOOK_KEK_FILE") && message.contains("keys init"), "{message}");
    assert_eq!(snapshot().await, before, "nothing was written");
}
