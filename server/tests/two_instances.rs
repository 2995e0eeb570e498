//! Several service instances on one database (issue 18, item 9): two
//! instances, each with its own state (pool, keys, providers) and socket, as
//! behind a load balancer, share everything that matters through
//! PostgreSQL: sessions, devices, the exactly-once push, the audit chain,
//! the pull cursor and the sign-in attempt limit. An instance dying in the
//! middle of a push leaves nothing half done for the other to trip on.
//! Also the attempt counting itself (`auth::count_attempts`, in the
//! database), and that a login holds no database connection while Argon2id
//! runs. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{AuditChain, Device, PASSWORD, TestServer, assert_api_error, change_key, eventually, new_mutation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use wardbook_protocol::api::{Change, Mutation, MutationOutcome, PullResponse, PushResponse, Record, Role};
use wardbook_protocol::{Environment, Observation, ObservationStatus};
use wardbook_server::serve::{self, Running};

const DEADLINE: Duration = Duration::from_secs(30);

/// The test database, and instances A and B serving it over HTTP.
struct Pair {
    server: TestServer,
    /// `None` once killed.
    a: Option<Running>,
    a_addr: std::net::SocketAddr,
    b: Running,
    http: reqwest::Client,
}

impl Pair {
    async fn start(tweak: impl FnOnce(&mut wardbook_server::Settings)) -> Pair {
        let server = TestServer::start_with(Environment::Test, tweak).await;
        server.synth(12, 18).await;
        Pair::serve(server).await
    }

    /// Two instances of the test server's settings, each with its own state.
    async fn serve(server: TestServer) -> Pair {
        let a = serve::start(server.settings.clone()).await.expect("instance A");
        let b = serve::start(server.settings.clone()).await.expect("instance B");
        assert_ne!(a.addr, b.addr, "two sockets");
        Pair { server, a_addr: a.addr, a: Some(a), b, http: reqwest::Client::new() }
    }

    fn base(&self, instance: Instance) -> String {
        match instance {
            Instance::A => format!("http://{}", self.a_addr),
            Instance::B => format!("http://{}", self.b.addr),
        }
    }

    /// One request to an instance; the answer checked against the API document.
    async fn call(
        &self,
        at: Instance,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(&self.http, &self.base(at), method, path, auth, body).await.expect("an answer")
    }

    /// Enrols a workstation for a location through an instance.
    async fn enrol(&self, at: Instance, location: &str) -> Device {
        let client = self.server.service().await;
        let (code, _) =
            wardbook_server::enrolment::create_code(&client, location, chrono::Duration::hours(1)).await.unwrap();
        let body = json!({ "code": code.expose(), "device_name": "synthetic-two-instances" });
        let (status, body) = self.call(at, Method::POST, "/v1/enrol", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Device {
            id: body["device_id"].as_str().unwrap().parse().unwrap(),
            credential: body["credential"].as_str().unwrap().to_owned(),
        }
    }

    async fn login(&self, at: Instance, device: &Device, username: &str, password: &str) -> (StatusCode, Value) {
        let body = json!({ "username": username, "password": password });
        self.call(at, Method::POST, "/v1/login", Some(&device.credential), Some(body)).await
    }

    async fn pull(&self, at: Instance, device: &Device, cursor: Option<&str>, limit: u32) -> PullResponse {
        let mut path = format!("/v1/sync/pull?limit={limit}");
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = self.call(at, Method::GET, &path, Some(&device.credential), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    async fn push(&self, at: Instance, device: &Device, mutations: &[Mutation]) -> PushResponse {
        let body = json!({ "mutations": mutations });
        let (status, body) = self.call(at, Method::POST, "/v1/sync/push", Some(&device.credential), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    async fn upload_audit(
        &self,
        at: Instance,
        device: &Device,
        events: &[wardbook_protocol::AuditEvent],
    ) -> (StatusCode, Value) {
        let body = json!({ "events": events });
        self.call(at, Method::POST, "/v1/audit/events", Some(&device.credential), Some(body)).await
    }

    async fn stop(self) {
        if let Some(a) = self.a {
            a.shutdown().await.unwrap();
        }
        self.b.shutdown().await.unwrap();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Instance {
    A,
    B,
}

/// A request over HTTP; `None` when no answer came (the connection failed or closed).
async fn call(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> Option<(StatusCode, Value)> {
    let mut req = http.request(method.clone(), format!("{base}{path}"));
    if let Some(token) = auth {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.ok()?;
    let status = response.status();
    let bytes = response.bytes().await.ok()?;
    let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("a JSON body") };
    common::contract::check(&method, path, status, &value);
    Some((status, value))
}

fn first_observation(changes: &[Change]) -> Observation {
    changes
        .iter()
        .find_map(|c| match c {
            Change::Observation { observation } if !observation.deleted => Some(observation.clone()),
            _ => None,
        })
        .expect("the ward has observations")
}

/// Three mutations on one ward patient: an amendment of `observation` and
/// two new observations.
fn three_mutations(observation: &Observation) -> Vec<Mutation> {
    let mut amended = observation.clone();
    amended.status = ObservationStatus::Amended;
    let fresh = || {
        let mut new = observation.clone();
        new.id = Uuid::now_v7();
        new.status = ObservationStatus::Final;
        new
    };
    vec![
        new_mutation(Some(observation.version), Record::Observation { observation: amended }),
        new_mutation(None, Record::Observation { observation: fresh() }),
        new_mutation(None, Record::Observation { observation: fresh() }),
    ]
}

fn new_observation_ids(mutations: &[Mutation]) -> Vec<Uuid> {
    mutations[1..]
        .iter()
        .map(|m| match &m.record {
            Record::Observation { observation } => observation.id,
            _ => unreachable!(),
        })
        .collect()
}

/// What the database holds of a batch: (observation id, version) of each
/// row it touched, and the mutation ids recorded as applied, with their version.
async fn stored(
    server: &TestServer,
    observation: &Observation,
    mutations: &[Mutation],
) -> (Vec<(Uuid, i64)>, Vec<i64>) {
    let owner = server.owner().await;
    let mut ids = vec![observation.id];
    ids.extend(new_observation_ids(mutations));
    let rows = owner
        .query("SELECT id, version FROM observations WHERE id = ANY($1) ORDER BY id", &[&ids])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mutation_ids: Vec<Uuid> = mutations.iter().map(|m| m.id).collect();
    let applied = owner
        .query(
            "SELECT version FROM applied_mutations WHERE mutation_id = ANY($1) ORDER BY array_position($1, mutation_id)",
            &[&mutation_ids],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (rows, applied)
}

/// The rows a batch from [`three_mutations`] must leave, whoever applied it.
fn expected_rows(observation: &Observation, mutations: &[Mutation]) -> (Vec<(Uuid, i64)>, Vec<i64>) {
    let mut rows = vec![(observation.id, observation.version + 1)];
    rows.extend(new_observation_ids(mutations).into_iter().map(|id| (id, 1)));
    rows.sort();
    (rows, vec![observation.version + 1, 1, 1])
}

/// An owner transaction that has recorded `mutation_id` as applied without
/// committing: a push of that mutation waits on it (the exactly-once insert
/// waits for the row's fate), so the test knows where the push stands.
async fn hold_mutation(server: &TestServer, device: &Device, mutation_id: Uuid) -> tokio_postgres::Client {
    let owner = server.owner().await;
    owner.batch_execute("BEGIN").await.unwrap();
    owner
        .execute(
            "INSERT INTO applied_mutations (mutation_id, device_id, author, authored_at, entity, entity_id, version)
             VALUES ($1, $2, 'blocker', now(), 'observation', $1, 0)",
            &[&mutation_id, &device.id],
        )
        .await
        .unwrap();
    owner
}

/// Polls until `n` sessions of the service wait on a lock.
async fn waiting_on_locks(server: &TestServer, n: i64) {
    let owner = server.owner().await;
    eventually(DEADLINE, "pushes waiting on the held mutation", || {
        let owner = &owner;
        async move {
            let waiting: i64 = owner
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                      WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .ok()?
                .get(0);
            (waiting >= n).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_devices_cursors_and_audit_chains_work_across_instances() {
    use Instance::{A, B};
    let pair = Pair::start(|_| {}).await;
    pair.server.add_user("nurse.synthetic", &[Role::Clinician, Role::PrivacyOfficer]).await;
    pair.server.add_user("admin.synthetic", &[Role::Admin]).await;

    // 1. A session opened at A is good at B, and ended at B it is ended at A.
    let ward_ws = pair.enrol(A, "Ward 7A").await;
    let admin_ws = pair.enrol(B, "Ward 7B").await;
    let (status, body) = pair.login(A, &ward_ws, "nurse.synthetic", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    for at in [A, B] {
        let (status, body) = pair.call(at, Method::GET, "/v1/audit/reports", Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "the session opened at A works at {at:?}: {body}");
    }
    let (status, body) = pair.login(B, &admin_ws, "admin.synthetic", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin = body["token"].as_str().unwrap().to_owned();
    // The service has no sign-out of its own (the workstation's sign-out is
    // local; a session ends when it expires, its user is disabled or its
    // workstation revoked): the revocation, at B.
    let path = format!("/v1/admin/devices/{}/revoke", ward_ws.id);
    let (status, body) = pair.call(B, Method::POST, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = pair.call(A, Method::GET, "/v1/audit/reports", Some(&token), None).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = pair.call(A, Method::GET, "/v1/device", Some(&ward_ws.credential), None).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    // 6. A workstation enrolled at A moves between instances mid-sync: the
    // pages of its initial pull alternate A, B, A, ..., each with the cursor
    // the other returned, and every row arrives exactly once.
    let device = pair.enrol(A, "Ward 7A").await;
    let (reference, _) = pair.server.pull_all(&device, None, 5000).await;
    let want: BTreeSet<(&str, Uuid)> = reference.iter().map(change_key).collect();
    assert_eq!(want.len(), reference.len());
    let mut seen: BTreeMap<(&str, Uuid), usize> = BTreeMap::new();
    let mut changes = Vec::new();
    let mut cursor: Option<String> = None;
    let mut expected = None;
    let mut pages = Vec::new();
    loop {
        let at = if pages.len() % 2 == 0 { A } else { B };
        let page = pair.pull(at, &device, cursor.as_deref(), 7).await;
        if pages.is_empty() {
            expected = page.expected_rows;
        }
        pages.push(at);
        changes.extend(page.changes);
        cursor = Some(page.cursor);
        if !page.has_more {
            break;
        }
    }
    for change in &changes {
        *seen.entry(change_key(change)).or_default() += 1;
    }
    assert!(pages.len() >= 4, "the pull took several pages at each instance: {pages:?}");
    assert!(seen.values().all(|&n| n == 1), "no row twice: {seen:?}");
    assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), want, "every row of the scope, none other");
    assert_eq!(expected, Some(changes.len() as i64), "as many as the first page (at A) announced");
    let cursor = cursor.unwrap();

    // 2. ... and pushes and pulls at B.
    let observation = first_observation(&changes);
    let mutations = three_mutations(&observation);
    let pushed = pair.push(B, &device, &mutations).await;
    let versions: Vec<_> = pushed.results.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        versions,
        vec![
            MutationOutcome::Applied { version: observation.version + 1 },
            MutationOutcome::Applied { version: 1 },
            MutationOutcome::Applied { version: 1 },
        ]
    );
    let mut want_new: BTreeSet<Uuid> = new_observation_ids(&mutations).into_iter().collect();
    want_new.insert(observation.id);
    let arrived = eventually(DEADLINE, "the push in B's feed", || {
        let (pair, device, cursor, want_new) = (&pair, &device, &cursor, &want_new);
        async move {
            let page = pair.pull(B, device, Some(cursor), 100).await;
            let ids: BTreeSet<Uuid> = page
                .changes
                .iter()
                .filter_map(|c| match c {
                    Change::Observation { observation } => Some(observation.id),
                    _ => None,
                })
                .collect();
            (ids == *want_new).then_some(page.changes.len())
        }
    })
    .await;
    assert_eq!(arrived, 3, "the three rows, each once");

    // 4. An audit chain uploaded half at A, half at B, is stored whole and
    // continuous; the first half again at B changes nothing.
    let mut chain = AuditChain::new(device.id);
    let events = chain.take(10, "nurse.synthetic", Some(observation.patient_id), 0);
    let (status, body) = pair.upload_audit(A, &device, &events[..5]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["highest_sequence"].as_i64(), body["stored"].as_u64()), (Some(5), Some(5)), "{body}");
    let (status, body) = pair.upload_audit(B, &device, &events[5..]).await;
    assert_eq!(status, StatusCode::OK, "B continues the chain A stored: {body}");
    assert_eq!((body["highest_sequence"].as_i64(), body["stored"].as_u64()), (Some(10), Some(5)), "{body}");
    let want_audit: Vec<(i64, Uuid, String)> = events.iter().map(|e| (e.sequence, e.id, e.hash.clone())).collect();
    assert_eq!(pair.server.stored_audit(device.id).await, want_audit);
    let (status, body) = pair.upload_audit(B, &device, &events[..5]).await;
    assert_eq!(status, StatusCode::OK, "a repeat is accepted: {body}");
    assert_eq!((body["highest_sequence"].as_i64(), body["stored"].as_u64()), (Some(10), Some(0)), "{body}");
    assert_eq!(pair.server.stored_audit(device.id).await, want_audit, "and changes nothing");

    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_push_at_both_instances_at_once_is_applied_once() {
    use Instance::{A, B};
    let pair = Arc::new(Pair::start(|_| {}).await);
    let device = pair.enrol(A, "Ward 7A").await;
    let (changes, _) = pair.server.pull_all(&device, None, 5000).await;
    let observation = first_observation(&changes);
    let observations_before = pair.server.row_count("observations").await;
    let mutations = three_mutations(&observation);

    // Both requests reach PostgreSQL before either can apply anything.
    let blocker = hold_mutation(&pair.server, &device, mutations[0].id).await;
    let send = |at: Instance| {
        let (pair, device, mutations) = (pair.clone(), device.clone(), mutations.clone());
        tokio::spawn(async move { pair.push(at, &device, &mutations).await })
    };
    let (at_a, at_b) = (send(A), send(B));
    waiting_on_locks(&pair.server, 2).await;
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let (at_a, at_b) = (at_a.await.unwrap(), at_b.await.unwrap());

    for (i, (a, b)) in at_a.results.iter().zip(&at_b.results).enumerate() {
        assert_eq!((a.id, b.id), (mutations[i].id, mutations[i].id));
        let pair_of = match (&a.outcome, &b.outcome) {
            (MutationOutcome::Applied { version: x }, MutationOutcome::AlreadyApplied { version: y })
            | (MutationOutcome::AlreadyApplied { version: y }, MutationOutcome::Applied { version: x }) => (*x, *y),
            other => panic!("mutation {i}: one instance applies it, the other finds it applied, not {other:?}"),
        };
        assert_eq!(pair_of.0, pair_of.1, "both answers give the version it produced");
    }
    assert_eq!((at_a.results.len(), at_b.results.len()), (3, 3));
    assert_eq!(stored(&pair.server, &observation, &mutations).await, expected_rows(&observation, &mutations));
    assert_eq!(pair.server.row_count("observations").await, observations_before + 2, "each new row stored once");

    Arc::into_inner(pair).expect("no request left").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_cut_off_by_a_dying_instance_is_applied_once_at_the_other() {
    use Instance::{A, B};
    let pair = Pair::start(|_| {}).await;
    let device = pair.enrol(B, "Ward 7A").await;
    let (changes, _) = pair.server.pull_all(&device, None, 5000).await;
    let template = first_observation(&changes);
    let observations_before = pair.server.row_count("observations").await;
    // A new observation X, an amendment of X, a new observation Y: the
    // amendment must see X committed, so A commits X before it starts on the
    // amendment, where it is held (an uncommitted row of its mutation id)
    // and dies.
    let fresh = || {
        let mut o = template.clone();
        o.id = Uuid::now_v7();
        o.status = ObservationStatus::Final;
        o
    };
    let (x, y) = (fresh(), fresh());
    let mut amended = x.clone();
    amended.status = ObservationStatus::Amended;
    let mutations = vec![
        new_mutation(None, Record::Observation { observation: x.clone() }),
        new_mutation(Some(1), Record::Observation { observation: amended }),
        new_mutation(None, Record::Observation { observation: y.clone() }),
    ];
    let versions = [1, 2, 1];

    let blocker = hold_mutation(&pair.server, &device, mutations[1].id).await;
    let in_flight = {
        let (http, base, credential) = (pair.http.clone(), pair.base(A), device.credential.clone());
        let body = json!({ "mutations": mutations });
        tokio::spawn(
            async move { call(&http, &base, Method::POST, "/v1/sync/push", Some(&credential), Some(body)).await },
        )
    };
    waiting_on_locks(&pair.server, 1).await;
    let mut pair = pair;
    kill(pair.a.take().unwrap()).await;
    assert_eq!(in_flight.await.unwrap(), None, "the client got no answer from A");
    blocker.batch_execute("ROLLBACK").await.unwrap();
    // What A committed before it died: whatever it is, the retry must not
    // apply it again.
    let committed = applied_versions(&pair.server, &mutations).await;
    assert_eq!(committed[1], None, "A never committed the mutation it was held in");

    // The client sends the same batch again, to B.
    let retried = pair.push(B, &device, &mutations).await;
    let outcomes: Vec<_> = retried.results.iter().map(|r| (r.id, r.outcome.clone())).collect();
    let want: Vec<_> = mutations
        .iter()
        .zip(versions)
        .zip(&committed)
        .map(|((m, version), before)| match before {
            Some(v) => (m.id, MutationOutcome::AlreadyApplied { version: *v }),
            None => (m.id, MutationOutcome::Applied { version }),
        })
        .collect();
    assert_eq!(outcomes, want, "A committed {committed:?}");
    assert_eq!(applied_versions(&pair.server, &mutations).await, versions.map(Some).to_vec());
    let owner = pair.server.owner().await;
    let rows: Vec<(Uuid, i64)> = owner
        .query("SELECT id, version FROM observations WHERE id = ANY($1) ORDER BY id", &[&vec![x.id, y.id]])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut want_rows = vec![(x.id, 2), (y.id, 1)];
    want_rows.sort();
    assert_eq!(rows, want_rows);
    assert_eq!(pair.server.row_count("observations").await, observations_before + 2, "each new row stored once");
    // And once more, at B: nothing new.
    let again = pair.push(B, &device, &mutations).await;
    let again: Vec<_> = again.results.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(again, versions.map(|version| MutationOutcome::AlreadyApplied { version }).to_vec());
    assert_eq!(pair.server.row_count("observations").await, observations_before + 2);
    pair.stop().await;
}

/// The version each mutation produced, `None` for one not applied.
async fn applied_versions(server: &TestServer, mutations: &[Mutation]) -> Vec<Option<i64>> {
    let owner = server.owner().await;
    let mut out = Vec::new();
    for m in mutations {
        let row = owner.query_opt("SELECT version FROM applied_mutations WHERE mutation_id = $1", &[&m.id]).await;
        out.push(row.unwrap().map(|r| r.get(0)));
    }
    out
}

/// An instance stopped at once, as a crash would: no new connection
/// accepted, the connections open dropped with the requests in them (their
/// database transactions roll back), its background tasks ended.
async fn kill(running: Running) {
    running.handle.shutdown();
    if let Some(mllp) = running.mllp {
        mllp.stop();
    }
    running.housekeeping.abort();
    running.outbound.stop();
    running.reencrypt.abort();
    if let Some(check) = running.directory_check {
        check.abort();
    }
    let _ = running.task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_attempt_limit_is_shared_by_the_instances() {
    use Instance::{A, B};
    const LIMIT: u32 = 3;
    let server = TestServer::start_with(Environment::Test, |s| s.policy.auth_attempts_per_minute = LIMIT).await;
    server.synth(4, 19).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    // The count of a window long past: an instance's housekeeping removes it.
    let owner = server.owner().await;
    let old = Sha256::digest(b"synthetic-old-key").to_vec();
    owner
        .execute("INSERT INTO auth_attempts VALUES ($1, date_trunc('minute', now()) - interval '1 hour', 7)", &[&old])
        .await
        .unwrap();
    let pair = Pair::serve(server).await;
    let device = pair.enrol(A, "Ward 7A").await;

    // LIMIT wrong passwords at A, then one more at B: refused at B.
    for _ in 0..LIMIT {
        let (status, body) = pair.login(A, &device, "nurse.synthetic", "not-the-password").await;
        assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (status, body) = pair.login(B, &device, "nurse.synthetic", "not-the-password").await;
    assert_api_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    // The right password does not get through at B either, nor back at A.
    for at in [B, A] {
        let (status, body) = pair.login(at, &device, "nurse.synthetic", PASSWORD).await;
        assert_api_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    }
    assert_eq!(pair.server.row_count("sessions").await, 0);

    // What the database holds: the keys' SHA-256, never the name or the
    // address tried; each key counted at every attempt, refused ones too (six).
    let rows: Vec<(Vec<u8>, i32)> = owner
        .query("SELECT key_hash, sum(attempts)::int4 FROM auth_attempts GROUP BY key_hash", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let user_key = Sha256::digest(b"login-user:nurse.synthetic").to_vec();
    let addr_key = Sha256::digest(b"login-addr:127.0.0.1").to_vec();
    let count = |key: &[u8]| rows.iter().find(|(k, _)| k == key).map(|(_, n)| *n);
    assert_eq!((count(&user_key), count(&addr_key)), (Some(6), Some(6)), "{rows:?}");
    let text: String = owner
        .query_one("SELECT coalesce(string_agg(encode(key_hash, 'escape'), ''), '') FROM auth_attempts", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!text.contains("nurse") && !text.contains("127.0.0.1"), "no key in clear");

    // The old window is gone: housekeeping ran at the instances' start.
    eventually(DEADLINE, "the old window removed", || {
        let (owner, old) = (&owner, &old);
        async move {
            let left: i64 =
                owner.query_one("SELECT count(*) FROM auth_attempts WHERE key_hash = $1", &[old]).await.ok()?.get(0);
            (left == 0).then_some(())
        }
    })
    .await;
    let current: i64 =
        owner.query_one("SELECT count(*) FROM auth_attempts WHERE key_hash = $1", &[&user_key]).await.unwrap().get(0);
    assert_eq!(current, 1, "the current window stays");
    pair.stop().await;
}

fn too_many(result: &wardbook_server::Result<()>) -> bool {
    matches!(result, Err(wardbook_server::Error::TooManyAttempts))
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

async fn attempts_of(owner: &tokio_postgres::Client, key: &str) -> i64 {
    let hash = Sha256::digest(key.as_bytes()).to_vec();
    owner
        .query_one("SELECT coalesce(sum(attempts), 0)::int8 FROM auth_attempts WHERE key_hash = $1", &[&hash])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_counted_in_the_database_per_key_over_the_last_minute() {
    use wardbook_server::auth::{count_attempts, remove_old_attempts};
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let db = server.state.db().await.unwrap();

    for _ in 0..3 {
        count_attempts(&db, &keys(&["login-user:alice"]), 3).await.unwrap();
    }
    assert!(too_many(&count_attempts(&db, &keys(&["login-user:alice"]), 3).await));
    count_attempts(&db, &keys(&["login-user:bob"]), 3).await.expect("another key has its own count");
    // Several keys: refused when any is over; each is counted.
    assert!(too_many(&count_attempts(&db, &keys(&["login-addr:carol", "login-user:alice"]), 3).await));
    assert_eq!(attempts_of(&owner, "login-addr:carol").await, 1);
    // A key named twice in one check counts once.
    count_attempts(&db, &keys(&["login-user:dave", "login-user:dave"]), 3).await.unwrap();
    assert_eq!(attempts_of(&owner, "login-user:dave").await, 1);

    // The minute before counts (in part: the part of it still within the
    // last sixty seconds, never none of it); the one before that does not.
    let put = |key: &str, minutes_ago: i32| {
        let (owner, hash) = (&owner, Sha256::digest(key.as_bytes()).to_vec());
        async move {
            owner
                .execute(
                    "INSERT INTO auth_attempts
                     VALUES ($1, date_trunc('minute', now()) - make_interval(mins => $2), 2147483647)",
                    &[&hash, &minutes_ago],
                )
                .await
                .unwrap();
        }
    };
    put("login-user:erin", 1).await;
    put("login-user:frank", 2).await;
    put("login-user:grace", 10).await;
    assert!(too_many(&count_attempts(&db, &keys(&["login-user:erin"]), 3).await), "last minute's attempts count");
    count_attempts(&db, &keys(&["login-user:frank"]), 3).await.expect("older attempts do not");

    // The cleanup removes what no check reads any more, and only that.
    let total = server.row_count("auth_attempts").await;
    assert_eq!(remove_old_attempts(&db).await.unwrap(), 1, "grace's window, ten minutes old");
    assert_eq!(server.row_count("auth_attempts").await, total - 1);
    assert_eq!(attempts_of(&owner, "login-user:grace").await, 0);
    assert_eq!(attempts_of(&owner, "login-user:frank").await, 2147483647 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attempts_are_each_counted_once_and_never_deadlock() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    // Twenty attempts at once on two keys, named in either order, against a
    // limit of ten: exactly ten get through.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let state = server.state.clone();
            let names = if i % 2 == 0 {
                ["login-addr:10.0.0.9", "login-user:zoe"]
            } else {
                ["login-user:zoe", "login-addr:10.0.0.9"]
            };
            tokio::spawn(async move {
                let db = state.db().await.unwrap();
                wardbook_server::auth::count_attempts(&db, &keys(&names), 10).await
            })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => allowed += 1,
            Err(wardbook_server::Error::TooManyAttempts) => {}
            Err(e) => panic!("an attempt failed otherwise: {e}"),
        }
    }
    assert_eq!(allowed, 10);
    assert_eq!(attempts_of(&owner, "login-user:zoe").await, 20);
    assert_eq!(attempts_of(&owner, "login-addr:10.0.0.9").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_waiting_on_the_same_keys_named_in_either_order_do_not_deadlock() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let names = ["login-addr:10.0.0.7", "login-user:yann"];
    // An open transaction holds the second key's rows (this minute's and
    // the next, should the minute turn meanwhile): every check queues, those
    // naming the keys in this order while holding the first key's row.
    // Checks that locked in the order given would then deadlock.
    let held = Sha256::digest(names[1].as_bytes()).to_vec();
    owner.batch_execute("BEGIN").await.unwrap();
    owner
        .execute(
            "INSERT INTO auth_attempts
             SELECT $1, date_trunc('minute', now()) + make_interval(mins => m), 1 FROM generate_series(0, 1) AS m",
            &[&held],
        )
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let state = server.state.clone();
            let order = if i % 2 == 0 { [names[0], names[1]] } else { [names[1], names[0]] };
            tokio::spawn(async move {
                let db = state.db().await.unwrap();
                wardbook_server::auth::count_attempts(&db, &keys(&order), 1000).await
            })
        })
        .collect();
    eventually(DEADLINE, "every check waiting on the held rows", || {
        let server = &server;
        async move {
            let waiting: i64 = server
                .service()
                .await
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                      WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .ok()?
                .get(0);
            (waiting == 16).then_some(())
        }
    })
    .await;
    owner.batch_execute("COMMIT").await.unwrap();
    for task in tasks {
        task.await.unwrap().expect("each check counted, none a deadlock's victim");
    }
    assert_eq!(attempts_of(&owner, names[0]).await, 16);
    assert_eq!(attempts_of(&owner, names[1]).await, 2 + 16);
}

/// A login holds no pooled connection while its password is checked: with
/// a pool of one, and the login held at the password check (the runtime's
/// only blocking thread kept busy), another request still gets the
/// connection at once. Holding it through Argon2id, 300 sign-ins a minute
/// would starve every other request of connections.
#[test]
fn a_login_holds_no_database_connection_while_its_password_is_checked() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = Arc::new(TestServer::start_with(Environment::Test, |s| s.policy.pool_size = 1).await);
        server.synth(4, 20).await;
        server.add_user("nurse.synthetic", &[Role::Clinician]).await;
        let device = server.enrol("Ward 7A").await;
        let (status, _) = server.call(Method::GET, "/v1/device", Some(&device.credential), None).await;
        assert_eq!(status, StatusCode::OK);

        // The only blocking thread, busy until released.
        let (busy_tx, busy_rx) = tokio::sync::oneshot::channel();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hog = tokio::task::spawn_blocking(move || {
            let _ = busy_tx.send(());
            let _ = hold.recv();
        });
        busy_rx.await.unwrap();

        let login = {
            let (server, device) = (server.clone(), device.clone());
            tokio::spawn(async move {
                let body = json!({ "username": "nurse.synthetic", "password": PASSWORD });
                server.call(Method::POST, "/v1/login", Some(&device.credential), Some(body)).await
            })
        };
        // The login has read the user's hash (the service's one connection
        // ran that query last and is idle): it waits for the password check.
        let owner = server.owner().await;
        eventually(DEADLINE, "the login at its password check", || {
            let owner = &owner;
            async move {
                let at_check: bool = owner
                    .query_one(
                        "SELECT count(*) = 1 FROM pg_stat_activity
                          WHERE application_name = 'wardbook-server' AND datname = current_database()
                            AND state = 'idle' AND query LIKE '%password_hash%'",
                        &[],
                    )
                    .await
                    .ok()?
                    .get(0);
                at_check.then_some(())
            }
        })
        .await;
        let device_info = tokio::time::timeout(
            Duration::from_secs(4),
            server.call(Method::GET, "/v1/device", Some(&device.credential), None),
        )
        .await
        .expect("another request got the connection while the login waits for its password check");
        assert_eq!(device_info.0, StatusCode::OK, "{}", device_info.1);
        assert!(!login.is_finished(), "the login was still at its password check");

        release.send(()).unwrap();
        hog.await.unwrap();
        let (status, body) = login.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    });
}
