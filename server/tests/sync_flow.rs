//! The whole path over a real socket: enrol, log in, pull the synthetic
//! scope, push an edit and a new observation, pull again and see them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{PASSWORD, TestServer};
use serde_json::json;
use wardbook_protocol::api::{Change, EnrolResponse, LoginResponse, MutationOutcome, PullResponse, PushResponse, Role};
use wardbook_server::serve;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_login_pull_push_pull_over_http() {
    let server = TestServer::start().await;
    let report = server.synth(12, 7).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let client = server.service().await;
    let (code, _) =
        wardbook_server::enrolment::create_code(&client, "Ward 7A", chrono::Duration::hours(1)).await.unwrap();

    let running = serve::start(server.settings.clone()).await.expect("serve");
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    let enrolled: EnrolResponse = ok_json(
        http.post(format!("{base}/v1/enrol")).json(&json!({ "code": code.expose(), "device_name": "ward-7a-ws1" })),
    )
    .await;
    assert_eq!(enrolled.locations, vec!["Ward 7A".to_owned()]);
    let device = enrolled.credential.clone();

    let again = http
        .post(format!("{base}/v1/enrol"))
        .json(&json!({ "code": code.expose(), "device_name": "another" }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401, "an enrolment code works once");

    // A workstation enrols under its own audit chain's id; an id that was
    // ever enrolled is refused and the code stays unused.
    let (code2, _) =
        wardbook_server::enrolment::create_code(&client, "Ward 7A", chrono::Duration::hours(1)).await.unwrap();
    let taken = http
        .post(format!("{base}/v1/enrol"))
        .json(&json!({ "code": code2.expose(), "device_name": "ws2", "device_id": enrolled.device_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 403, "an enrolled id cannot be taken over");
    let own_id = uuid::Uuid::now_v7();
    let second: EnrolResponse = ok_json(
        http.post(format!("{base}/v1/enrol"))
            .json(&json!({ "code": code2.expose(), "device_name": "ws2", "device_id": own_id })),
    )
    .await;
    assert_eq!(second.device_id, own_id, "the code still worked, under the workstation's own id");

    let login: LoginResponse = ok_json(
        http.post(format!("{base}/v1/login"))
            .bearer_auth(&device)
            .json(&json!({ "username": "nurse.synthetic", "password": PASSWORD })),
    )
    .await;
    assert_eq!(login.user.roles, vec![Role::Clinician]);
    assert!(login.expires_at > chrono::Utc::now());
    assert!(login.offline_unlock.allowed_until > login.expires_at);
    let raw = serde_json::to_string(&login).unwrap();
    assert!(!raw.contains(PASSWORD) && !raw.contains("argon2"), "login never returns the password or its hash");

    // Initial sync, in small pages.
    let mut cursor: Option<String> = None;
    let mut changes = Vec::new();
    let mut pages = 0;
    let mut expected_rows = None;
    loop {
        let mut req = http.get(format!("{base}/v1/sync/pull")).bearer_auth(&device).query(&[("limit", "50")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page: PullResponse = ok_json(req).await;
        pages += 1;
        if pages == 1 {
            expected_rows = page.expected_rows;
        } else {
            assert_eq!(page.expected_rows, None, "only the first page of an initial sync counts the rows");
        }
        changes.extend(page.changes);
        cursor = Some(page.cursor);
        if !page.has_more {
            break;
        }
    }
    assert!(pages > 1, "the initial sync came in pages");
    assert_eq!(expected_rows, Some(changes.len() as i64), "the first page said how many rows were coming");
    let ward_a = server.location_id("Ward 7A").await;
    let in_scope: Vec<uuid::Uuid> = server
        .owner()
        .await
        .query("SELECT patient_id FROM patient_locations WHERE location_id = $1 AND active ORDER BY 1", &[&ward_a])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut got = common::patient_ids(&changes);
    got.sort();
    assert_eq!(got, in_scope, "exactly the patients of Ward 7A");
    assert!(!in_scope.is_empty() && in_scope.len() < report.patients as usize);
    let observation = changes
        .iter()
        .find_map(|c| match c {
            Change::Observation { observation } => Some(observation.clone()),
            _ => None,
        })
        .expect("observations arrive");
    assert!(in_scope.contains(&observation.patient_id));

    // Push: amend an observation and add a new one.
    let mut amended = observation.clone();
    amended.status = wardbook_protocol::ObservationStatus::Amended;
    let mut new = observation.clone();
    new.id = uuid::Uuid::now_v7();
    new.status = wardbook_protocol::ObservationStatus::Final;
    let now = chrono::Utc::now();
    let push = json!({ "mutations": [
        { "id": uuid::Uuid::now_v7(), "base_version": observation.version, "author": "nurse.synthetic", "authored_at": now,
          "record": { "type": "observation", "observation": amended } },
        { "id": uuid::Uuid::now_v7(), "base_version": null, "author": "nurse.synthetic", "authored_at": now,
          "record": { "type": "observation", "observation": new } },
    ]});
    let pushed: PushResponse =
        ok_json(http.post(format!("{base}/v1/sync/push")).bearer_auth(&device).json(&push)).await;
    assert!(
        matches!(pushed.results[0].outcome, MutationOutcome::Applied { version } if version == observation.version + 1),
        "{pushed:?}"
    );
    assert!(matches!(pushed.results[1].outcome, MutationOutcome::Applied { version: 1 }), "{pushed:?}");

    // Pull again: both arrive (polling: another test's open transaction on a
    // shared server may hold the horizon back for a moment).
    let cursor = cursor.unwrap();
    let arrived = common::eventually(std::time::Duration::from_secs(30), "the pushed rows in the feed", || {
        let (http, base, device, cursor) = (http.clone(), base.clone(), device.clone(), cursor.clone());
        async move {
            let page: PullResponse = http
                .get(format!("{base}/v1/sync/pull"))
                .bearer_auth(&device)
                .query(&[("cursor", cursor)])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let ids: Vec<(uuid::Uuid, i64, wardbook_protocol::ObservationStatus)> = page
                .changes
                .iter()
                .filter_map(|c| match c {
                    Change::Observation { observation } => {
                        Some((observation.id, observation.version, observation.status))
                    }
                    _ => None,
                })
                .collect();
            (ids.len() == 2).then_some(ids)
        }
    })
    .await;
    assert!(arrived.contains(&(
        observation.id,
        observation.version + 1,
        wardbook_protocol::ObservationStatus::Amended
    )));
    assert!(arrived.contains(&(new.id, 1, wardbook_protocol::ObservationStatus::Final)));

    running.shutdown().await.unwrap();
}

/// Sends a request that must succeed and decodes its JSON answer.
async fn ok_json<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.unwrap().error_for_status().unwrap().json().await.unwrap()
}
