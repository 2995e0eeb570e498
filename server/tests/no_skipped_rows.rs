//! The change feed never skips a row, even when a transaction that wrote
//! early commits late (the classic failure of feeds ordered by a sequence or
//! a timestamp assigned at write time).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::TestServer;
use rand::{Rng, SeedableRng};
use uuid::Uuid;
use wardbook_protocol::api::Change;

/// The in-scope patients of a location.
async fn scope(server: &TestServer, location: &str) -> Vec<Uuid> {
    let id = server.location_id(location).await;
    server
        .owner()
        .await
        .query("SELECT patient_id FROM patient_locations WHERE location_id = $1 AND active ORDER BY 1", &[&id])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_commits_late_still_reaches_the_device() {
    let server = TestServer::start().await;
    server.synth(10, 11).await;
    let device = server.enrol("Ward 7A").await;
    let patients = scope(&server, "Ward 7A").await;
    assert!(patients.len() >= 2);
    let (_, cursor) = server.pull_all(&device, None, 100).await;

    // Writer 1 changes a patient and stays open.
    let mut early = server.service().await;
    let tx1 = early.transaction().await.unwrap();
    tx1.execute("UPDATE patients SET preferred_language = 'fr' WHERE id = $1", &[&patients[0]]).await.unwrap();
    // Writer 2 starts later, changes another patient and commits first.
    let late = server.service().await;
    late.execute("UPDATE patients SET preferred_language = 'de' WHERE id = $1", &[&patients[1]]).await.unwrap();

    // The device pulls to the end while writer 1 is still open.
    let (during, cursor) = server.pull_all(&device, Some(&cursor), 100).await;
    assert!(!common::patient_ids(&during).contains(&patients[0]), "an uncommitted change cannot have been sent");

    tx1.commit().await.unwrap();
    // Pull again: the late commit arrives (and writer 2's change, if it was
    // held back behind writer 1's horizon).
    let (after, _) = common::eventually(Duration::from_secs(30), "the late commit in the feed", || {
        let (cursor, first) = (cursor.clone(), patients[0]);
        let (server, device) = (&server, &device);
        async move {
            let (changes, next) = server.pull_all(device, Some(&cursor), 100).await;
            let ids = common::patient_ids(&changes);
            ids.contains(&first).then_some((changes, next))
        }
    })
    .await;
    let mut seen: HashSet<Uuid> = common::patient_ids(&during).into_iter().collect();
    seen.extend(common::patient_ids(&after));
    assert!(seen.contains(&patients[0]) && seen.contains(&patients[1]), "both changes reached the device");
    let language = after.iter().find_map(|c| match c {
        Change::Patient { patient } if patient.id == patients[0] => patient.preferred_language.clone(),
        _ => None,
    });
    assert_eq!(language.as_deref(), Some("fr"));
}

/// Several writers commit in random order while a reader pulls repeatedly;
/// at the end the reader's copy equals the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_in_random_commit_order_never_lose_a_row() {
    let server = TestServer::start().await;
    server.synth(16, 5).await;
    let device = server.enrol("Ward 7A").await;
    let patients = scope(&server, "Ward 7A").await;

    // The reader's copy: patient id -> (version, language).
    let mut copy: BTreeMap<Uuid, (i64, Option<String>)> = BTreeMap::new();
    let apply = |copy: &mut BTreeMap<Uuid, (i64, Option<String>)>, changes: Vec<Change>| {
        for c in changes {
            if let Change::Patient { patient } = c {
                let entry = copy.entry(patient.id).or_insert((0, None));
                if patient.version >= entry.0 {
                    *entry = (patient.version, patient.preferred_language.clone());
                }
            }
        }
    };
    let (initial, mut cursor) = server.pull_all(&device, None, 7).await;
    apply(&mut copy, initial);

    let writers: Vec<_> = (0..6u64)
        .map(|w| {
            let url = server.service_url.clone();
            let patients = patients.clone();
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(w);
                let mut client = common::connect(&url).await;
                for round in 0..15 {
                    let tx = client.transaction().await.unwrap();
                    let count = rng.random_range(1..=3);
                    let mut picked: Vec<Uuid> =
                        (0..count).map(|_| patients[rng.random_range(0..patients.len())]).collect();
                    // Locking in id order avoids deadlocks between writers.
                    picked.sort();
                    picked.dedup();
                    for p in picked {
                        let lang = format!("w{w}r{round}");
                        tx.execute("UPDATE patients SET preferred_language = $2 WHERE id = $1", &[&p, &lang])
                            .await
                            .unwrap();
                    }
                    // Hold the transaction open for a random while, so commit order differs from start order.
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();

    let mut rounds = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let (changes, next) = server.pull_all(&device, Some(&cursor), 5).await;
        apply(&mut copy, changes);
        cursor = next;
        rounds += 1;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(rounds > 1, "the reader pulled while writers were writing");

    let truth: BTreeMap<Uuid, (i64, Option<String>)> = server
        .owner()
        .await
        .query("SELECT id, version, preferred_language FROM patients WHERE id = ANY($1)", &[&patients])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    // Every committed change is visible once the horizon passes the last writer.
    let copy = common::eventually(Duration::from_secs(30), "the reader to catch up", || {
        let mut copy = copy.clone();
        let (cursor, server, device, truth) = (cursor.clone(), &server, &device, &truth);
        async move {
            let (changes, _) = server.pull_all(device, Some(&cursor), 5).await;
            for c in changes {
                if let Change::Patient { patient } = c {
                    let entry = copy.entry(patient.id).or_insert((0, None));
                    if patient.version >= entry.0 {
                        *entry = (patient.version, patient.preferred_language.clone());
                    }
                }
            }
            (copy == *truth).then_some(copy)
        }
    })
    .await;
    assert_eq!(copy, truth);
}
