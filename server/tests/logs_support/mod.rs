//! Shared by the log tests (`logs.rs`: the service in-process; `logs_cli.rs`:
//! the real binaries): the patient data to look for, read from the database
//! the test filled, the search, and a tour of every endpoint of the API.
//! Synthetic data only.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;
use wardbook_protocol::Patient;
use wardbook_protocol::api::Change;
use wardbook_server::keys::KeySet;

use crate::common::{AuditChain, PASSWORD, TestServer, connect};

/// Log specs an operator chasing a problem might give: everything, and
/// everything plus explicit attempts to lift the guard (the statement
/// logger by name, request URIs, the extractors' rejections, and a span
/// filter that enables every event inside a request).
pub const SPECS: [&str; 2] = [
    "trace",
    "trace,tokio_postgres=trace,tokio_postgres::query=trace,tower_http=trace,axum::rejection=trace,[request]=trace",
];

/// One value of patient data and what it is (for the failure message, which
/// never prints the value).
pub struct Needle {
    pub kind: &'static str,
    pub value: String,
}

/// The central database as its owner reads it, with the data keys that
/// open the identifiers it holds sealed.
pub struct Central {
    url: String,
    keys: Arc<KeySet>,
}

impl Central {
    pub fn new(url: &str, keys: Arc<KeySet>) -> Central {
        Central { url: url.to_owned(), keys }
    }

    /// The in-process service's database, with its keys.
    pub async fn of(server: &TestServer) -> Central {
        Central::new(&server.owner_url, server.state.keys.get().await.expect("the data keys"))
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }

    /// Every patient, identifiers opened, by MRN.
    pub async fn patients(&self) -> Vec<Patient> {
        wardbook_server::admin::patients(&mut self.client().await, &self.keys).await.expect("the stored patients")
    }
}

/// Every synthetic identity in the central database: names, MRN, date of
/// birth as PostgreSQL, serde and `Display` print it (1950-03-02), phone,
/// email, address.
pub async fn needles(central: &Central) -> Vec<Needle> {
    let patients = central.patients().await;
    assert!(!patients.is_empty(), "the test loaded synthetic patients");
    let mut out = Vec::new();
    for p in patients {
        for (kind, value) in [
            ("an MRN", Some(p.mrn)),
            ("a given name", Some(p.given_name)),
            ("a family name", Some(p.family_name)),
            ("a date of birth", Some(p.birth_date.to_string())),
            ("a phone number", p.phone),
            ("an email address", p.email),
            ("an address", p.address),
        ] {
            out.extend(value.map(|value| Needle { kind, value }));
        }
    }
    out
}

/// True when `needle` occurs in `text` as a whole word: not inside a longer
/// run of letters and digits ("Kim" in a name, not in "Kimono").
fn contains_word(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Fails when any needle is in `text`, naming `what` printed it, the kind of
/// value and the offending line with the value masked.
pub fn assert_no_patient_data(what: &str, text: &str, needles: &[Needle]) {
    for needle in needles {
        if contains_word(text, &needle.value) {
            let line = text.lines().find(|l| contains_word(l, &needle.value)).unwrap_or_default();
            let masked = needles.iter().fold(line.to_owned(), |l, n| l.replace(&n.value, "<PHI>"));
            panic!("{what} printed {} ({} characters) in:\n{masked}", needle.kind, needle.value.chars().count());
        }
    }
}

/// The API, in-process (the router) or over HTTP (a `serve` process).
pub enum Api<'a> {
    InProcess(&'a TestServer),
    Http { base: String, client: reqwest::Client },
}

impl Api<'_> {
    /// One request; `bearer` goes in Authorization, `device` in the device
    /// header (break-the-glass). The answer parsed as JSON (`Null` if empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        device: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        match self {
            Api::InProcess(server) => {
                let mut req = Request::builder().method(method).uri(path);
                if let Some(token) = bearer {
                    req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
                }
                if let Some(credential) = device {
                    req = req.header(wardbook_server::auth::DEVICE_HEADER, credential);
                }
                let req = match body {
                    Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
                    None => req.body(Body::empty()),
                };
                server.send(req.unwrap()).await
            }
            Api::Http { base, client } => {
                let mut req = client.request(method, format!("{base}{path}"));
                if let Some(token) = bearer {
                    req = req.bearer_auth(token);
                }
                if let Some(credential) = device {
                    req = req.header(wardbook_server::auth::DEVICE_HEADER, credential);
                }
                if let Some(b) = body {
                    req = req.json(&b);
                }
                let response = req.send().await.expect("the service answers");
                let status = response.status();
                let bytes = response.bytes().await.unwrap();
                let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
                (status, value)
            }
        }
    }

    async fn expect(
        &self,
        want: StatusCode,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        device: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let (status, answer) = self.call(method.clone(), path, bearer, device, body).await;
        assert_eq!(status, want, "{method} {path}: {answer}");
        answer
    }
}

/// Who the tour acts as: users made beforehand (password [`PASSWORD`]) and
/// a single-use enrolment code for Ward 7A.
pub struct Cast<'a> {
    pub code: &'a str,
    pub clinician: &'a str,
    pub officer: &'a str,
    pub admin: &'a str,
}

/// (patient id, MRN) of a patient assigned to `location` only, the first by MRN.
async fn patient_on(central: &Central, location: &str) -> (Uuid, String) {
    let only_there: Vec<Uuid> = central
        .client()
        .await
        .query(
            "SELECT p.id FROM patients p
              WHERE EXISTS (SELECT 1 FROM patient_locations pl JOIN locations l ON l.id = pl.location_id
                             WHERE pl.patient_id = p.id AND pl.active AND l.code = $1)
                AND NOT EXISTS (SELECT 1 FROM patient_locations pl JOIN locations l ON l.id = pl.location_id
                             WHERE pl.patient_id = p.id AND pl.active AND l.code <> $1)",
            &[&location],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let first = central.patients().await.into_iter().find(|p| only_there.contains(&p.id));
    let first = first.unwrap_or_else(|| panic!("a patient on {location} only"));
    (first.id, first.mrn)
}

async fn login(api: &Api<'_>, credential: &str, username: &str) -> String {
    let body = json!({ "username": username, "password": PASSWORD });
    let answer = api.expect(StatusCode::OK, Method::POST, "/v1/login", Some(credential), None, Some(body)).await;
    answer["token"].as_str().unwrap().to_owned()
}

fn mutation(author: &str, patient: &Patient) -> Value {
    json!({ "mutations": [{ "id": Uuid::now_v7(), "base_version": patient.version, "author": author,
        "authored_at": chrono::Utc::now(), "record": { "type": "patient", "patient": patient } }] })
}

/// Every endpoint of `/v1`, as workstations, clinicians, the privacy office
/// and IT use it, with the refusals that quote what the caller sent
/// (a name as a username, an MRN as a patient id, in a query string, in a
/// malformed body, break-the-glass by MRN). Asserts each answer's status so
/// a path that stopped working cannot pass as "logged nothing".
pub async fn tour(api: &Api<'_>, cast: &Cast<'_>, central: &Central) {
    use Method as M;
    use StatusCode as S;
    api.expect(S::OK, M::GET, "/v1/health", None, None, None).await;
    api.expect(S::OK, M::GET, "/v1/openapi.json", None, None, None).await;

    // A workstation enrols, identifies itself, and its users log in.
    let enrol = json!({ "code": cast.code, "device_name": "synthetic-log-workstation" });
    let enrolled = api.expect(S::CREATED, M::POST, "/v1/enrol", None, None, Some(enrol)).await;
    let device_id: Uuid = enrolled["device_id"].as_str().unwrap().parse().unwrap();
    let credential = enrolled["credential"].as_str().unwrap().to_owned();
    let cred = Some(credential.as_str());
    api.expect(S::OK, M::GET, "/v1/device", cred, None, None).await;
    let nurse = login(api, &credential, cast.clinician).await;
    let officer = login(api, &credential, cast.officer).await;
    let admin = login(api, &credential, cast.admin).await;

    // The ward comes down.
    let mut patients: Vec<Patient> = Vec::new();
    let mut path = "/v1/sync/pull?limit=3".to_owned();
    loop {
        let page = api.expect(S::OK, M::GET, &path, cred, None, None).await;
        for change in serde_json::from_value::<Vec<Change>>(page["changes"].clone()).unwrap() {
            if let Change::Patient { patient } = change {
                patients.push(patient);
            }
        }
        if page["has_more"] != true {
            break;
        }
        path = format!("/v1/sync/pull?limit=3&cursor={}", page["cursor"].as_str().unwrap());
    }
    let first = patients.first().expect("Ward 7A has patients").clone();

    // Refused logins that carry patient data.
    let name_as_user = json!({ "username": first.family_name, "password": 5 });
    api.expect(S::BAD_REQUEST, M::POST, "/v1/login", cred, None, Some(name_as_user)).await;
    let mrn_as_user = json!({ "username": first.mrn, "password": "not-the-password" });
    api.expect(S::UNAUTHORIZED, M::POST, "/v1/login", cred, None, Some(mrn_as_user)).await;

    // Edits: applied, the same again (a conflict), an invalid one, a malformed one.
    let mut edited = first.clone();
    edited.address = Some(format!("{} Synthetic Street", first.family_name));
    for _ in 0..2 {
        api.expect(S::OK, M::POST, "/v1/sync/push", cred, None, Some(mutation(cast.clinician, &edited))).await;
    }
    let mut invalid = first.clone();
    invalid.phone = Some(format!("{}-not-a-phone", first.given_name));
    api.expect(S::OK, M::POST, "/v1/sync/push", cred, None, Some(mutation(cast.clinician, &invalid))).await;
    let malformed = json!({ "mutations": [{ "id": first.mrn, "record": { "type": "patient",
        "patient": { "mrn": first.mrn, "given_name": first.given_name, "birth_date": 5 } } }] });
    api.expect(S::BAD_REQUEST, M::POST, "/v1/sync/push", cred, None, Some(malformed)).await;

    // Reading one patient: in scope, out of scope, an MRN where the id goes,
    // an MRN in a query string of a path that does not exist.
    let (outside, outside_mrn) = patient_on(central, "Ward 7B").await;
    api.expect(S::OK, M::GET, &format!("/v1/patients/{}", first.id), cred, None, None).await;
    api.expect(S::FORBIDDEN, M::GET, &format!("/v1/patients/{outside}"), cred, None, None).await;
    api.expect(S::BAD_REQUEST, M::GET, &format!("/v1/patients/{}", first.mrn), cred, None, None).await;
    api.expect(S::NOT_FOUND, M::GET, &format!("/v1/patients?mrn={}", first.mrn), cred, None, None).await;

    // Break-the-glass by MRN: granted, refused without a reason, refused for
    // a role that may not, and an MRN typed with spaces around it.
    let reason = "Collapsed in the corridor outside 7A; need allergies before treating";
    let glass = |mrn: &str, reason: &str| Some(json!({ "mrn": mrn, "reason": reason }));
    let path = "/v1/break-glass";
    api.expect(S::OK, M::POST, path, Some(&nurse), cred, glass(&outside_mrn, reason)).await;
    api.expect(S::OK, M::POST, path, Some(&nurse), cred, glass(&format!(" {outside_mrn} "), reason)).await;
    api.expect(S::BAD_REQUEST, M::POST, path, Some(&nurse), cred, glass(&outside_mrn, "short")).await;
    api.expect(S::FORBIDDEN, M::POST, path, Some(&officer), cred, glass(&outside_mrn, reason)).await;

    // The audit trail: uploaded, then reported by patient and by user.
    let events = AuditChain::new(device_id).take(3, cast.clinician, Some(first.id), 0);
    api.expect(S::OK, M::POST, "/v1/audit/events", cred, None, Some(json!({ "events": events }))).await;
    let by_patient = format!("/v1/audit/reports?patient_id={}", first.id);
    api.expect(S::OK, M::GET, &by_patient, Some(&officer), None, None).await;
    let by_user = format!("/v1/audit/reports?user_id={}&sort=asc", cast.clinician);
    api.expect(S::OK, M::GET, &by_user, Some(&officer), None, None).await;

    // IT: a code enrols a second workstation, which is revoked; a Ward 7B
    // code moves the first one.
    let path = "/v1/admin/enrolment-codes";
    let code = api.expect(S::CREATED, M::POST, path, Some(&admin), None, Some(json!({ "location": "Ward 7A" }))).await;
    let second = json!({ "code": code["code"], "device_name": "synthetic-log-workstation-2" });
    let second = api.expect(S::CREATED, M::POST, "/v1/enrol", None, None, Some(second)).await;
    let revoke = format!("/v1/admin/devices/{}/revoke", second["device_id"].as_str().unwrap());
    let (status, answer) = api.call(M::POST, &revoke, Some(&admin), None, None).await;
    assert!(status.is_success(), "{revoke}: {status} {answer}");
    let revoke_mrn = format!("/v1/admin/devices/{}/revoke", first.mrn);
    api.expect(S::BAD_REQUEST, M::POST, &revoke_mrn, Some(&admin), None, None).await;
    let code_b =
        api.expect(S::CREATED, M::POST, path, Some(&admin), None, Some(json!({ "location": "Ward 7B" }))).await;
    api.expect(S::OK, M::POST, "/v1/reenrol", cred, None, Some(json!({ "code": code_b["code"] }))).await;
}
