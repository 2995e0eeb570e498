//! Bad input gets a 4xx with a stable code and a message that never repeats
//! the value sent, never a 500; nothing of it is stored and the service stays
//! healthy. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{AuditChain, Device, PASSWORD, TestServer, assert_api_error, new_mutation};
use serde_json::{Value, json};
use uuid::Uuid;
use wardbook_protocol::api::{Change, MutationOutcome, PullResponse, Record, RejectReason, Role};
use wardbook_protocol::{Coding, Observation, ObservationValue, Patient, Quantity, vitals};

/// A distinctive synthetic value: an error message must never repeat it.
const MARKER: &str = "SYN-MARKER-Zed";

/// Tables whose row counts a refused request must leave as they were.
const TABLES: &[&str] = &[
    "locations",
    "users",
    "devices",
    "device_locations",
    "enrolment_codes",
    "sessions",
    "patients",
    "phi.patient_identities",
    "observations",
    "allergies",
    "patient_locations",
    "applied_mutations",
    "audit_events",
];

async fn counts(server: &TestServer) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in TABLES {
        out.push((*table, server.row_count(table).await));
    }
    out
}

async fn assert_healthy(server: &TestServer) {
    let (status, body) = server.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A request that must be refused with 400 and `code`; the answer must not
/// repeat [`MARKER`]. Returns the message.
async fn refused(
    server: &TestServer,
    path: &str,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
    codes: &[&str],
) -> String {
    let sent = String::from_utf8_lossy(&body).chars().take(200).collect::<String>();
    let (status, answer) = server.call_raw(Method::POST, path, auth, content_type, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path} with {sent}: {answer}");
    let code = answer["code"].as_str().unwrap_or_default();
    assert!(codes.contains(&code), "{path} with {sent}: {answer}");
    let message = assert_api_error(status, &answer, StatusCode::BAD_REQUEST, code);
    assert!(!answer.to_string().contains(MARKER), "{path}: the answer repeats the value sent: {answer}");
    assert!(answer["position"].is_null(), "{answer}");
    message
}

/// The usual malformed-body cases for one endpoint, built from a valid body.
async fn malformed_cases(server: &TestServer, path: &str, auth: Option<&str>, valid: &Value) {
    let json = Some("application/json");
    let valid_text = valid.to_string();
    // Not JSON at all, cut short, trailing garbage, invalid UTF-8, too deep, empty.
    refused(server, path, auth, json, valid_text.as_bytes()[..valid_text.len() - 1].to_vec(), &["malformed_json"])
        .await;
    let first = valid.as_object().unwrap().keys().next().unwrap().clone();
    let truncated = format!("{{\"{first}\": \"{MARKER}");
    refused(server, path, auth, json, truncated.into_bytes(), &["malformed_json", "invalid_body"]).await;
    refused(server, path, auth, json, format!("{valid_text} {MARKER}").into_bytes(), &["malformed_json"]).await;
    refused(server, path, auth, json, MARKER.as_bytes().to_vec(), &["malformed_json"]).await;
    // (These fail as a syntax error or, when the first field expects
    // another type, as a type error: either is fine.)
    let mut bad_utf8 = format!("{{\"{first}\": \"{MARKER}").into_bytes();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    refused(server, path, auth, json, bad_utf8, &["malformed_json", "invalid_body"]).await;
    refused(server, path, auth, json, "[".repeat(100_000).into_bytes(), &["malformed_json", "invalid_body"]).await;
    refused(server, path, auth, json, Vec::new(), &["malformed_json"]).await;
    // Valid JSON of the wrong shape.
    for shape in [json!(null), json!([MARKER]), json!(MARKER), json!(42)] {
        refused(server, path, auth, json, shape.to_string().into_bytes(), &["invalid_body"]).await;
    }
    // An unknown top-level field (named and valued with the marker).
    let mut unknown = valid.clone();
    unknown[MARKER] = json!(MARKER);
    let message = refused(server, path, auth, json, unknown.to_string().into_bytes(), &["invalid_body"]).await;
    assert!(message.contains("unknown field"), "{message}");
    // Each field missing, and each field of the wrong type (a number, then
    // an array holding the marker, where a string or an object goes).
    let fields: Vec<String> = valid.as_object().unwrap().keys().cloned().collect();
    for field in &fields {
        let mut missing = valid.clone();
        missing.as_object_mut().unwrap().remove(field);
        let message = refused(server, path, auth, json, missing.to_string().into_bytes(), &["invalid_body"]).await;
        assert!(message.contains(&format!("`{field}`")), "the message names the missing field: {message}");
        for wrong in [json!(987_654_321), json!([MARKER]), json!({ MARKER: MARKER })] {
            let mut typed = valid.clone();
            typed[field] = wrong;
            let message = refused(server, path, auth, json, typed.to_string().into_bytes(), &["invalid_body"]).await;
            assert!(!message.contains("987654321"), "{message}");
        }
    }
    // The right JSON with the wrong Content-Type, or none.
    let mut marked = valid.clone();
    marked[fields[0].as_str()] = json!(MARKER);
    let marked = marked.to_string();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/jsonx"), None]
    {
        let (status, answer) =
            server.call_raw(Method::POST, path, auth, content_type, marked.clone().into_bytes()).await;
        assert_api_error(status, &answer, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        assert!(!answer.to_string().contains(MARKER), "{path}: {answer}");
    }
}

fn observations(changes: &[Change]) -> Vec<Observation> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Observation { observation } => Some(observation.clone()),
            _ => None,
        })
        .collect()
}

async fn read_patient(server: &TestServer, device: &Device, id: Uuid) -> Patient {
    let (status, body) = server.call(Method::GET, &format!("/v1/patients/{id}"), Some(&device.credential), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_400_with_a_message_that_never_repeats_the_value() {
    let server = TestServer::start().await;
    server.synth(6, 61).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let device = server.enrol("Ward 7A").await;
    let (changes, _) = server.pull_all(&device, None, 1000).await;
    let mut observation = observations(&changes).pop().expect("an observation");
    observation.id = Uuid::now_v7();
    let before = counts(&server).await;

    // Enrolment and login.
    let enrol = json!({ "code": "AAAA-BBBB-CCCC-DDDD-EEEE", "device_name": "synthetic-ws" });
    malformed_cases(&server, "/v1/enrol", None, &enrol).await;
    let login = json!({ "username": "nurse.synthetic", "password": PASSWORD });
    malformed_cases(&server, "/v1/login", Some(&device.credential), &login).await;

    // Push: the whole body, one mutation, and the observation inside it.
    let mutation =
        serde_json::to_value(new_mutation(None, Record::Observation { observation: observation.clone() })).unwrap();
    let push = json!({ "mutations": [mutation] });
    malformed_cases(&server, "/v1/sync/push", Some(&device.credential), &push).await;
    malformed_cases(&server, "/v1/sync/push", Some(&device.credential), &json!({ "mutations": [] })).await;
    let json = Some("application/json");
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("unknown field in the observation", Box::new(|m| m["record"]["observation"][MARKER] = json!(MARKER))),
        ("unknown field in the quantity", Box::new(|m| m["record"]["observation"]["value"][MARKER] = json!(1))),
        ("unknown field in the mutation", Box::new(|m| m[MARKER] = json!(MARKER))),
        ("string for a number", Box::new(|m| m["record"]["observation"]["value"]["value"] = json!(MARKER))),
        ("number for a string", Box::new(|m| m["record"]["observation"]["recorded_by"] = json!(987_654_321))),
        ("unknown status", Box::new(|m| m["record"]["observation"]["status"] = json!(MARKER))),
        ("unknown record type", Box::new(|m| m["record"]["type"] = json!(MARKER))),
        ("unknown value kind", Box::new(|m| m["record"]["observation"]["value"]["kind"] = json!(MARKER))),
        ("missing status", Box::new(|m| drop(m["record"]["observation"].as_object_mut().unwrap().remove("status")))),
        ("missing record type", Box::new(|m| drop(m["record"].as_object_mut().unwrap().remove("type")))),
        ("bad mutation id", Box::new(|m| m["id"] = json!(MARKER))),
        ("bad patient id", Box::new(|m| m["record"]["observation"]["patient_id"] = json!(MARKER))),
        ("bad time", Box::new(|m| m["record"]["observation"]["effective_at"] = json!(MARKER))),
        ("string base version", Box::new(|m| m["base_version"] = json!(MARKER))),
        ("fractional base version", Box::new(|m| m["base_version"] = json!(1.5))),
    ];
    for (what, edit) in &edits {
        let mut m = mutation.clone();
        edit(&mut m);
        let body = json!({ "mutations": [m] }).to_string().into_bytes();
        let message = refused(&server, "/v1/sync/push", Some(&device.credential), json, body, &["invalid_body"]).await;
        assert!(!message.contains("987654321"), "{what}: {message}");
    }
    // A number too large for f64 written out in the body.
    let mut huge = mutation.clone();
    huge["record"]["observation"]["value"]["value"] = json!("__HUGE__");
    let huge = json!({ "mutations": [huge] }).to_string().replace("\"__HUGE__\"", "1e999");
    refused(
        &server,
        "/v1/sync/push",
        Some(&device.credential),
        json,
        huge.into_bytes(),
        &["malformed_json", "invalid_body"],
    )
    .await;

    // Audit upload: the body, and fields of one event.
    let event = serde_json::to_value(&AuditChain::new(device.id).take(1, "nurse.synthetic", None, 0)[0]).unwrap();
    let upload = json!({ "events": [event] });
    malformed_cases(&server, "/v1/audit/events", Some(&device.credential), &upload).await;
    for field in
        ["sequence", "action", "subtype", "purpose_of_use", "outcome", "recorded_at", "session_id", "device_id"]
    {
        let mut e = event.clone();
        e[field] = json!(MARKER);
        let body = json!({ "events": [e] }).to_string().into_bytes();
        refused(&server, "/v1/audit/events", Some(&device.credential), json, body, &["invalid_body"]).await;
        let mut e = event.clone();
        e.as_object_mut().unwrap().remove(field);
        let body = json!({ "events": [e] }).to_string().into_bytes();
        let message =
            refused(&server, "/v1/audit/events", Some(&device.credential), json, body, &["invalid_body"]).await;
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
    let mut e = event.clone();
    e[MARKER] = json!(MARKER);
    refused(
        &server,
        "/v1/audit/events",
        Some(&device.credential),
        json,
        json!({ "events": [e] }).to_string().into_bytes(),
        &["invalid_body"],
    )
    .await;

    // Nothing was stored, the service is healthy, and the valid bodies work.
    assert_eq!(counts(&server).await, before);
    assert_healthy(&server).await;
    let pushed = server.push_ok(&device, vec![serde_json::from_value(mutation).unwrap()]).await;
    assert!(matches!(pushed.results[0].outcome, MutationOutcome::Applied { version: 1 }), "{pushed:?}");
    let (status, body) = server.upload_audit(&device, &[serde_json::from_value(event).unwrap()]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.login(&device, "nurse.synthetic").await;
    server.enrol("Ward 7B").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_body_is_413_and_the_service_stays_healthy() {
    let server = TestServer::start().await;
    server.synth(4, 62).await;
    let device = server.enrol("Ward 7A").await;
    let before = counts(&server).await;
    let mut body = Vec::with_capacity(50 * 1024 * 1024 + 64);
    body.extend_from_slice(br#"{"mutations": [], "padding": ""#);
    while body.len() < 50 * 1024 * 1024 {
        body.extend_from_slice(MARKER.as_bytes());
    }
    body.extend_from_slice(br#""}"#);
    let body = axum::body::Bytes::from(body);
    for (path, auth) in [
        ("/v1/sync/push", Some(device.credential.as_str())),
        ("/v1/audit/events", Some(device.credential.as_str())),
        ("/v1/enrol", None),
    ] {
        let (status, answer) = server.call_raw(Method::POST, path, auth, Some("application/json"), body.clone()).await;
        assert_api_error(status, &answer, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
        assert!(!answer.to_string().contains(MARKER));
    }
    assert_healthy(&server).await;
    assert_eq!(counts(&server).await, before);
    let page = server.pull(&device, None, 10).await;
    assert!(!page.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_looking_text_is_stored_verbatim_or_refused_never_run() {
    let server = TestServer::start().await;
    server.synth(6, 63).await;
    server.add_user("officer.synthetic", &[Role::PrivacyOfficer]).await;
    let device = server.enrol("Ward 7A").await;
    let officer = server.login(&device, "officer.synthetic").await;
    let mut chain = AuditChain::new(device.id);
    let mut events = chain.take(3, "nurse.synthetic", None, 0);
    events.extend(chain.take(1, "Robert'); DELETE FROM audit_events;--", None, 5));
    let (status, body) = server.upload_audit(&device, &events).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (changes, _) = server.pull_all(&device, None, 1000).await;
    let patient_id = common::patient_ids(&changes)[0];
    let before = counts(&server).await;

    // A patient edit per field, each based on the current version.
    let edits: &[(&str, &str)] = &[
        ("given_name", "'); DROP TABLE patients; --"),
        ("family_name", "Robert'); DELETE FROM audit_events;--"),
        ("address", "1 Synthetic Way'; UPDATE phi.patient_identities SET given_name = 'x'; --"),
        ("location", "Ward 7A'); TRUNCATE observations CASCADE; --"),
        ("source_system", "pas\"; DROP SCHEMA phi CASCADE; --"),
        ("given_name", "%' OR '1'='1"),
        ("family_name", "O'Brien \\'; SELECT pg_sleep(10); --"),
        ("phone", "555'); DROP TABLE sessions;--"),
        ("email", "robert'--@synthetic.test"),
        ("email", "x@synthetic.test'); DELETE FROM users;--"),
        ("preferred_language", "en'; DROP TABLE allergies; --"),
        ("mrn", "SYN-1'; DROP TABLE patients;--"),
    ];
    let mut applied = Vec::new();
    for (field, text) in edits {
        let current = read_patient(&server, &device, patient_id).await;
        let mut value = serde_json::to_value(&current).unwrap();
        value[*field] = json!(text);
        let edited: Patient = serde_json::from_value(value).unwrap();
        let pushed = server
            .push_ok(&device, vec![new_mutation(Some(current.version), Record::Patient { patient: edited.clone() })])
            .await;
        let after = read_patient(&server, &device, patient_id).await;
        match &pushed.results[0].outcome {
            MutationOutcome::Applied { version } => {
                assert_eq!(*version, current.version + 1);
                let mut expected = edited.clone();
                expected.version = after.version;
                expected.updated_at = after.updated_at;
                assert_eq!(after, expected, "{field} is read back verbatim");
                applied.push(*field);
            }
            MutationOutcome::Rejected { reason: RejectReason::Validation, message } => {
                assert!(message.contains(field), "{message}");
                assert!(!message.contains(text), "{message}");
                assert_eq!(after, current, "a refused edit changes nothing");
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    for field in ["given_name", "family_name", "address", "location", "source_system"] {
        assert!(applied.contains(&field), "free text in {field} is stored as written ({applied:?})");
    }

    // An observation and the mutation's author with SQL-looking text.
    let mut observation = observations(&changes).into_iter().find(|o| o.patient_id == patient_id).unwrap();
    observation.id = Uuid::now_v7();
    observation.value = ObservationValue::String { text: "'); DELETE FROM observations; --".into() };
    observation.reference_range = None;
    observation.interpretation = None;
    observation.recorded_by = "nurse'); DROP TABLE applied_mutations; --".into();
    observation.code.display = "x' UNION SELECT password_hash FROM users --".into();
    let mut m = new_mutation(None, Record::Observation { observation: observation.clone() });
    m.author = "Robert'); DROP TABLE devices;--".into();
    let pushed = server.push_ok(&device, vec![m.clone()]).await;
    assert!(matches!(pushed.results[0].outcome, MutationOutcome::Applied { version: 1 }), "{pushed:?}");
    let owner = server.owner().await;
    let row = owner
        .query_one(
            "SELECT o.body->'value'->>'text', o.body->>'recorded_by', o.body->'code'->>'display', a.author
               FROM observations o, applied_mutations a WHERE o.id = $1 AND a.mutation_id = $2",
            &[&observation.id, &m.id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "'); DELETE FROM observations; --");
    assert_eq!(row.get::<_, String>(1), observation.recorded_by);
    assert_eq!(row.get::<_, String>(2), observation.code.display);
    assert_eq!(row.get::<_, String>(3), m.author);

    // Every table is still there, with the rows it had (plus what was applied).
    for table in TABLES {
        let exists: bool = owner.query_one("SELECT to_regclass($1) IS NOT NULL", &[table]).await.unwrap().get(0);
        assert!(exists, "{table} exists");
    }
    let after = counts(&server).await;
    for ((table, was), (_, now)) in before.iter().zip(&after) {
        let added = match *table {
            "observations" => 1,
            "applied_mutations" => applied.len() as i64 + 1,
            _ => 0,
        };
        assert_eq!(*now, was + added, "{table}");
    }

    // SQL-looking query parameters.
    let (status, body) =
        server.call(Method::GET, "/v1/sync/pull?cursor=1'%20OR%201=1--", Some(&device.credential), None).await;
    let message = assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_cursor");
    assert!(!message.contains("OR 1=1"), "{message}");
    let (status, body) =
        server.call(Method::GET, "/v1/audit/reports?user_id=x'%20OR%20'1'='1", Some(&officer), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["total"].clone(), body["events"].clone()), (json!(0), json!([])), "{body}");
    let (status, body) =
        server.call(Method::GET, "/v1/audit/reports?user_id=nurse.synthetic", Some(&officer), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 3, "the same report for a real user finds its events");
    let (status, body) = server
        .call(
            Method::GET,
            "/v1/audit/reports?user_id=Robert%27%29%3B%20DELETE%20FROM%20audit_events%3B--",
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 1, "a user id is matched verbatim");
    for path in [
        "/v1/audit/reports?patient_id=1'%20OR%201=1--",
        "/v1/audit/reports?user_id=x&sort=asc;DROP%20TABLE%20audit_events",
        "/v1/audit/reports?user_id=x&from=now()'--",
    ] {
        let (status, body) = server.call(Method::GET, path, Some(&officer), None).await;
        assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    }
    assert_eq!(server.row_count("audit_events").await, 4);
    assert_healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cursors_and_limits_are_400_never_500() {
    let server = TestServer::start().await;
    server.synth(6, 64).await;
    server.add_user("officer.synthetic", &[Role::PrivacyOfficer]).await;
    let device = server.enrol("Ward 7A").await;
    let officer = server.login(&device, "officer.synthetic").await;
    let auth = Some(device.credential.as_str());

    let long = "1".repeat(10_000);
    for cursor in [
        MARKER,
        "garbage",
        "2.0..0.",
        "1.-5..0.",
        "1.x..0.",
        "1.0..9.",
        "1.5.4.0.",
        "1.0.5.0.notauuid",
        "1.0...",
        "1.99999999999999999999..0.",
        "1.0..0.0190d3b4-0000-7000-8000-000000000000",
        "1.0.5.0.0190d3b4-0000-7000-8000-000000000000.extra",
        long.as_str(),
    ] {
        let (status, body) = server.call(Method::GET, &format!("/v1/sync/pull?cursor={cursor}"), auth, None).await;
        let message = assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_cursor");
        assert!(!message.contains(MARKER), "{message}");
    }

    // limit: 0 is refused (the document's minimum is 1), 1 gives one entry,
    // above the page size is clamped; nonsense is invalid_query.
    let (status, body) = server.call(Method::GET, "/v1/sync/pull?limit=0", auth, None).await;
    assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let (status, body) = server.call(Method::GET, "/v1/sync/pull?limit=1", auth, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: PullResponse = serde_json::from_value(body).unwrap();
    assert_eq!(page.changes.len(), 1);
    assert!(page.has_more);
    let (status, body) = server.call(Method::GET, "/v1/sync/pull?limit=4294967295", auth, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.call(Method::GET, "/v1/sync/pull?limit=", auth, None).await;
    assert!(status == StatusCode::OK || body["code"] == "invalid_query", "{status} {body}");
    for limit in ["-1", "abc", "4294967296", "1.5", MARKER, "1e3"] {
        let (status, body) = server.call(Method::GET, &format!("/v1/sync/pull?limit={limit}"), auth, None).await;
        let message = assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
        assert!(message.contains("limit") && !message.contains(MARKER), "{message}");
    }
    for query in [format!("{MARKER}=1"), "cursor=&cursor=".to_owned(), format!("limit=1&{MARKER}={MARKER}")] {
        let (status, body) = server.call(Method::GET, &format!("/v1/sync/pull?{query}"), auth, None).await;
        let message = assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
        assert!(!message.contains(MARKER), "{message}");
    }
    // The report's paging and filters.
    for query in [
        "user_id=x&page_size=0",
        "user_id=x&page_size=501",
        "user_id=x&page_size=abc",
        "user_id=x&page=-1",
        "user_id=x&sort=sideways",
        "user_id=x&from=yesterday",
        "user_id=x&page=0",
    ] {
        let (status, body) =
            server.call(Method::GET, &format!("/v1/audit/reports?{query}"), Some(&officer), None).await;
        assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    }
    let (status, body) = server
        .call(Method::GET, "/v1/audit/reports?user_id=x&page=1&page_size=500&sort=asc", Some(&officer), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        server.call(Method::GET, "/v1/audit/reports?user_id=x&page=4294967295", Some(&officer), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A patient id that is not a UUID.
    let (status, body) = server.call(Method::GET, &format!("/v1/patients/{MARKER}"), auth, None).await;
    let message = assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_id");
    assert!(!message.contains(MARKER));
    assert_healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoints_are_404_json() {
    let server = TestServer::start().await;
    for (method, path) in [
        (Method::GET, "/v1/nothing-here"),
        (Method::POST, "/v2/sync/pull"),
        (Method::GET, "/"),
        (Method::GET, "/v1/patients"),
        (Method::DELETE, "/v1/patients/0190d3b4-0000-7000-8000-000000000000/extra"),
        (Method::GET, "/v1/SYN-MARKER-Zed"),
    ] {
        let (status, body) = server.call(method.clone(), path, None, None).await;
        let message = assert_api_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert!(!message.contains(MARKER), "{message}");
    }
    // A known path with another method: 405, also as JSON.
    for (method, path) in
        [(Method::GET, "/v1/sync/push"), (Method::DELETE, "/v1/patients/0190d3b4-0000-7000-8000-000000000000")]
    {
        let (status, body) = server.call(method, path, None, None).await;
        assert_api_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
    assert_healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implausible_vitals_are_rejected_with_the_limit_and_not_stored() {
    let server = TestServer::start().await;
    server.synth(6, 65).await;
    let device = server.enrol("Ward 7A").await;
    let (changes, _) = server.pull_all(&device, None, 1000).await;
    let heart_rate = observations(&changes)
        .into_iter()
        .find(|o| o.code.code == vitals::HEART_RATE && matches!(o.value, ObservationValue::Quantity(_)))
        .expect("a heart rate");
    let with_value = |code: &str, display: &str, value: f64, unit: &str| {
        let mut o = heart_rate.clone();
        o.id = Uuid::now_v7();
        o.code = Coding::loinc(code, display);
        o.value = ObservationValue::Quantity(Quantity { value, unit: unit.into() });
        o.reference_range = None;
        o.interpretation = None;
        o
    };
    let before_observations = server.row_count("observations").await;
    let before_applied = server.row_count("applied_mutations").await;

    let cases = [
        (
            with_value(vitals::HEART_RATE, "Heart rate", 900.0, "/min"),
            "heart rate (LOINC 8867-4) must be between 20 and 300 /min",
            "900",
        ),
        (with_value(vitals::BODY_TEMPERATURE, "Body temperature", 80.0, "Cel"), "between 25 and 45 Cel", "80"),
        (with_value(vitals::HEART_RATE, "Heart rate", 72.0, "Cel"), "unit must be /min", "72"),
    ];
    let good = with_value(vitals::HEART_RATE, "Heart rate", 72.0, "/min");
    let mut mutations: Vec<_> =
        cases.iter().map(|(o, _, _)| new_mutation(None, Record::Observation { observation: o.clone() })).collect();
    mutations.insert(1, new_mutation(None, Record::Observation { observation: good.clone() }));
    let pushed = server.push_ok(&device, mutations.clone()).await;
    assert!(matches!(pushed.results[1].outcome, MutationOutcome::Applied { version: 1 }), "{pushed:?}");
    let rejected: Vec<_> = pushed.results.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, r)| r).collect();
    for (result, (_, limit, value)) in rejected.iter().zip(&cases) {
        match &result.outcome {
            MutationOutcome::Rejected { reason: RejectReason::Validation, message } => {
                assert!(message.contains(limit), "{message}");
                assert!(!message.contains(value), "the message does not repeat the value: {message}");
            }
            other => panic!("{other:?}"),
        }
    }

    // An edit of a stored heart rate to 900 is refused too.
    let mut edited = heart_rate.clone();
    edited.value = ObservationValue::Quantity(Quantity { value: 900.0, unit: "/min".into() });
    let edit = new_mutation(Some(heart_rate.version), Record::Observation { observation: edited });
    let pushed = server.push_ok(&device, vec![edit.clone()]).await;
    assert!(
        matches!(&pushed.results[0].outcome, MutationOutcome::Rejected { reason: RejectReason::Validation, message } if message.contains("between 20 and 300 /min")),
        "{pushed:?}"
    );

    // Only the good one was stored; refusals are not recorded as applied and
    // are refused again when repeated.
    assert_eq!(server.row_count("observations").await, before_observations + 1);
    assert_eq!(server.row_count("applied_mutations").await, before_applied + 1);
    let owner = server.owner().await;
    let ids: Vec<Uuid> = cases.iter().map(|(o, _, _)| o.id).collect();
    let n: i64 = owner.query_one("SELECT count(*) FROM observations WHERE id = ANY($1)", &[&ids]).await.unwrap().get(0);
    assert_eq!(n, 0);
    let row = owner
        .query_one(
            "SELECT version, (body->'value'->>'value')::float8 FROM observations WHERE id = $1",
            &[&heart_rate.id],
        )
        .await
        .unwrap();
    let ObservationValue::Quantity(q) = &heart_rate.value else { unreachable!() };
    assert_eq!((row.get::<_, i64>(0), row.get::<_, f64>(1)), (heart_rate.version, q.value));
    let again = server.push_ok(&device, vec![mutations[0].clone(), edit]).await;
    assert!(
        again
            .results
            .iter()
            .all(|r| matches!(r.outcome, MutationOutcome::Rejected { reason: RejectReason::Validation, .. })),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_the_database_cannot_store_is_refused_not_500() {
    let server = TestServer::start().await;
    server.synth(6, 66).await;
    server.add_user("officer.synthetic", &[Role::PrivacyOfficer]).await;
    let device = server.enrol("Ward 7A").await;
    let officer = server.login(&device, "officer.synthetic").await;
    let (changes, _) = server.pull_all(&device, None, 1000).await;
    let ids = common::patient_ids(&changes);
    let (first, second) = (read_patient(&server, &device, ids[0]).await, read_patient(&server, &device, ids[1]).await);
    let client = server.service().await;
    let (code, _) =
        wardbook_server::enrolment::create_code(&client, "Ward 7A", chrono::Duration::hours(1)).await.unwrap();
    let before = counts(&server).await;

    // Per mutation: NUL characters, a duplicate MRN, a date PostgreSQL cannot hold.
    let mut nul_address = first.clone();
    nul_address.address = Some("1 Synthetic Way\u{0}".into());
    let mut duplicate_mrn = first.clone();
    duplicate_mrn.mrn = second.mrn.clone();
    let mut observation = observations(&changes).into_iter().find(|o| o.patient_id == first.id).unwrap();
    observation.id = Uuid::now_v7();
    let mut nul_code = observation.clone();
    nul_code.code.code = "8867-4\u{0}".into();
    let mut nul_body = observation.clone();
    nul_body.id = Uuid::now_v7();
    nul_body.recorded_by = "synthetic\u{0}nurse".into();
    let mut ancient = observation.clone();
    ancient.id = Uuid::now_v7();
    ancient.effective_at =
        chrono::NaiveDate::from_ymd_opt(-5000, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let mut nul_author = new_mutation(None, Record::Observation { observation: observation.clone() });
    nul_author.author = "nurse\u{0}".into();
    let mutations = vec![
        new_mutation(Some(first.version), Record::Patient { patient: nul_address }),
        new_mutation(Some(first.version), Record::Patient { patient: duplicate_mrn }),
        new_mutation(None, Record::Observation { observation: nul_code }),
        new_mutation(None, Record::Observation { observation: nul_body }),
        new_mutation(None, Record::Observation { observation: ancient }),
        nul_author,
    ];
    let pushed = server.push_ok(&device, mutations).await;
    for r in &pushed.results {
        assert!(
            matches!(&r.outcome, MutationOutcome::Rejected { reason: RejectReason::Validation, message }
                if !message.contains('\u{0}') && !message.contains("Synthetic Way") && !message.contains(&second.mrn)),
            "{r:?}"
        );
    }
    assert_eq!(read_patient(&server, &device, first.id).await, first);

    // Whole requests: enrolment (the document says no NUL in a device name),
    // login (no user name holds one: no such user), audit upload, reports.
    let (status, body) = server
        .call(Method::POST, "/v1/enrol", None, Some(json!({ "code": code.expose(), "device_name": "ws\u{0}" })))
        .await;
    assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_device_name");
    let (status, body) = server
        .call(
            Method::POST,
            "/v1/login",
            Some(&device.credential),
            Some(json!({ "username": "nurse\u{0}", "password": PASSWORD })),
        )
        .await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let events = AuditChain::new(device.id).take(1, "nurse\u{0}synthetic", None, 0);
    let (status, body) = server.upload_audit(&device, &events).await;
    assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_value");
    let (status, body) = server.call(Method::GET, "/v1/audit/reports?user_id=x%00y", Some(&officer), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 0, "{body}");

    assert_eq!(counts(&server).await, before, "nothing was stored");
    // The enrolment code was not used up by the refused enrolment.
    server.call(Method::POST, "/v1/enrol", None, Some(json!({ "code": code.expose(), "device_name": "ws" }))).await;
    assert_eq!(server.row_count("devices").await, 2);
    assert_healthy(&server).await;
}
