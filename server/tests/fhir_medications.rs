//! Medications over `/fhir/r4` and the NDJSON import, on a real PostgreSQL
//! (issue 15): a MedicationRequest in a transaction Bundle reaches the
//! ward's workstation at its next pull; a repeat changes nothing; what
//! cannot be scheduled is refused by path; the dose a workstation then
//! pushes is read back as a MedicationAdministration by `_lastUpdated`, by
//! patient (in pages), by id and in `$everything`. Every answer is valid
//! FHIR R4 ([`fhir_support`]). Synthetic data only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fhir_support;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{Duration, Utc};
use common::{Device, PASSWORD, TestServer, new_mutation};
use fhir_support::assert_valid;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;
use wardbook_protocol::api::{Change, MutationOutcome, Record, Role};
use wardbook_protocol::medication::{AdministrationStatus, MedicationAdministration, MedicationRequest};
use wardbook_protocol::{RXNORM, SNOMED_CT};
use wardbook_server::admin;
use wardbook_server::config::DEFAULT_FHIR_MRN_SYSTEM;
use wardbook_server::fhir::ndjson::{self, Options};
use wardbook_server::fhir::store::Context;

const FHIR_JSON: &str = "application/fhir+json";
const ORDERS: &str = "https://ehr.example/fhir/sid/order";

/// One request through the router; the answer must be valid FHIR JSON.
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "wardbook.test")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let request = match body {
        Some(b) => request.header(header::CONTENT_TYPE, FHIR_JSON).body(Body::from(b.to_string())),
        None => request.body(Body::empty()),
    };
    let response = server.router.clone().oneshot(request.unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).expect("a JSON body");
    assert_valid(&format!("the answer to {path} ({status})"), &body);
    (status, body)
}

async fn get(server: &TestServer, path: &str, token: &str) -> Value {
    let (status, body) = call(server, Method::GET, path, token, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// A ward in a workstation's scope, an integration client's token, and a
/// patient of the ward.
async fn ward() -> (TestServer, Device, String, Uuid) {
    let server = TestServer::start().await;
    server.synth(3, 15).await;
    let device = server.enrol("Ward 7A").await;
    let (changes, _) = server.pull_all(&device, None, 1000).await;
    let patient = common::patient_ids(&changes)[0];
    server.add_user("engine.synthetic", &[Role::Integration]).await;
    let (status, body) = server
        .call(Method::POST, "/v1/login", None, Some(json!({ "username": "engine.synthetic", "password": PASSWORD })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (server, device, body["token"].as_str().unwrap().to_owned(), patient)
}

/// A synthetic order of amoxicillin 500 mg three times a day, flagged high-alert.
fn order(number: &str, patient: Uuid) -> Value {
    json!({
        "resourceType": "MedicationRequest",
        "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}]},
        "extension": [{"url": "urn:wardbook:fhir:extension:high-alert", "valueBoolean": true}],
        "identifier": [{"system": ORDERS, "value": number}],
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [
            {"system": "urn:oid:2.16.840.1.113883.6.69", "code": "0093-3109", "display": "Amoxicillin 500 mg capsule"},
            {"system": RXNORM, "code": "723", "display": "Amoxicillin 500 MG Oral Capsule"},
        ]},
        "subject": {"reference": format!("Patient/{patient}")},
        "authoredOn": "2026-03-01T07:00:00Z",
        "requester": {"display": "Dr Synthetic"},
        "reasonCode": [{"text": "Chest infection"}],
        "note": [{"text": "Complete the course"}],
        "dosageInstruction": [{
            "text": "500 mg three times a day",
            "timing": {"repeat": {"boundsPeriod": {"start": "2026-03-01T08:00:00Z"}, "frequency": 3, "period": 1, "periodUnit": "d"}},
            "route": {"coding": [{"system": SNOMED_CT, "code": "26643006", "display": "Oral route"}]},
            "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}],
        }],
    })
}

fn bundle(type_: &str, resources: &[Value]) -> Value {
    let entries: Vec<Value> = resources
        .iter()
        .map(|r| json!({"resource": r, "request": {"method": "POST", "url": r["resourceType"]}}))
        .collect();
    json!({"resourceType": "Bundle", "type": type_, "entry": entries})
}

/// The orders filed under the EHR's order numbers (the synthetic ward has
/// orders of its own): (id, version, body), by number.
async fn stored(server: &TestServer) -> Vec<(Uuid, i64, Value)> {
    let owner = server.owner().await;
    let keys = server.state.keys.get().await.expect("the data keys");
    // The numbers are sealed: opened here, in order ((system, value)).
    let numbers = admin::external_ids(&owner, &keys, "medication_request").await.expect("the order numbers");
    let mut out = Vec::new();
    for (_, _, id) in numbers.into_iter().filter(|(system, ..)| system == ORDERS) {
        let row = owner
            .query_one("SELECT m.id, m.version, m.body FROM medication_requests m WHERE m.id = $1", &[&id])
            .await
            .expect("the order of an order number");
        out.push((row.get(0), row.get(1), row.get(2)));
    }
    out
}

/// A dose given by the workstation, `minutes` after the order's first round.
async fn give(
    server: &TestServer,
    device: &Device,
    order: &MedicationRequest,
    minutes: i64,
) -> MedicationAdministration {
    let at = order.start + Duration::minutes(minutes);
    let a = MedicationAdministration {
        id: Uuid::now_v7(),
        version: 0,
        updated_at: Utc::now(),
        deleted: false,
        synthetic: true,
        patient_id: order.patient_id,
        request_id: order.id,
        due_at: Some(order.start),
        status: AdministrationStatus::Given,
        not_given_reason: None,
        dose: order.dose.clone(),
        route: order.route.clone(),
        site: None,
        given_at: at,
        performer: "nurse.one".into(),
        witness: Some("nurse.two".into()),
        overrides: Vec::new(),
        error_reason: None,
        recorded_at: Utc::now(),
    };
    let record = Record::MedicationAdministration { medication_administration: a.clone() };
    let answer = server.push_ok(device, vec![new_mutation(None, record)]).await;
    assert!(matches!(answer.results[0].outcome, MutationOutcome::Applied { .. }), "{answer:?}");
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_by_bundle_reaches_the_ward_and_its_doses_go_back_as_administrations() {
    let (server, device, token, patient) = ward().await;
    let (_, cursor) = server.pull_all(&device, None, 1000).await;

    let (status, answer) =
        call(&server, Method::POST, "/fhir/r4", &token, Some(&bundle("transaction", &[order("O-1", patient)]))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["entry"][0]["response"]["status"], "201 Created");
    let [(id, version, body)] = stored(&server).await.try_into().unwrap();
    assert_eq!(version, 1);
    assert_eq!(body["medication"]["system"], RXNORM, "RxNorm is preferred among the codings");
    assert_eq!(body["timing"], json!({"kind": "times_per_day", "count": 3}));
    assert_eq!((body["start"].as_str(), body["end"].as_str()), (Some("2026-03-01T08:00:00Z"), None));
    assert_eq!(body["dose"], json!({"value": 500.0, "unit": "mg"}));
    assert_eq!(body["route"]["code"], "26643006");
    assert_eq!((body["high_alert"].as_bool(), body["synthetic"].as_bool()), (Some(true), Some(true)));
    assert_eq!(body["prescriber"], "Dr Synthetic");
    assert_eq!(body["indication"], "Chest infection");
    assert_eq!(body["instructions"], "500 mg three times a day; Complete the course");

    // The same Bundle again changes nothing.
    let (_, again) =
        call(&server, Method::POST, "/fhir/r4", &token, Some(&bundle("transaction", &[order("O-1", patient)]))).await;
    assert_eq!(again["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(stored(&server).await[0].1, 1);

    // The ward's workstation has it after one pull.
    let (changes, _) = server.pull_all(&device, Some(&cursor), 1000).await;
    let pulled: MedicationRequest = changes
        .iter()
        .find_map(|c| match c {
            Change::MedicationRequest { medication_request } if medication_request.id == id => {
                Some(medication_request.clone())
            }
            _ => None,
        })
        .expect("the order in the feed");

    // What cannot be scheduled is refused by path; the batch's good entry stands.
    let mut prn = order("O-2", patient);
    prn["dosageInstruction"][0]["asNeededBoolean"] = json!(true);
    prn["dosageInstruction"][0]["timing"]["repeat"] = json!({"boundsPeriod": {"start": "2026-03-01T08:00:00Z"}});
    let mut draft = order("O-3", patient);
    draft["status"] = json!("draft");
    let mut proposal = order("O-4", patient);
    proposal["intent"] = json!("proposal");
    let (_, batch) = call(
        &server,
        Method::POST,
        "/fhir/r4",
        &token,
        Some(&bundle("batch", &[prn, draft, proposal, order("O-5", patient)])),
    )
    .await;
    let expressions: Vec<Value> = batch["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["outcome"]["issue"][0]["expression"][0].clone())
        .collect();
    assert_eq!(
        expressions,
        [
            json!("Bundle.entry[0].resource.dosageInstruction[0].timing.repeat.period"),
            json!("Bundle.entry[1].resource.status"),
            json!("Bundle.entry[2].resource.intent"),
            Value::Null,
        ]
    );
    assert_eq!(batch["entry"][3]["response"]["status"], "201 Created");
    assert_eq!(stored(&server).await.len(), 2);

    // Two doses from the workstation, read back by the EHR.
    // To the microsecond: the synthetic ward's doses were stored just before.
    let before = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let first = give(&server, &device, &pulled, 4).await;
    let second = give(&server, &device, &pulled, 364).await;
    let found = get(&server, &format!("/fhir/r4/MedicationAdministration?_lastUpdated=ge{before}"), &token).await;
    assert_eq!(found["total"], 2);
    let a = &found["entry"][0]["resource"];
    assert_eq!(a["id"], first.id.to_string());
    assert_eq!(a["status"], "completed");
    assert_eq!(a["medicationCodeableConcept"]["coding"][0]["code"], "723");
    assert_eq!(a["request"]["reference"], format!("MedicationRequest/{id}"));
    assert_eq!(a["subject"]["reference"], format!("Patient/{patient}"));
    assert_eq!(a["effectiveDateTime"], "2026-03-01T08:04:00Z");
    assert_eq!(
        a["extension"],
        json!([{"url": "urn:wardbook:fhir:extension:due-time", "valueDateTime": "2026-03-01T08:00:00Z"}])
    );
    let performers: Vec<(Value, Value)> = a["performer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["function"]["coding"][0]["code"].clone(), p["actor"]["display"].clone()))
        .collect();
    assert_eq!(performers, [(json!("performer"), json!("nurse.one")), (json!("witness"), json!("nurse.two"))]);
    assert_eq!(a["dosage"]["dose"], json!({"value": 500.0, "unit": "mg"}));
    let later = (Utc::now() + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let none = get(&server, &format!("/fhir/r4/MedicationAdministration?_lastUpdated=ge{later}"), &token).await;
    assert_eq!(none["total"], 0);

    // By patient, a page at a time; by id; and in $everything.
    let query = format!("patient=Patient/{patient}&_lastUpdated=ge{before}&_count=1&_page=2");
    let page = get(&server, &format!("/fhir/r4/MedicationAdministration?{query}"), &token).await;
    assert_eq!(
        (page["total"].as_u64(), page["entry"][0]["resource"]["id"].as_str()),
        (Some(2), Some(second.id.to_string().as_str()))
    );
    let links: HashMap<String, String> = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["relation"].as_str().unwrap().to_owned(), l["url"].as_str().unwrap().to_owned()))
        .collect();
    assert!(links["previous"].ends_with("_page=1"), "{links:?}");
    let one = get(&server, &format!("/fhir/r4/MedicationAdministration/{}", second.id), &token).await;
    assert_eq!(one["effectiveDateTime"], "2026-03-01T14:04:00Z");
    let (status, _) =
        call(&server, Method::GET, &format!("/fhir/r4/MedicationAdministration/{}", Uuid::now_v7()), &token, None)
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let everything = get(&server, &format!("/fhir/r4/Patient/{patient}/$everything"), &token).await;
    let ids: Vec<(&str, &str)> = everything["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["resource"]["resourceType"].as_str().unwrap(), e["resource"]["id"].as_str().unwrap()))
        .collect();
    let (order_id, first_id, second_id) = (id.to_string(), first.id.to_string(), second.id.to_string());
    assert!(ids.contains(&("MedicationRequest", order_id.as_str())), "{ids:?}");
    assert!(ids.contains(&("MedicationAdministration", first_id.as_str())), "{ids:?}");
    assert!(ids.contains(&("MedicationAdministration", second_id.as_str())), "{ids:?}");
    let orders = get(&server, &format!("/fhir/r4/MedicationRequest?patient=Patient/{patient}"), &token).await;
    let written = orders["entry"].as_array().unwrap().iter().find(|e| e["resource"]["id"] == id.to_string()).unwrap();
    let identifiers = &written["resource"]["identifier"];
    assert!(
        identifiers.as_array().unwrap().iter().any(|i| i["system"] == ORDERS && i["value"] == "O-1"),
        "{identifiers}"
    );
    assert_eq!(written["resource"]["extension"][0]["valueBoolean"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medication_requests_import_from_ndjson_and_a_bad_line_is_reported_by_path() {
    let (server, _device, _token, patient) = ward().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("MedicationRequest.ndjson");
    let mut bad = order("N-2", patient);
    bad["dosageInstruction"][0]["timing"]["repeat"]["periodUnit"] = json!("mo");
    let lines = [order("N-1", patient), bad].iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    std::fs::write(&file, lines).unwrap();
    let keys = server.state.keys.get().await.expect("the data keys");
    let mut ctx = Context::new("fhir-bulk-import", DEFAULT_FHIR_MRN_SYSTEM, keys);
    for round in 0..2 {
        let mut client = server.service().await;
        let report =
            ndjson::import_files(&mut client, std::slice::from_ref(&file), &mut ctx, &Options::default(), &mut |_| {})
                .await
                .expect("the import runs to its end");
        assert_eq!((report.applied, report.failed), (1, 1), "round {round}: {report:?}");
        let failure = &report.failures[0];
        assert_eq!((failure.line, failure.resource_type.as_deref()), (2, Some("MedicationRequest")));
        assert_eq!(failure.paths, ["MedicationRequest.dosageInstruction[0].timing.repeat.periodUnit"]);
        let rows = stored(&server).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1, 1, "a second import changes nothing");
    }
}
