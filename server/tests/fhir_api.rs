//! `/fhir/r4` over a real PostgreSQL database (issue 14 item 6): a
//! transaction Bundle imported and read back by `$everything` unchanged, a
//! repeat that writes nothing, batches and transactions with a bad entry,
//! what is refused and how, who may call, and the audit trail exported as
//! AuditEvents. Every answer is FHIR JSON, and every resource in it is
//! valid against HL7's R4 schema ([`fhir_support`]). Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fhir_support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{AuditChain, PASSWORD, TestServer, at};
use fhir_support::assert_valid;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;
use wardbook_protocol::api::Role;
use wardbook_protocol::{AuditAction, AuditEvent, AuditSubtype, LOINC, PurposeOfUse, RXNORM, SNOMED_CT, UCUM};
use wardbook_server::fhir::convert::systems;
use wardbook_server::fhir::resources::Resource;
use wardbook_server::fhir::store::{self, Context};

/// The MRN system of the test server (the setting's default).
const MRN_SYSTEM: &str = "urn:wardbook:mrn";
const MRN: &str = "SYN-4711";
const FHIR_JSON: &str = "application/fhir+json";

/// One answer of the interface.
struct Answer {
    status: StatusCode,
    body: Value,
    /// The body as sent, to search for values that must not be in it.
    text: String,
    www_authenticate: Option<String>,
}

/// One request through the router in-process. Every answer must be FHIR
/// JSON, and valid FHIR R4.
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, String)>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path).header(header::HOST, "wardbook.test");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some((content_type, text)) => request.header(header::CONTENT_TYPE, content_type).body(Body::from(text)),
        None => request.body(Body::empty()),
    };
    let response = server.router.clone().oneshot(request.unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    assert_eq!(
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some(FHIR_JSON),
        "{path} answers FHIR JSON"
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let body: Value = serde_json::from_str(&text).expect("a JSON body");
    assert_valid(&format!("the answer to {path} ({status})"), &body);
    let www_authenticate = headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Answer { status, body, text, www_authenticate }
}

async fn get(server: &TestServer, path: &str, token: &str) -> Answer {
    call(server, Method::GET, path, Some(token), None).await
}

async fn post(server: &TestServer, bundle: &Value, token: &str) -> Answer {
    call(server, Method::POST, "/fhir/r4", Some(token), Some((FHIR_JSON, bundle.to_string()))).await
}

/// A server with ward 7A and an integration client's token.
async fn server_and_client() -> (TestServer, String) {
    let server = TestServer::start().await;
    wardbook_server::admin::location_add(&server.service().await, "7A", "Ward 7A").await.unwrap();
    server.add_user("engine.synthetic", &[Role::Integration]).await;
    let (status, body) = server
        .call(Method::POST, "/v1/login", None, Some(json!({ "username": "engine.synthetic", "password": PASSWORD })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (server, body["token"].as_str().unwrap().to_owned())
}

fn htest() -> Value {
    json!({"security": [{"system": systems::V3_ACT_REASON, "code": "HTEST", "display": "test health data"}]})
}

fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({"coding": [{"system": system, "code": code, "display": display}]})
}

fn quantity(value: f64, unit: &str) -> Value {
    json!({"value": value, "unit": unit, "system": UCUM, "code": unit})
}

fn uuid_identifier(id: Uuid) -> Value {
    json!([{"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}")}])
}

/// A synthetic patient, as `$everything` gives one back.
fn patient(mrn: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "meta": htest(),
        "identifier": [{
            "use": "usual",
            "type": concept(systems::V2_IDENTIFIER_TYPE, "MR", "Medical record number"),
            "system": MRN_SYSTEM,
            "value": mrn,
        }],
        "active": true,
        "name": [{"use": "official", "family": "Testperson", "given": ["Alexandra"]}],
        "telecom": [{"system": "phone", "value": "+44 7700 900123"}, {"system": "email", "value": "alexandra@example.org"}],
        "gender": "female",
        "birthDate": "1968-04-12",
        "address": [{"text": "1 Synthetic Street, Testtown"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-GB"}]}, "preferred": true}],
    })
}

/// The patient on ward 7A, bed 12.
fn encounter(subject: &str) -> Value {
    let place = |name: &str, code: &str, display: &str| {
        json!({
            "location": {"display": name},
            "status": "active",
            "physicalType": concept(systems::LOCATION_PHYSICAL_TYPE, code, display),
        })
    };
    json!({
        "resourceType": "Encounter",
        "meta": htest(),
        "status": "in-progress",
        "class": {"system": systems::V3_ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "subject": {"reference": subject},
        "location": [place("7A", "wa", "Ward"), place("12", "bd", "Bed")],
    })
}

/// An observation of `category` with `value` (`valueQuantity`, ... as one
/// member), and `extra` members (reference range, interpretation).
fn observation(subject: &str, category: &str, code: Value, value: Value, extra: Value) -> Value {
    let category_display = if category == "vital-signs" { "Vital Signs" } else { "Laboratory" };
    let mut o = json!({
        "resourceType": "Observation",
        "meta": htest(),
        "identifier": uuid_identifier(Uuid::now_v7()),
        "status": "final",
        "category": [concept(systems::OBSERVATION_CATEGORY, category, category_display)],
        "code": code,
        "subject": {"reference": subject},
        "effectiveDateTime": "2026-03-01T08:00:00Z",
    });
    o.as_object_mut().unwrap().extend(value.as_object().unwrap().clone());
    o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    o
}

fn heart_rate(subject: &str, value: f64) -> Value {
    observation(
        subject,
        "vital-signs",
        concept(LOINC, "8867-4", "Heart rate"),
        json!({"valueQuantity": quantity(value, "/min")}),
        json!({
            "referenceRange": [{"low": quantity(60.0, "/min"), "high": quantity(100.0, "/min")}],
            "interpretation": [concept(systems::OBSERVATION_INTERPRETATION, "N", "Normal")],
        }),
    )
}

/// One observation of each kind of value: a vital sign, a laboratory
/// result with interpretation and reference range, text, yes/no, coded.
fn observations(subject: &str) -> Vec<Value> {
    let lab = |code: &str, display: &str, value: Value| {
        observation(subject, "laboratory", concept(LOINC, code, display), value, json!({}))
    };
    let mut culture = lab(
        "600-7",
        "Bacteria identified in Blood by Culture",
        json!({"valueCodeableConcept": concept(SNOMED_CT, "260385009", "Negative")}),
    );
    culture["status"] = json!("preliminary");
    vec![
        heart_rate(subject, 88.0),
        observation(
            subject,
            "laboratory",
            concept(LOINC, "2823-3", "Potassium [Moles/volume] in Serum or Plasma"),
            json!({"valueQuantity": quantity(5.9, "mmol/L")}),
            json!({
                "referenceRange": [{"low": quantity(3.5, "mmol/L"), "high": quantity(5.1, "mmol/L")}],
                "interpretation": [concept(systems::OBSERVATION_INTERPRETATION, "H", "High")],
            }),
        ),
        lab("5778-6", "Color of Urine", json!({"valueString": "Straw"})),
        lab("20454-5", "Protein [Presence] in Urine by Test strip", json!({"valueBoolean": false})),
        culture,
    ]
}

fn allergy(subject: &str) -> Value {
    json!({
        "resourceType": "AllergyIntolerance",
        "meta": htest(),
        "identifier": uuid_identifier(Uuid::now_v7()),
        "clinicalStatus": concept(systems::ALLERGY_CLINICAL, "active", "Active"),
        "verificationStatus": concept(systems::ALLERGY_VERIFICATION, "confirmed", "Confirmed"),
        "type": "allergy",
        "category": ["medication"],
        "criticality": "high",
        "code": concept(RXNORM, "7980", "Penicillin G"),
        "patient": {"reference": subject},
        "recordedDate": "2026-02-20T10:30:00Z",
        "reaction": [{"manifestation": [concept(SNOMED_CT, "247472004", "Hives")], "severity": "moderate"}],
    })
}

/// A Bundle of `type` whose entries POST these resources (`fullUrl` when given).
fn bundle(type_: &str, resources: Vec<(Option<&str>, Value)>) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|(full_url, resource)| {
            let kind = resource["resourceType"].as_str().unwrap().to_owned();
            let mut entry = json!({"resource": resource, "request": {"method": "POST", "url": kind}});
            if let Some(url) = full_url {
                entry["fullUrl"] = json!(url);
            }
            entry
        })
        .collect();
    json!({"resourceType": "Bundle", "type": type_, "entry": entries})
}

/// The import of the tests: the patient (by placeholder), the stay, five
/// observations and an allergy. Returns the Bundle and its resources.
fn import() -> (Value, Vec<Value>) {
    let placeholder = format!("urn:uuid:{}", Uuid::new_v4());
    let mut resources = vec![patient(MRN), encounter(&placeholder)];
    resources.extend(observations(&placeholder));
    resources.push(allergy(&placeholder));
    let entries = resources
        .iter()
        .map(|r| (if r["resourceType"] == "Patient" { Some(placeholder.as_str()) } else { None }, r.clone()))
        .collect();
    (bundle("transaction", entries), resources)
}

/// What the server owns is left out: ids, versions, times. A reference to
/// the patient is made the one the server gives (`Patient/{id}`). Numbers
/// compare as numbers (`88` and `88.0` are one value).
fn comparable(resource: &Value, patient_id: Uuid) -> Value {
    fn numbers(v: &mut Value) {
        match v {
            Value::Number(n) => *v = json!(n.as_f64().unwrap()),
            Value::Array(items) => items.iter_mut().for_each(numbers),
            Value::Object(map) => map.values_mut().for_each(numbers),
            _ => {}
        }
    }
    let mut r = resource.clone();
    let map = r.as_object_mut().unwrap();
    map.remove("id");
    if let Some(meta) = map.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
    }
    for reference in ["subject", "patient"] {
        if map.contains_key(reference) {
            map.insert(reference.to_owned(), json!({"reference": format!("Patient/{patient_id}")}));
        }
    }
    numbers(&mut r);
    r
}

/// The resources of a searchset Bundle.
fn resources(bundle: &Value) -> Vec<Value> {
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let paged = bundle["link"].as_array().is_some_and(|l| l.iter().any(|l| l["relation"] != "self"));
    if !paged {
        assert_eq!(bundle["total"], entries.len(), "total counts the entries");
    }
    entries.iter().map(|e| e["resource"].clone()).collect()
}

/// The response entries' statuses.
fn statuses(answer: &Answer) -> Vec<String> {
    answer.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap().to_owned())
        .collect()
}

/// The issues of an OperationOutcome as (code, expression).
fn issues(outcome: &Value) -> Vec<(String, Vec<String>)> {
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let expression =
                i["expression"].as_array().map(|e| e.iter().map(|p| p.as_str().unwrap().to_owned()).collect());
            (i["code"].as_str().unwrap().to_owned(), expression.unwrap_or_default())
        })
        .collect()
}

/// Every row version the import can touch, by table and id.
async fn versions(server: &TestServer) -> Vec<(String, String, i64)> {
    let owner = server.owner().await;
    let mut out = Vec::new();
    for (table, key) in [
        ("patients", "id::text"),
        ("observations", "id::text"),
        ("allergies", "id::text"),
        ("patient_locations", "patient_id::text || location_id::text"),
    ] {
        let rows = owner.query(&format!("SELECT {key}, version FROM {table} ORDER BY 1"), &[]).await.unwrap();
        out.extend(rows.iter().map(|r| (table.to_owned(), r.get(0), r.get(1))));
    }
    out
}

/// The id in a response entry's `location` (`Patient/{id}`).
fn location_id(entry: &Value, resource_type: &str) -> Uuid {
    let location = entry["response"]["location"].as_str().unwrap();
    location.strip_prefix(&format!("{resource_type}/")).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_back_unchanged_and_a_repeat_changes_nothing() {
    let (server, token) = server_and_client().await;
    let (import, sent) = import();

    let answer = post(&server, &import, &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["type"], "transaction-response");
    let created = [
        "201 Created",
        "200 OK",
        "201 Created",
        "201 Created",
        "201 Created",
        "201 Created",
        "201 Created",
        "201 Created",
    ];
    assert_eq!(statuses(&answer), created, "an entry per request entry, in order (the stay updates the patient)");
    let patient_id = location_id(&answer.body["entry"][0], "Patient");
    assert_eq!(location_id(&answer.body["entry"][1], "Encounter"), patient_id, "the stay is the patient's");

    // $everything gives back what was sent, element by element.
    let everything = get(&server, &format!("/fhir/r4/Patient/{patient_id}/$everything"), &token).await;
    assert_eq!(everything.status, StatusCode::OK, "{}", everything.body);
    let back = resources(&everything.body);
    assert_eq!(back.len(), sent.len(), "{}", everything.body);
    assert_eq!(everything.body["entry"][0]["search"]["mode"], "match");
    assert_eq!(everything.body["entry"][0]["fullUrl"], format!("http://wardbook.test/fhir/r4/Patient/{patient_id}"));
    for resource in &sent {
        let want = comparable(resource, patient_id);
        let found: Vec<&Value> = back
            .iter()
            .filter(|r| r["resourceType"] == resource["resourceType"] && r["identifier"] == resource["identifier"])
            .filter(|r| {
                r["resourceType"] != "Encounter" || r["subject"]["reference"] == format!("Patient/{patient_id}")
            })
            .collect();
        let [found] = found.as_slice() else { panic!("one {} back for {want}", resource["resourceType"]) };
        assert_eq!(comparable(found, patient_id), want, "{} reads back as sent", resource["resourceType"]);
    }
    let stored: (Option<String>, Option<String>, i64) = {
        let row = server.owner().await.query_one("SELECT location, bed, version FROM patients", &[]).await.unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    assert_eq!((stored.0.as_deref(), stored.1.as_deref()), (Some("7A"), Some("12")), "on ward 7A, bed 12");

    // The same Bundle again: every entry found, no row written.
    let before = versions(&server).await;
    let again = post(&server, &import, &token).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(statuses(&again), vec!["200 OK"; sent.len()]);
    assert_eq!(location_id(&again.body["entry"][0], "Patient"), patient_id);
    assert_eq!(versions(&server).await, before, "a repeat changes no row version");
    assert_eq!(server.row_count("patients").await, 1);
    assert_eq!(server.row_count("observations").await, 5);

    // The searches find the same resources.
    let search = |query: String| {
        let server = &server;
        let token = &token;
        async move { resources(&get(server, &format!("/fhir/r4/{query}"), token).await.body) }
    };
    assert_eq!(search(format!("Observation?patient=Patient/{patient_id}")).await.len(), 5);
    assert_eq!(search(format!("Observation?patient={patient_id}&category=laboratory")).await.len(), 4);
    let heart = search(format!("Observation?patient=Patient/{patient_id}&code={LOINC}|8867-4")).await;
    assert_eq!(heart.len(), 1);
    assert_eq!(heart[0]["valueQuantity"]["value"], 88.0);
    assert_eq!(search(format!("AllergyIntolerance?patient=Patient/{patient_id}")).await.len(), 1);
    let stays = search(format!("Encounter?patient=Patient/{patient_id}")).await;
    assert_eq!(stays.len(), 1);
    assert_eq!(stays[0]["location"][1]["location"]["display"], "12");
    let by_mrn = search(format!("Patient?identifier={MRN_SYSTEM}|{MRN}")).await;
    assert_eq!(by_mrn.len(), 1);
    assert_eq!(by_mrn[0]["id"], patient_id.to_string());
    assert_eq!(search(format!("Patient?_id={patient_id}")).await.len(), 1);
    assert!(search(format!("Patient?identifier={MRN_SYSTEM}|SYN-0000")).await.is_empty());
    assert!(search(format!("Observation?patient=Patient/{}", Uuid::new_v4())).await.is_empty());
    let read = get(&server, &format!("/fhir/r4/Patient/{patient_id}"), &token).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(comparable(&read.body, patient_id), comparable(&sent[0], patient_id));
    let missing = get(&server, &format!("/fhir/r4/Patient/{}/$everything", Uuid::new_v4()), &token).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(issues(&missing.body)[0].0, "not-found");

    // A discharge of the stay Wardbook exported takes the patient off the ward.
    let mut discharge = stays[0].clone();
    discharge["status"] = json!("finished");
    discharge.as_object_mut().unwrap().remove("meta");
    discharge["meta"] = htest();
    let answer = post(&server, &bundle("transaction", vec![(None, discharge)]), &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(search(format!("Encounter?patient=Patient/{patient_id}")).await.is_empty(), "discharged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_applies_the_good_entries_and_reports_the_bad_one_by_path() {
    let (server, token) = server_and_client().await;
    let (import, _) = import();
    let answer = post(&server, &import, &token).await;
    let patient_id = location_id(&answer.body["entry"][0], "Patient");
    let observations_before = server.row_count("observations").await;

    let by_mrn = json!({"identifier": {"system": MRN_SYSTEM, "value": MRN}});
    let mut good = heart_rate("placeholder", 91.0);
    good["subject"] = by_mrn;
    let mut implausible = heart_rate(&format!("Patient/{patient_id}"), 917.0);
    implausible["effectiveDateTime"] = json!("2026-03-01T09:00:00Z");
    let stranger = heart_rate(&format!("Patient/{}", Uuid::new_v4()), 72.0);
    let mut second_allergy = allergy(&format!("Patient/{patient_id}"));
    second_allergy["code"] = concept(RXNORM, "2670", "Codeine");
    let batch = bundle("batch", vec![(None, good), (None, implausible), (None, second_allergy), (None, stranger)]);

    let answer = post(&server, &batch, &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["type"], "batch-response");
    assert_eq!(statuses(&answer), ["201 Created", "400 Bad Request", "201 Created", "422 Unprocessable Entity"]);
    let entries = answer.body["entry"].as_array().unwrap();
    assert_eq!(
        issues(&entries[1]["response"]["outcome"]),
        [("value".to_owned(), vec!["Bundle.entry[1].resource.valueQuantity.value".to_owned()])]
    );
    assert_eq!(
        issues(&entries[3]["response"]["outcome"]),
        [("business-rule".to_owned(), vec!["Bundle.entry[3].resource.subject".to_owned()])]
    );
    // The value as a word of its own (ids in the answer may hold the digits).
    let words = answer.text.split(|c: char| !c.is_ascii_alphanumeric() && c != '.');
    assert!(!words.into_iter().any(|w| w == "917" || w.starts_with("917.")), "no value in the answer: {}", answer.text);
    assert_eq!(server.row_count("observations").await, observations_before + 1, "the good observation only");
    assert_eq!(server.row_count("allergies").await, 2);
    let rates = get(&server, &format!("/fhir/r4/Observation?patient={patient_id}&code=8867-4"), &token).await;
    let values: Vec<f64> =
        resources(&rates.body).iter().map(|o| o["valueQuantity"]["value"].as_f64().unwrap()).collect();
    assert_eq!(values.len(), 2);
    assert!(values.contains(&91.0) && values.contains(&88.0), "{values:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_with_one_bad_entry_writes_nothing() {
    let (server, token) = server_and_client().await;
    let placeholder = format!("urn:uuid:{}", Uuid::new_v4());
    let transaction = bundle(
        "transaction",
        vec![
            (Some(placeholder.as_str()), patient(MRN)),
            (None, encounter(&placeholder)),
            (None, heart_rate(&placeholder, 80.0)),
            (None, heart_rate(&placeholder, 917.0)),
        ],
    );
    let answer = post(&server, &transaction, &token).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(
        issues(&answer.body),
        [("value".to_owned(), vec!["Bundle.entry[3].resource.valueQuantity.value".to_owned()])]
    );
    assert!(!answer.text.contains("917") && !answer.text.contains(MRN), "no value in the answer: {}", answer.text);
    for table in ["patients", "phi.patient_identities", "observations", "patient_locations", "phi.external_ids"] {
        assert_eq!(server.row_count(table).await, 0, "nothing written to {table}");
    }

    // A reference to no patient at all is refused by its element.
    let orphan = bundle("transaction", vec![(None, heart_rate("urn:uuid:00000000-0000-0000-0000-000000000001", 80.0))]);
    let answer = post(&server, &orphan, &token).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
    assert_eq!(issues(&answer.body)[0].1, ["Bundle.entry[0].resource.subject"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_and_unsupported_elements_are_reported_never_dropped() {
    let (server, token) = server_and_client().await;
    let mut married = patient(MRN);
    married["maritalStatus"] = json!({"text": "Zebediah-Secret-Status"});
    let medication = json!({"resourceType": "Medication", "code": {"text": "Secret-Medication-Name"}});

    let answer = post(&server, &bundle("transaction", vec![(None, married.clone())]), &token).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
    assert_eq!(
        issues(&answer.body),
        [("not-supported".to_owned(), vec!["Bundle.entry[0].resource.maritalStatus".to_owned()])]
    );

    let answer =
        post(&server, &bundle("transaction", vec![(None, patient(MRN)), (None, medication.clone())]), &token).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
    assert_eq!(issues(&answer.body), [("not-supported".to_owned(), vec!["Bundle.entry[1].resource".to_owned()])]);
    assert_eq!(server.row_count("patients").await, 0);

    // In a batch, each is reported in its entry and the good one stands.
    let batch = bundle("batch", vec![(None, medication), (None, married), (None, patient(MRN))]);
    let answer = post(&server, &batch, &token).await;
    assert_eq!(statuses(&answer), ["422 Unprocessable Entity", "422 Unprocessable Entity", "201 Created"]);
    assert!(!answer.text.contains("Secret") && !answer.text.contains("Zebediah"), "{}", answer.text);
    assert_eq!(server.row_count("patients").await, 1);

    // An element the stay cannot keep, and a Bundle that is no transaction.
    let mut stay = encounter("Patient/00000000-0000-0000-0000-000000000001");
    stay["period"] = json!({"start": "2026-03-01T08:00:00Z"});
    let answer = post(&server, &bundle("transaction", vec![(None, stay)]), &token).await;
    assert_eq!(
        issues(&answer.body),
        [("not-supported".to_owned(), vec!["Bundle.entry[0].resource.period".to_owned()])]
    );
    let answer = post(&server, &json!({"resourceType": "Bundle", "type": "collection"}), &token).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(issues(&answer.body)[0], ("code-invalid".to_owned(), vec!["Bundle.type".to_owned()]));
    let answer =
        call(&server, Method::POST, "/fhir/r4", Some(&token), Some((FHIR_JSON, "{\"resourceType\":".into()))).await;
    assert_eq!((answer.status, issues(&answer.body)[0].0.as_str()), (StatusCode::BAD_REQUEST, "structure"));
    let answer = get(&server, "/fhir/r4/Observation?patient=x&value-quantity=5", &token).await;
    assert_eq!((answer.status, issues(&answer.body)[0].0.as_str()), (StatusCode::BAD_REQUEST, "not-supported"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_integration_clients_reach_the_interface() {
    let (server, token) = server_and_client().await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let workstation = server.enrol("7A").await;
    let nurse = server.login(&workstation, "nurse.synthetic").await;
    let (import, _) = import();
    let patient = Uuid::new_v4();
    let paths = [
        format!("/fhir/r4/Patient/{patient}/$everything"),
        format!("/fhir/r4/Observation?patient=Patient/{patient}"),
        format!("/fhir/r4/AuditEvent?patient=Patient/{patient}"),
    ];

    for path in &paths {
        let answer = get(&server, path, &workstation.credential).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}: a device credential");
        assert_eq!(issues(&answer.body)[0].0, "login");
        assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer"));
        let answer = get(&server, path, &nurse).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}: a workstation session");
        assert_eq!(issues(&answer.body)[0].0, "forbidden");
        let answer = call(&server, Method::GET, path, None, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}: no credential");
    }
    for credential in [workstation.credential.as_str(), nurse.as_str()] {
        let answer = post(&server, &import, credential).await;
        assert!([StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&answer.status));
    }
    assert_eq!(server.row_count("patients").await, 0, "nothing written by anyone else");

    // The CapabilityStatement is public.
    let metadata = call(&server, Method::GET, "/fhir/r4/metadata", None, None).await;
    assert_eq!(metadata.status, StatusCode::OK);
    assert_eq!(metadata.body["resourceType"], "CapabilityStatement");
    assert_eq!(metadata.body["implementation"]["url"], "http://wardbook.test/fhir/r4");

    // Bodies are FHIR JSON or JSON; anything else is refused.
    let answer = call(&server, Method::POST, "/fhir/r4", Some(&token), Some(("text/plain", import.to_string()))).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(issues(&answer.body)[0].0, "not-supported");
    let answer = call(
        &server,
        Method::POST,
        "/fhir/r4",
        Some(&token),
        Some(("application/json; charset=utf-8", import.to_string())),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // Unknown paths, methods and types answer an OperationOutcome too.
    let answer = get(&server, "/fhir/r4/Patient/a/b/c", &token).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = call(&server, Method::DELETE, &format!("/fhir/r4/Patient/{patient}"), Some(&token), None).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    let answer = get(&server, "/fhir/r4/Medication?code=1", &token).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

/// The next event of `chain`, of `subtype`, `action` and `purpose`.
fn event(
    chain: &mut AuditChain,
    user: &str,
    patient: Option<Uuid>,
    minute: i64,
    (subtype, action, purpose): (AuditSubtype, AuditAction, PurposeOfUse),
) -> AuditEvent {
    let mut e = chain.next(user, patient, at(minute));
    (e.subtype, e.action, e.purpose_of_use) = (subtype, action, purpose);
    let e = e.seal();
    chain.prev_hash = e.hash.clone();
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_exports_as_audit_events() {
    let (server, token) = server_and_client().await;
    let workstation = server.enrol("7A").await;
    let nurse = server.add_user("nurse.synthetic", &[Role::Clinician]).await.to_string();
    server.login(&workstation, "nurse.synthetic").await;
    let (import, _) = import();
    let patient = location_id(&post(&server, &import, &token).await.body["entry"][0], "Patient");

    let mut chain = AuditChain::new(workstation.id);
    let events = vec![
        event(
            &mut chain,
            &nurse,
            Some(patient),
            0,
            (AuditSubtype::ChartOpen, AuditAction::Read, PurposeOfUse::Treatment),
        ),
        event(&mut chain, &nurse, Some(patient), 1, (AuditSubtype::Print, AuditAction::Read, PurposeOfUse::Treatment)),
        event(
            &mut chain,
            &nurse,
            Some(patient),
            2,
            (AuditSubtype::BreakGlassStart, AuditAction::Execute, PurposeOfUse::EmergencyTreatment),
        ),
        // The next day, no patient.
        event(
            &mut chain,
            &nurse,
            None,
            24 * 60,
            (AuditSubtype::CensusList, AuditAction::Read, PurposeOfUse::Treatment),
        ),
    ];
    let (status, body) = server.upload_audit(&workstation, &events).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let search = |query: String| {
        let server = &server;
        let token = &token;
        async move {
            let answer = get(server, &format!("/fhir/r4/AuditEvent?{query}"), token).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            answer.body
        }
    };
    // (wardbook subtype, action, purpose of use, patient) of each event found.
    let summary = |bundle: &Value| -> Vec<(String, String, String, Option<String>)> {
        resources(bundle)
            .iter()
            .map(|e| {
                let user = &e["agent"][0];
                assert_eq!(user["who"]["identifier"], json!({"system": "urn:wardbook:user", "value": nurse}));
                assert_eq!(user["requestor"], true);
                let subtype =
                    e["subtype"].as_array().unwrap().iter().find(|c| c["system"] == "urn:wardbook:audit-subtype");
                let patient = e["entity"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|entity| entity["role"]["code"] == "1")
                    .map(|entity| entity["what"]["reference"].as_str().unwrap().to_owned());
                (
                    subtype.unwrap()["code"].as_str().unwrap().to_owned(),
                    e["action"].as_str().unwrap().to_owned(),
                    user["purposeOfUse"][0]["coding"][0]["code"].as_str().unwrap().to_owned(),
                    patient,
                )
            })
            .collect()
    };
    let reference = Some(format!("Patient/{patient}"));
    let on_the_patient = vec![
        ("chart-open".to_owned(), "R".to_owned(), "TREAT".to_owned(), reference.clone()),
        ("print".to_owned(), "R".to_owned(), "TREAT".to_owned(), reference.clone()),
        ("break-glass-start".to_owned(), "E".to_owned(), "ETREAT".to_owned(), reference.clone()),
    ];
    assert_eq!(summary(&search(format!("patient=Patient/{patient}")).await), on_the_patient);
    let by_nurse = summary(&search(format!("agent={nurse}")).await);
    assert_eq!(by_nurse.len(), 4);
    assert_eq!(by_nurse[..3], on_the_patient[..]);
    assert_eq!(by_nurse[3], ("census-list".to_owned(), "E".to_owned(), "TREAT".to_owned(), None));
    assert_eq!(summary(&search(format!("agent={nurse}&date=ge2026-03-01&date=le2026-03-01")).await), on_the_patient);
    assert_eq!(summary(&search("date=ge2026-03-02".to_owned()).await).len(), 1);
    assert!(resources(&search(format!("agent={nurse}&date=lt2026-03-01")).await).is_empty());
    assert!(resources(&search(format!("patient=Patient/{}", Uuid::new_v4())).await).is_empty());
    assert!(resources(&search("agent=someone.else".to_owned()).await).is_empty());

    // Pages, and the link to the next one.
    let first = search(format!("agent={nurse}&_count=3")).await;
    assert_eq!((first["total"].as_u64(), first["entry"].as_array().unwrap().len()), (Some(4), 3));
    let next =
        first["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").unwrap()["url"].as_str().unwrap();
    let path = next.strip_prefix("http://wardbook.test").unwrap();
    let second = get(&server, path, &token).await.body;
    assert_eq!(summary(&second), by_nurse[3..]);
    assert!(!second["link"].as_array().unwrap().iter().any(|l| l["relation"] == "next"));
}

/// `store::apply_resource`, as an NDJSON import calls it: one resource at a
/// time, references by the ids the resources had in the export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_resource_resolves_an_exports_own_patient_ids() {
    let (server, _) = server_and_client().await;
    let mut client = server.service().await;
    let keys = server.state.keys.get().await.expect("the data keys");
    let mut ctx = Context::new("fhir:ndjson.synthetic", MRN_SYSTEM, keys);
    let resource = |value: Value| serde_json::from_value::<Resource>(value).unwrap();
    let exported_id = Uuid::new_v4();
    let mut exported = patient(MRN);
    exported["id"] = json!(exported_id.to_string());
    let reference = format!("Patient/{exported_id}");

    let tx = client.transaction().await.unwrap();
    let patient = store::apply_resource(&tx, &resource(exported), &mut ctx).await.unwrap().unwrap();
    assert_eq!(patient.resource_type, "Patient");
    assert_ne!(patient.id, exported_id, "Wardbook gives its own id");
    let observation =
        store::apply_resource(&tx, &resource(heart_rate(&reference, 70.0)), &mut ctx).await.unwrap().unwrap();
    assert_eq!(observation.resource_type, "Observation");
    let owner: Uuid =
        tx.query_one("SELECT patient_id FROM observations WHERE id = $1", &[&observation.id]).await.unwrap().get(0);
    assert_eq!(owner, patient.id, "the export's patient id resolved to the patient imported");
    let unknown = json!({"resourceType": "Medication", "code": {"text": "Secret-Medication-Name"}});
    let refused = store::apply_resource(&tx, &resource(unknown), &mut ctx).await.unwrap().unwrap_err();
    assert_eq!(refused.paths(), ["Medication"]);
    tx.rollback().await.unwrap();

    // The patient was rolled back: the name the import remembers resolves
    // to nothing, and the reference is refused by its element.
    let tx = client.transaction().await.unwrap();
    let refused = store::apply_resource(&tx, &resource(heart_rate(&reference, 70.0)), &mut ctx).await.unwrap();
    assert_eq!(refused.unwrap_err().paths(), ["Observation.subject"]);
}
