//! Rotation of the data key under a running `wardbook-server serve`,
//! killed (SIGKILL) at seeded points: each start resumes, and the end has
//! every row under the new key, the old key retired, and every value as it
//! was. And a database from before encryption: its clear rows are found by
//! MRN at once, converted in the background, and named by health until then.
//! Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::TestServer;
use rand::{Rng, SeedableRng};
use wardbook_protocol::api::EncryptionStatus;
use wardbook_protocol::synthetic::{SyntheticConfig, generate};
use wardbook_protocol::{Environment, Patient};
use wardbook_server::admin;
use wardbook_server::keys::store;

/// The seed of the kill points: `WARDBOOK_TEST_SEED` to replay a run
/// (printed, so that a failure can be replayed).
#[allow(clippy::print_stdout)]
fn seed() -> u64 {
    let seed = std::env::var("WARDBOOK_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("kill points from seed {seed} (WARDBOOK_TEST_SEED={seed} replays them)");
    seed
}

/// `wardbook-server serve` on the test database, re-encrypting in small,
/// paced batches so that a kill lands in the middle.
fn serve(server: &TestServer, kek: &Path, dir: &Path) -> Child {
    let config = dir.join("server.toml");
    std::fs::write(&config, "[policy]\nkey_rotation_batch_rows = 3\nkey_rotation_pause_ms = 25\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_wardbook-server"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("WARDBOOK_ENV", "test")
        .env("WARDBOOK_DATABASE_URL", &server.service_url)
        .env("WARDBOOK_LISTEN", "127.0.0.1:0")
        .env("WARDBOOK_KEK_FILE", kek)
        .env("WARDBOOK_SERVER_CONFIG", &config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wardbook-server serve starts")
}

async fn status(server: &TestServer) -> EncryptionStatus {
    store::status(&server.owner().await, false).await.unwrap()
}

/// Polls until `done` holds of the status, or fails after `limit`.
async fn until(
    server: &TestServer,
    limit: Duration,
    what: &str,
    done: impl Fn(&EncryptionStatus) -> bool,
) -> EncryptionStatus {
    let started = Instant::now();
    loop {
        let s = status(server).await;
        if done(&s) {
            return s;
        }
        assert!(started.elapsed() < limit, "{what}: still {s:?} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A ward loaded directly and one over HL7 (raw messages, the senders'
/// identifiers): rows in every sealed table.
async fn load(server: &TestServer) -> Vec<Patient> {
    let keys = server.state.keys.get().await.unwrap();
    let direct = generate(&SyntheticConfig::new(21, 10, Utc::now()));
    admin::load_ward(&mut server.owner().await, &keys, Environment::Test, &direct).await.unwrap();
    let mut fed = generate(&SyntheticConfig::new(22, 6, Utc::now()));
    for p in &mut fed.patients {
        p.mrn = p.mrn.replacen("SYN-", "SYN-H", 1);
    }
    let text = wardbook_server::hl7::emit::ward_as_hl7(&fed, Utc::now());
    let report = wardbook_server::hl7::messages::import(&server.state.pool, &server.state.keys, &text).await;
    assert_eq!(report.accepted, report.messages, "{report:?}");
    admin::patients(&mut server.owner().await, &keys).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_killed_at_seeded_points_resumes_and_ends_with_every_value_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    wardbook_server::keys::write_new_kek(&kek).unwrap();
    let server = TestServer::start_with(Environment::Test, |s| s.kek_file = Some(kek.clone())).await;
    let before = load(&server).await;
    let old = status(&server).await;
    let old_key = old.current_key_id.unwrap();
    assert_eq!((old.clear_rows, old.pending_rows), (0, 0));
    let total: i64 = old.keys.iter().map(|k| k.rows).sum();
    assert!(total > 60, "rows in the sealed tables: {total}");

    let new_key = store::rotate(&mut server.owner().await, server.state.keys.kek().unwrap()).await.unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(status(&server).await.pending_rows, total, "every row waits for the new key");

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed());
    let mut points: Vec<i64> = (0..3).map(|_| rng.random_range(1..total - 1)).collect();
    points.sort();
    for point in points {
        let mut child = serve(&server, &kek, dir.path());
        // Killed once at least `point` rows are under the new key.
        let reached =
            until(&server, Duration::from_secs(60), "the service re-encrypts", |s| total - s.pending_rows >= point)
                .await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let after = status(&server).await;
        assert!(after.pending_rows <= reached.pending_rows, "nothing moved back");
        let rows: i64 = after.keys.iter().map(|k| k.rows).sum::<i64>() + after.clear_rows;
        assert_eq!(rows, total, "no row lost or doubled by the kill");
    }
    let mut child = serve(&server, &kek, dir.path());
    let end = until(&server, Duration::from_secs(120), "the rotation ends and the old key is retired", |s| {
        s.pending_rows == 0 && s.keys.iter().any(|k| k.key_id == old_key && k.state == "retired")
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(end.current_key_id, Some(new_key));
    assert_eq!(end.keys.iter().find(|k| k.key_id == new_key).unwrap().rows, total);
    let wrapped: Option<Vec<u8>> = server
        .owner()
        .await
        .query_one("SELECT wrapped FROM data_keys WHERE id = $1", &[&old_key])
        .await
        .unwrap()
        .get(0);
    assert_eq!(wrapped, None, "the retired key is destroyed");

    // Every value reads as before; and every ciphertext of every table opens
    // (a second rotation, run here, reads them all).
    server.state.keys.reload().await.unwrap();
    let keys = server.state.keys.get().await.unwrap();
    assert_eq!(admin::patients(&mut server.owner().await, &keys).await.unwrap(), before);
    store::rotate(&mut server.owner().await, server.state.keys.kek().unwrap()).await.unwrap();
    server.state.keys.reload().await.unwrap();
    let moved = wardbook_server::keys::reencrypt::run_to_end(&server.state).await.unwrap();
    assert_eq!(moved, u64::try_from(total).unwrap());
    for p in &before {
        let keys = server.state.keys.get().await.unwrap();
        assert_eq!(admin::patient_id(&server.owner().await, &keys, &p.mrn).await.unwrap(), p.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_encryption_is_converted_and_health_says_so_until_then() {
    let server = TestServer::start().await;
    let loaded = load(&server).await;
    let owner = server.owner().await;
    // Back to how migration V7 leaves an existing database: clear bytes, no
    // key (the patients' versions as they were: this is not an edit).
    owner.batch_execute("SET wardbook.reencrypt = 'on'").await.unwrap();
    for p in &loaded {
        owner
            .execute(
                "UPDATE phi.patient_identities SET key_id = NULL, mrn_index = NULL, name_birth_index = NULL,
                        mrn = convert_to($2, 'UTF8'), given_name = convert_to($3, 'UTF8'),
                        family_name = convert_to($4, 'UTF8'), birth_date = convert_to($5, 'UTF8'),
                        phone = convert_to($6, 'UTF8'), email = convert_to($7, 'UTF8'), address = convert_to($8, 'UTF8')
                  WHERE patient_id = $1",
                &[
                    &p.id,
                    &p.mrn,
                    &p.given_name,
                    &p.family_name,
                    &p.birth_date.to_string(),
                    &p.phone,
                    &p.email,
                    &p.address,
                ],
            )
            .await
            .unwrap();
    }
    let health = wardbook_server::health::check(&server.state).await;
    let encryption = health.database.encryption.clone().unwrap();
    assert_eq!(encryption.clear_rows, i64::try_from(loaded.len()).unwrap());
    let finding = health.findings.iter().find(|f| f.code == "clear_text_rows").expect("health names clear rows");
    assert!(finding.message.contains(&loaded.len().to_string()), "{}", finding.message);

    // Found by MRN and read while still clear.
    let keys = server.state.keys.get().await.unwrap();
    let id = admin::patient_id(&owner, &keys, &loaded[3].mrn).await.unwrap();
    assert_eq!(admin::patient(&mut server.owner().await, &keys, id).await.unwrap().unwrap(), loaded[3]);

    // The service converts them (here in the foreground, as `keys reencrypt`).
    wardbook_server::keys::reencrypt::run_to_end(&server.state).await.unwrap();
    let health = wardbook_server::health::check(&server.state).await;
    assert_eq!(health.database.encryption.unwrap().clear_rows, 0);
    assert!(!health.findings.iter().any(|f| f.code == "clear_text_rows" || f.code == "reencryption_in_progress"));
    assert_eq!(admin::patients(&mut server.owner().await, &keys).await.unwrap(), loaded);
    let clear: i64 = owner
        .query_one("SELECT count(*) FROM phi.patient_identities WHERE key_id IS NULL OR mrn_index IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(clear, 0);
    // Found by family name and date of birth through the index now.
    let p = &loaded[0];
    let found = owner
        .query_one(
            "SELECT count(*) FROM phi.patient_identities WHERE name_birth_index = $1",
            &[&keys.name_birth_index(&p.family_name, p.birth_date)],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(found >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_seven_keeps_the_clear_rows_of_version_six_readable_until_the_service_converts_them() {
    use wardbook_test_support::TestDatabase;
    let db = tokio::task::spawn_blocking(TestDatabase::new).await.unwrap().unwrap();
    let mut owner = common::connect(db.url()).await;
    wardbook_server::db::migrate_until(&mut owner, 6).await.unwrap();
    // A patient, a sender's identifier and a raw message as version 6 stored them: in clear.
    let id = uuid::Uuid::now_v7();
    owner
        .batch_execute(&format!(
            "INSERT INTO patients (id, sex, source_system, synthetic) VALUES ('{id}', 'female', 'synthetic', true);
             INSERT INTO phi.patient_identities (patient_id, mrn, given_name, family_name, birth_date, phone, email)
                  VALUES ('{id}', 'SYN-V6-001', 'Olwen', 'Synthetica', '1961-07-14', '555-0142', 'olwen.v6@synthetic.test');
             INSERT INTO phi.external_ids (kind, system, value, entity_id)
                  VALUES ('patient', 'urn:wardbook:hl7v2:mrn:SYNTH', 'SYN-V6-001', '{id}');
             INSERT INTO phi.hl7_messages (sending_application, sending_facility, control_id, message_type, status, raw, parsed)
                  VALUES ('SYNTH', 'SYNTH', 'V6-1', 'ADT^A01', 'processed', 'MSH|^~\\&|SYNTH|SYNTH|||20260101||ADT^A01|V6-1|P|2.5.1', '{{}}');"
        ))
        .await
        .unwrap();
    wardbook_server::db::migrate(db.url(), None).await.unwrap();
    let kind: String = owner
        .query_one("SELECT data_type FROM information_schema.columns WHERE table_schema = 'phi' AND table_name = 'patient_identities' AND column_name = 'family_name'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind, "bytea");

    let role = format!("wb_app_{}", db.name());
    db.psql(&format!("CREATE ROLE \"{role}\" LOGIN PASSWORD 'synthetic-test-only' IN ROLE wardbook_service")).unwrap();
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    let service_url = format!(
        "postgres://{role}:synthetic-test-only@{}/{}",
        wardbook_server::db::describe_target(&config),
        config.get_dbname().unwrap()
    );
    let state = wardbook_server::AppState::new(wardbook_server::Settings::for_tests(service_url)).unwrap();
    let keys = state.keys.get().await.unwrap();
    let health = wardbook_server::health::check(&state).await;
    assert_eq!(health.database.encryption.as_ref().unwrap().clear_rows, 3, "the patient, the identifier, the message");
    assert!(health.findings.iter().any(|f| f.code == "clear_text_rows"));

    // Readable and found by MRN and by the sender's identifier while still
    // clear; the sender filing that identifier again adds no second copy.
    assert_eq!(admin::patient_id(&owner, &keys, "SYN-V6-001").await.unwrap(), id);
    {
        let tx = owner.transaction().await.unwrap();
        let system = "urn:wardbook:hl7v2:mrn:SYNTH";
        assert_eq!(
            wardbook_server::ingest::linked(&tx, &keys, "patient", system, "SYN-V6-001").await.unwrap(),
            Some(id)
        );
        wardbook_server::ingest::link(&tx, &keys, "patient", system, "SYN-V6-001", id).await.unwrap();
        tx.commit().await.unwrap();
    }
    let copies: i64 = owner.query_one("SELECT count(*) FROM phi.external_ids", &[]).await.unwrap().get(0);
    assert_eq!(copies, 1, "the identifier is filed once");
    let before = admin::patient(&mut owner, &keys, id).await.unwrap().unwrap();
    assert_eq!((before.family_name.as_str(), before.phone.as_deref()), ("Synthetica", Some("555-0142")));

    wardbook_server::keys::reencrypt::run_to_end(&state).await.unwrap();
    let health = wardbook_server::health::check(&state).await;
    let encryption = health.database.encryption.unwrap();
    assert_eq!((encryption.clear_rows, encryption.pending_rows), (0, 0));
    assert_eq!(admin::patient(&mut owner, &keys, id).await.unwrap().unwrap(), before, "same values, same version");
    assert_eq!(admin::patient_id(&owner, &keys, "SYN-V6-001").await.unwrap(), id);
    let leaked: i64 = owner
        .query_one(
            "SELECT count(*) FROM phi.patient_identities WHERE position(convert_to('Synthetica', 'UTF8') IN family_name) > 0",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0, "the clear value is gone from the live row");
}
