//! The central audit store: chains verified on arrival (in order, gapless,
//! linked, unaltered), all-or-nothing uploads, security findings, the privacy
//! officer's reports, append-only storage, and re-verification. Synthetic
//! identifiers only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{AuditChain, Device, TestServer, at};
use serde_json::Value;
use uuid::Uuid;
use wardbook_protocol::api::{AuditReportPage, AuditUploadResponse, Role};
use wardbook_protocol::{AuditEvent, AuditSubtype};

/// A location and one enrolled workstation on it.
async fn server_with_device() -> (TestServer, Device) {
    let server = TestServer::start().await;
    wardbook_server::admin::location_add(&server.service().await, "W1", "Synthetic Ward One").await.unwrap();
    let device = server.enrol("W1").await;
    (server, device)
}

fn accepted(status: StatusCode, body: &Value) -> AuditUploadResponse {
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body.clone()).unwrap()
}

/// Asserts a 409 with `code` at `position`.
fn refused(status: StatusCode, body: &Value, code: &str, position: i64) {
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["position"], position, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains(&position.to_string()),
        "the message names the position: {body}"
    );
}

/// The findings recorded for a device, as (kind, position), in order.
async fn findings(server: &TestServer, device: Uuid) -> Vec<(String, Option<i64>)> {
    server
        .owner()
        .await
        .query("SELECT kind, position FROM security_findings WHERE device_id = $1 ORDER BY id", &[&device])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn summary(events: &[AuditEvent]) -> Vec<(i64, Uuid, String)> {
    events.iter().map(|e| (e.sequence, e.id, e.hash.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_order_chain_is_stored_once_and_repeats_change_nothing() {
    let (server, device) = server_with_device().await;
    let patient = Uuid::new_v4();
    let mut chain = AuditChain::new(device.id);
    let events = chain.take(5, "synthetic.user", Some(patient), 0);

    let (status, body) = server.upload_audit(&device, &events[..3]).await;
    assert_eq!(accepted(status, &body), AuditUploadResponse { highest_sequence: 3, stored: 3 });
    assert_eq!(server.stored_audit(device.id).await, summary(&events[..3]));

    let (status, body) = server.upload_audit(&device, &events[..3]).await;
    assert_eq!(
        accepted(status, &body),
        AuditUploadResponse { highest_sequence: 3, stored: 0 },
        "a repeat stores nothing"
    );
    assert_eq!(server.stored_audit(device.id).await.len(), 3);

    // An overlapping batch (2..5): only 4 and 5 are new.
    let (status, body) = server.upload_audit(&device, &events[1..]).await;
    assert_eq!(accepted(status, &body), AuditUploadResponse { highest_sequence: 5, stored: 2 });
    assert_eq!(server.stored_audit(device.id).await, summary(&events));

    // An empty upload reports where the server is.
    let (status, body) = server.upload_audit(&device, &[]).await;
    assert_eq!(accepted(status, &body), AuditUploadResponse { highest_sequence: 5, stored: 0 });
    assert!(findings(&server, device.id).await.is_empty(), "no finding for a good chain");

    // Every column is stored as sent.
    let token = officer_token(&server, &device).await;
    let page = report(&server, &token, &format!("patient_id={patient}&sort=asc")).await;
    assert_eq!(page.events, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_is_refused_whole_and_recorded() {
    let (server, device) = server_with_device().await;
    let mut chain = AuditChain::new(device.id);
    let events = chain.take(6, "synthetic.user", None, 0);
    let (status, body) = server.upload_audit(&device, &events[..3]).await;
    accepted(status, &body);

    // 5..6 without 4.
    let (status, body) = server.upload_audit(&device, &events[4..]).await;
    refused(status, &body, "audit_gap", 4);
    assert_eq!(server.stored_audit(device.id).await, summary(&events[..3]), "nothing of the batch is stored");
    assert_eq!(findings(&server, device.id).await, vec![("audit_gap".to_owned(), Some(4))]);

    // 4 then 6: 4 alone would continue the chain, but the batch is all or nothing.
    let batch = [events[3].clone(), events[5].clone()];
    let (status, body) = server.upload_audit(&device, &batch).await;
    refused(status, &body, "audit_gap", 5);
    assert_eq!(server.stored_audit(device.id).await.len(), 3, "the good event before the gap is not kept either");

    // Out of order within a batch is a gap too.
    let batch = [events[4].clone(), events[3].clone()];
    let (status, body) = server.upload_audit(&device, &batch).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "audit_gap");

    // The device uploads from 4 on, in order: accepted.
    let (status, body) = server.upload_audit(&device, &events[3..]).await;
    assert_eq!(accepted(status, &body), AuditUploadResponse { highest_sequence: 6, stored: 3 });
    assert_eq!(server.stored_audit(device.id).await, summary(&events));
    let kinds: Vec<String> = findings(&server, device.id).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["audit_gap", "audit_gap", "audit_gap"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinked_altered_and_conflicting_events_are_refused() {
    let (server, device) = server_with_device().await;
    let mut chain = AuditChain::new(device.id);
    let events = chain.take(4, "synthetic.user", Some(Uuid::new_v4()), 0);
    let (status, body) = server.upload_audit(&device, &events[..3]).await;
    accepted(status, &body);

    // Sequence 4 pointing at another predecessor, re-sealed: its own hash is right.
    let mut unlinked = events[3].clone();
    unlinked.prev_hash = "ab".repeat(32);
    let unlinked = unlinked.seal();
    assert_eq!(unlinked.hash, unlinked.compute_hash());
    let (status, body) = server.upload_audit(&device, &[unlinked]).await;
    refused(status, &body, "audit_unlinked", 4);

    // Sequence 4 edited after sealing (another patient): the hash no longer matches.
    let mut altered = events[3].clone();
    altered.patient_id = Some(Uuid::new_v4());
    let (status, body) = server.upload_audit(&device, &[altered]).await;
    refused(status, &body, "audit_altered", 4);

    // A forged hash on an otherwise correct event.
    let mut forged = events[3].clone();
    forged.hash = "0".repeat(64);
    let (status, body) = server.upload_audit(&device, &[forged]).await;
    refused(status, &body, "audit_altered", 4);

    // A repeat of stored sequence 2 with other content (re-sealed, same id and link).
    let mut rewritten = events[1].clone();
    rewritten.subtype = AuditSubtype::Print;
    let rewritten = rewritten.seal();
    let (status, body) = server.upload_audit(&device, &[rewritten.clone(), events[2].clone(), events[3].clone()]).await;
    refused(status, &body, "audit_altered", 2);

    // A repeat of sequence 2 with another id (a different event in its place).
    let mut other_id = events[1].clone();
    other_id.id = Uuid::now_v7();
    let (status, body) = server.upload_audit(&device, &[other_id.seal()]).await;
    refused(status, &body, "audit_altered", 2);

    assert_eq!(server.stored_audit(device.id).await, summary(&events[..3]), "no refused upload stored anything");
    assert_eq!(
        findings(&server, device.id).await,
        vec![
            ("audit_unlinked".to_owned(), Some(4)),
            ("audit_altered".to_owned(), Some(4)),
            ("audit_altered".to_owned(), Some(4)),
            ("audit_altered".to_owned(), Some(2)),
            ("audit_altered".to_owned(), Some(2)),
        ]
    );

    // Another device's event is not this device's to upload.
    let mut foreign = AuditChain::new(Uuid::now_v7());
    let (status, body) = server.upload_audit(&device, &[foreign.next("synthetic.user", None, at(9))]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "audit_foreign_device");

    // The genuine sequence 4 still continues the chain.
    let (status, body) = server.upload_audit(&device, &events[3..]).await;
    assert_eq!(accepted(status, &body), AuditUploadResponse { highest_sequence: 4, stored: 1 });
}

async fn report(server: &TestServer, token: &str, query: &str) -> AuditReportPage {
    let (status, body) = server.call(Method::GET, &format!("/v1/audit/reports?{query}"), Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    serde_json::from_value(body).unwrap()
}

/// A privacy officer's login token (logins are rate-limited: one per test).
async fn officer_token(server: &TestServer, device: &Device) -> String {
    server.add_user("privacy.officer", &[Role::PrivacyOfficer]).await;
    server.login(device, "privacy.officer").await
}

fn ids(events: &[AuditEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

fn time(minutes: i64) -> String {
    at(minutes).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_officer_reports_by_patient_and_by_user() {
    let (server, device_a) = server_with_device().await;
    let device_b = server.enrol("W1").await;
    let (x, z) = (Uuid::new_v4(), Uuid::new_v4());
    let mut a = AuditChain::new(device_a.id);
    let mut b = AuditChain::new(device_b.id);
    let a1 = a.next("alice", Some(x), at(1));
    let a2 = a.next("alice", Some(z), at(2));
    let a3 = a.next("alice", None, at(3));
    let a4 = a.next("alice", Some(x), at(10));
    let b1 = b.next("bob", Some(x), at(5));
    let b2 = b.next("bob", Some(z), at(6));
    let b3 = b.next("alice", Some(z), at(7));
    let b4 = b.next("bob", Some(x), at(12));
    let (status, body) = server.upload_audit(&device_a, &[a1.clone(), a2.clone(), a3.clone(), a4.clone()]).await;
    accepted(status, &body);
    let (status, body) = server.upload_audit(&device_b, &[b1.clone(), b2.clone(), b3.clone(), b4.clone()]).await;
    accepted(status, &body);

    let token = officer_token(&server, &device_a).await;

    // Who viewed patient X: newest first by default, both devices, both users.
    let page = report(&server, &token, &format!("patient_id={x}")).await;
    assert_eq!(page.events, vec![b4.clone(), a4.clone(), b1.clone(), a1.clone()]);
    assert_eq!((page.total, page.page, page.page_size), (4, 1, 100));
    let page = report(&server, &token, &format!("patient_id={x}&sort=asc")).await;
    assert_eq!(ids(&page.events), ids(&[a1.clone(), b1.clone(), a4.clone(), b4.clone()]));
    let page = report(&server, &token, &format!("patient_id={x}&sort=desc")).await;
    assert_eq!(ids(&page.events), ids(&[b4.clone(), a4.clone(), b1.clone(), a1.clone()]));

    // What did alice view from minute 2 (inclusive) to minute 10 (exclusive), on either device.
    let page = report(&server, &token, &format!("user_id=alice&from={}&to={}&sort=asc", time(2), time(10))).await;
    assert_eq!(page.events, vec![a2.clone(), a3.clone(), b3.clone()]);
    assert_eq!(page.total, 3);
    // Both filters together, and a range with nothing in it.
    let page = report(&server, &token, &format!("user_id=alice&patient_id={z}")).await;
    assert_eq!(ids(&page.events), ids(&[b3.clone(), a2.clone()]));
    let page = report(&server, &token, &format!("user_id=bob&from={}", time(13))).await;
    assert!(page.events.is_empty() && page.total == 0);

    // Paging: total is the whole match, each page its slice.
    let page1 = report(&server, &token, &format!("patient_id={x}&page_size=2")).await;
    assert_eq!((page1.total, page1.page, page1.page_size), (4, 1, 2));
    assert_eq!(ids(&page1.events), ids(&[b4.clone(), a4.clone()]));
    let page2 = report(&server, &token, &format!("patient_id={x}&page_size=2&page=2")).await;
    assert_eq!((page2.total, page2.page), (4, 2));
    assert_eq!(ids(&page2.events), ids(&[b1.clone(), a1.clone()]));
    let page3 = report(&server, &token, &format!("patient_id={x}&page_size=2&page=3")).await;
    assert!(page3.events.is_empty());
    assert_eq!(page3.total, 4);

    // Neither patient nor user: every event in the range.
    let everything = report(&server, &token, "page_size=500").await;
    assert!(everything.total >= 4 && everything.events.len() as i64 == everything.total, "{}", everything.total);
    let none = report(&server, &token, "from=2100-01-01T00:00:00Z").await;
    assert_eq!(none.total, 0);
    // Refusals: a bad id, sort, page or size, a user without the role.
    for query in ["patient_id=not-a-uuid", "user_id=alice&sort=up", "user_id=alice&page_size=0", "user_id=alice&page=0"]
    {
        let (status, body) = server.call(Method::GET, &format!("/v1/audit/reports?{query}"), Some(&token), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], "invalid_query", "{query}: {body}");
    }
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let nurse = server.login(&device_a, "nurse.synthetic").await;
    let (status, body) =
        server.call(Method::GET, &format!("/v1/audit/reports?patient_id={x}"), Some(&nurse), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) =
        server.call(Method::GET, &format!("/v1/audit/reports?patient_id={x}"), Some(&device_a.credential), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a device credential is no login token");
}

/// The error of a statement that must fail: (SQLSTATE, message).
async fn refusal(client: &tokio_postgres::Client, sql: &str) -> (String, String) {
    let e = client.batch_execute(sql).await.expect_err(sql);
    let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
    (db.code().code().to_owned(), db.message().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_store_is_append_only() {
    let (server, device) = server_with_device().await;
    let mut chain = AuditChain::new(device.id);
    let events = chain.take(3, "synthetic.user", Some(Uuid::new_v4()), 0);
    let (status, body) = server.upload_audit(&device, &events).await;
    accepted(status, &body);
    // A finding too, to try the same on security_findings.
    let (status, _) = server.upload_audit(&device, &[AuditChain::new(device.id).next("x", None, at(0))]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The service's own role holds no such privilege.
    let service = server.service().await;
    for sql in [
        "UPDATE audit_events SET user_id = 'someone.else'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE security_findings SET kind = 'nothing'",
        "DELETE FROM security_findings",
        "TRUNCATE security_findings",
    ] {
        let (code, message) = refusal(&service, sql).await;
        assert_eq!(code, "42501", "{sql}: {message}");
        assert!(message.contains("permission denied"), "{sql}: {message}");
    }

    // Even the owner (a superuser) is stopped by the triggers.
    let owner = server.owner().await;
    for sql in [
        "UPDATE audit_events SET user_id = 'someone.else' WHERE sequence = 2",
        "DELETE FROM audit_events WHERE sequence = 3",
        "TRUNCATE audit_events",
        "UPDATE security_findings SET kind = 'nothing'",
        "DELETE FROM security_findings",
        "TRUNCATE security_findings",
    ] {
        let (code, message) = refusal(&owner, sql).await;
        assert_eq!(code, "42501", "{sql}: {message}");
        assert!(message.contains("append-only"), "{sql}: {message}");
    }

    assert_eq!(server.stored_audit(device.id).await, summary(&events));
    let users: Vec<String> =
        owner.query("SELECT user_id FROM audit_events", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(users, ["synthetic.user"; 3]);
    let findings: i64 = owner.query_one("SELECT count(*) FROM security_findings", &[]).await.unwrap().get(0);
    assert_eq!(findings, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_row_altered_behind_the_triggers() {
    let (server, device_a) = server_with_device().await;
    let device_b = server.enrol("W1").await;
    let mut a = AuditChain::new(device_a.id);
    let mut b = AuditChain::new(device_b.id);
    let (status, body) = server.upload_audit(&device_a, &a.take(5, "alice", Some(Uuid::new_v4()), 0)).await;
    accepted(status, &body);
    let (status, body) = server.upload_audit(&device_b, &b.take(4, "bob", None, 0)).await;
    accepted(status, &body);
    let device_c = server.enrol("W1").await; // no events at all

    let service = server.service().await;
    let mut checks = wardbook_server::audit::verify(&service, None).await.unwrap();
    checks.sort_by_key(|c| c.device_id);
    let mut expected = vec![(device_a.id, 5, None), (device_b.id, 4, None), (device_c.id, 0, None)];
    expected.sort();
    let got: Vec<_> = checks.iter().map(|c| (c.device_id, c.events, c.broken_at)).collect();
    assert_eq!(got, expected, "every chain intact");

    // The owner tampers: disables the trigger, edits A's event 3, deletes B's event 2.
    server
        .owner()
        .await
        .batch_execute(&format!(
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
             UPDATE audit_events SET patient_id = '{}' WHERE device_id = '{}' AND sequence = 3;
             DELETE FROM audit_events WHERE device_id = '{}' AND sequence = 2;
             ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;",
            Uuid::new_v4(),
            device_a.id,
            device_b.id
        ))
        .await
        .unwrap();

    let one = wardbook_server::audit::verify(&service, Some(device_a.id)).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].device_id, device_a.id);
    assert_eq!(one[0].broken_at, Some((3, "audit_altered")));
    let one = wardbook_server::audit::verify(&service, Some(device_b.id)).await.unwrap();
    assert_eq!(one[0].broken_at, Some((2, "audit_gap")));
    assert_eq!(one[0].events, 3);
    let all = wardbook_server::audit::verify(&service, None).await.unwrap();
    assert_eq!(all.iter().filter(|c| c.broken_at.is_some()).count(), 2);
    assert!(all.iter().any(|c| c.device_id == device_c.id && c.broken_at.is_none()));

    // Re-sealing the edited event moves the break to the link after it.
    let stored = wardbook_server::audit::report(
        &service,
        &wardbook_server::audit::ReportQuery {
            user_id: Some("alice".into()),
            sort: Some(wardbook_server::audit::SortOrder::Asc),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let resealed = stored.events[2].clone().seal();
    server
        .owner()
        .await
        .batch_execute(&format!(
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
             UPDATE audit_events SET hash = '{}' WHERE device_id = '{}' AND sequence = 3;
             ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;",
            resealed.hash, device_a.id
        ))
        .await
        .unwrap();
    let one = wardbook_server::audit::verify(&service, Some(device_a.id)).await.unwrap();
    assert_eq!(one[0].broken_at, Some((4, "audit_unlinked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_and_new_events_in_one_batch_and_reused_event_ids() {
    let (server, device) = server_with_device().await;
    let mut chain = AuditChain::new(device.id);
    let events = chain.take(8, "synthetic.user", Some(Uuid::new_v4()), 0);
    let (status, body) = server.upload_audit(&device, &events[..3]).await;
    accepted(status, &body);

    // A new event carrying the id of a stored one (re-sealed: its hash is right).
    let mut reused = events[3].clone();
    reused.id = events[0].id;
    let reused = reused.seal();
    let (status, body) = server.upload_audit(&device, &[events[2].clone(), reused]).await;
    refused(status, &body, "audit_altered", 4);

    // Two new events of one batch with one id: the second is no continuation.
    let mut twin = events[4].clone();
    twin.id = events[3].id;
    twin.prev_hash = events[3].hash.clone();
    let twin = twin.seal();
    let (status, body) = server.upload_audit(&device, &[events[3].clone(), twin]).await;
    refused(status, &body, "audit_altered", 5);
    assert_eq!(server.stored_audit(device.id).await, summary(&events[..3]), "no refused upload stored anything");

    // Repeats (identical) and new events in one batch: only the new are stored.
    let (status, body) = server.upload_audit(&device, &events[1..6]).await;
    assert_eq!(accepted(status, &body), AuditUploadResponse { highest_sequence: 6, stored: 3 });
    let (status, body) = server.upload_audit(&device, &events).await;
    assert_eq!(accepted(status, &body), AuditUploadResponse { highest_sequence: 8, stored: 2 });
    assert_eq!(server.stored_audit(device.id).await, summary(&events));
    assert_eq!(
        findings(&server, device.id).await,
        vec![("audit_altered".to_owned(), Some(4)), ("audit_altered".to_owned(), Some(5))]
    );
}
