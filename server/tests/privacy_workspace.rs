//! The privacy officer's workspace (`/v1/privacy/...`) over the real
//! PostgreSQL harness: the break-the-glass queue with each access's reason,
//! duration and what was viewed; a review stored with its note, reviewer and
//! time, and final; the access report naming users, workstations, patients
//! and offline sessions; its CSV and FHIR exports (the FHIR Bundle checked
//! against HL7's R4 schema); every workstation's chain with a gap and a
//! finding; and refusals for anyone but a privacy officer. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fhir_support;
mod privacy_support;

use axum::http::{Method, StatusCode, header};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::assert_api_error;
use privacy_support::{Chain, NURSE, OFFICER, REASON, call, office};
use serde_json::{Value, json};
use uuid::Uuid;
use wardbook_protocol::api::{
    AccessReport, AuditChainStatus, BreakGlassAccess, ChainState, ReviewOutcome, ReviewStatus, Role,
};
use wardbook_protocol::{AuditEvent, AuditSubtype, PurposeOfUse};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_shows_each_pending_access_with_its_reason_duration_and_what_was_viewed() {
    let o = office().await;
    let granted = o.break_glass().await;
    let started = granted.expires_at - Duration::minutes(60);
    let session = Uuid::now_v7();
    let mut chain = Chain::new(o.ward.id);
    let p = Some(o.patient);
    let etreat = PurposeOfUse::EmergencyTreatment;
    let events = vec![
        // Before the access, and another patient: not part of it.
        chain.event(
            o.nurse,
            session,
            (AuditSubtype::CensusList, None),
            PurposeOfUse::Treatment,
            started - Duration::hours(2),
        ),
        chain.event(o.nurse, session, (AuditSubtype::BreakGlassStart, p), etreat, started + Duration::seconds(1)),
        chain.event(o.nurse, session, (AuditSubtype::ChartOpen, p), etreat, started + Duration::minutes(1)),
        chain.event(o.nurse, session, (AuditSubtype::VitalsView, p), etreat, started + Duration::minutes(2)),
        chain.event(o.nurse, session, (AuditSubtype::BreakGlassStop, p), etreat, started + Duration::minutes(12)),
        // Long after the stop: not part of it.
        chain.event(o.nurse, session, (AuditSubtype::ChartOpen, p), etreat, started + Duration::minutes(40)),
    ];
    o.upload(&o.ward, &events).await;

    let queue = o.queue("pending").await;
    assert_eq!(
        (queue.filter, queue.pending, queue.accesses.len()),
        (wardbook_protocol::api::QueueFilter::Pending, 1, 1)
    );
    let access = &queue.accesses[0];
    assert_eq!(access.access_id, granted.access_id);
    assert_eq!(access.reason, REASON);
    assert_eq!(access.status, ReviewStatus::Pending);
    assert!(access.review.is_none());
    assert_eq!((access.patient.id, access.patient.mrn.as_str()), (o.patient, o.mrn.as_str()));
    assert_eq!(access.user.username.as_deref(), Some(NURSE));
    assert_eq!(access.device.name.as_deref(), Some("synthetic-test-workstation"));
    assert_eq!(access.expires_at, granted.expires_at);
    assert_eq!(access.ended_at, Some(events[4].recorded_at), "ended by the workstation's stop");
    assert_eq!(access.minutes, 12);
    let viewed: Vec<AuditSubtype> = access.viewed.iter().map(|r| r.subtype).collect();
    assert_eq!(
        viewed,
        [
            AuditSubtype::BreakGlassStart,
            AuditSubtype::ChartOpen,
            AuditSubtype::VitalsView,
            AuditSubtype::BreakGlassStop
        ]
    );
    assert!(access.viewed.iter().all(|r| r.purpose_of_use == etreat && r.patient_id == p && !r.offline));
    assert_eq!(access.viewed[1].patient.as_ref().map(|l| l.mrn.as_str()), Some(o.mrn.as_str()));
    assert!(o.queue("reviewed").await.accesses.is_empty());
    assert_eq!(o.queue("all").await.accesses.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_is_stored_with_its_note_reviewer_and_time_and_is_final() {
    let o = office().await;
    let granted = o.break_glass().await;
    let path = format!("/v1/privacy/break-glass/{}/review", granted.access_id);
    for note in ["", "   ", &"x".repeat(2001)] {
        let (status, body) =
            o.officer(Method::POST, &path, Some(json!({ "outcome": "justified", "note": note }))).await;
        assert_api_error(status, &body, StatusCode::BAD_REQUEST, "note_required");
    }
    let unknown = format!("/v1/privacy/break-glass/{}/review", Uuid::now_v7());
    let (status, body) = o.officer(Method::POST, &unknown, Some(json!({ "outcome": "justified", "note": "n" }))).await;
    assert_api_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    let before = Utc::now().trunc_subsecs(6);
    let note = "Patient arrived unconscious in ED; the nurse was treating. Appropriate.";
    let (status, body) = o.officer(Method::POST, &path, Some(json!({ "outcome": "justified", "note": note }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reviewed: BreakGlassAccess = serde_json::from_value(body).unwrap();
    assert_eq!(reviewed.status, ReviewStatus::Justified);
    let review = reviewed.review.expect("the review");
    assert_eq!((review.outcome, review.note.as_str()), (ReviewOutcome::Justified, note));
    assert_eq!(review.reviewed_by.username.as_deref(), Some(OFFICER));
    assert!(review.reviewed_at >= before && review.reviewed_at <= Utc::now());

    let row = o
        .server
        .owner()
        .await
        .query_one(
            "SELECT review_status, reviewed_by, reviewed_at, review_note FROM break_glass_accesses WHERE id = $1",
            &[&granted.access_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "justified");
    assert_eq!(row.get::<_, Uuid>(1), o.officer);
    assert_eq!(row.get::<_, DateTime<Utc>>(2), review.reviewed_at);
    assert_eq!(row.get::<_, String>(3), note);

    // A second review is refused and changes nothing.
    let (status, body) =
        o.officer(Method::POST, &path, Some(json!({ "outcome": "unjustified", "note": "Changed my mind" }))).await;
    let message = assert_api_error(status, &body, StatusCode::CONFLICT, "already_reviewed");
    assert!(message.contains("final"), "{message}");
    assert!(o.queue("pending").await.accesses.is_empty());
    let done = o.queue("reviewed").await;
    assert_eq!(done.accesses.len(), 1);
    assert_eq!(done.accesses[0].review.as_ref().map(|r| r.note.as_str()), Some(note));

    // The database keeps it so, even for its owner, and never deletes it.
    let owner = o.server.owner().await;
    let id = granted.access_id;
    assert!(owner.execute("UPDATE break_glass_accesses SET review_note = 'x' WHERE id = $1", &[&id]).await.is_err());
    assert!(owner.execute("DELETE FROM break_glass_accesses WHERE id = $1", &[&id]).await.is_err());
    assert_eq!(o.server.row_count("break_glass_accesses").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_privacy_officer_on_their_workstation_reaches_the_workspace() {
    let o = office().await;
    let granted = o.break_glass().await;
    let review = format!("/v1/privacy/break-glass/{}/review", granted.access_id);
    let report = json!({ "patient_mrn": o.mrn });
    let requests: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/v1/privacy/summary", None),
        (Method::POST, "/v1/privacy/access-report", Some(report.clone())),
        (Method::POST, "/v1/privacy/access-report/export", Some(json!({ "query": report, "format": "csv" }))),
        (Method::GET, "/v1/privacy/break-glass", None),
        (Method::POST, &review, Some(json!({ "outcome": "unjustified", "note": "Not this nurse's patient." }))),
        (Method::GET, "/v1/privacy/audit-chains", None),
    ];
    for (method, path, body) in requests {
        // A clinician: forbidden, without a word about the patient.
        let (status, answer) = call(&o.server, &o.nurse_token, Some(&o.ward), method.clone(), path, body.clone()).await;
        let message = assert_api_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
        assert!(!message.contains(&o.mrn), "{message}");
        // The officer's token without the device credential, or with another workstation's.
        let (status, answer) = call(&o.server, &o.officer_token, None, method.clone(), path, body.clone()).await;
        assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, answer) = call(&o.server, &o.officer_token, Some(&o.ward), method.clone(), path, body).await;
        assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let status: String = o
        .server
        .owner()
        .await
        .query_one("SELECT review_status FROM break_glass_accesses WHERE id = $1", &[&granted.access_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "pending", "nobody but the officer reviews");

    let (status, body) = o.officer(Method::GET, "/v1/privacy/summary", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["roles"].clone(), body["pending_reviews"].clone()), (json!(["privacy_officer"]), json!(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_report_names_users_workstations_patients_and_offline_sessions() {
    let o = office().await;
    let other_nurse = o.server.add_user("nurse.other.synthetic", &[Role::Clinician]).await;
    let (offline, online) = (Uuid::now_v7(), Uuid::now_v7());
    let mut chain = Chain::new(o.ward.id);
    let p = Some(o.patient);
    let t = Utc::now() - Duration::hours(3);
    let treat = PurposeOfUse::Treatment;
    let events = vec![
        chain.event(o.nurse, offline, (AuditSubtype::LoginOffline, None), treat, t),
        chain.event(o.nurse, offline, (AuditSubtype::ChartOpen, p), treat, t + Duration::minutes(1)),
        chain.event(o.nurse, online, (AuditSubtype::Login, None), treat, t + Duration::minutes(30)),
        chain.event(o.nurse, online, (AuditSubtype::AllergiesView, p), treat, t + Duration::minutes(31)),
        chain.event(other_nurse, Uuid::now_v7(), (AuditSubtype::ChartOpen, p), treat, t + Duration::minutes(40)),
        chain.event(o.nurse, online, (AuditSubtype::ChartOpen, Some(Uuid::now_v7())), treat, t + Duration::minutes(50)),
    ];
    o.upload(&o.ward, &events).await;

    let (status, body) = o
        .officer(Method::POST, "/v1/privacy/access-report", Some(json!({ "patient_mrn": format!(" {} ", o.mrn) })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: AccessReport = serde_json::from_value(body).unwrap();
    assert_eq!(report.patient.as_ref().map(|l| l.id), Some(o.patient));
    assert_eq!(report.total, 3, "the three views of this patient");
    let lines: Vec<(AuditSubtype, Option<&str>, bool)> =
        report.rows.iter().map(|r| (r.subtype, r.user.username.as_deref(), r.offline)).collect();
    assert_eq!(
        lines,
        [
            (AuditSubtype::ChartOpen, Some("nurse.other.synthetic"), false),
            (AuditSubtype::AllergiesView, Some(NURSE), false),
            (AuditSubtype::ChartOpen, Some(NURSE), true),
        ],
        "newest first; offline when the session began with an offline sign-in"
    );
    for row in &report.rows {
        assert_eq!(row.device.name.as_deref(), Some("synthetic-test-workstation"));
        assert_eq!(row.purpose_of_use, treat);
        assert_eq!(row.patient.as_ref().map(|l| l.mrn.as_str()), Some(o.mrn.as_str()));
    }

    // What one user viewed, in a period.
    let query = json!({ "username": NURSE.to_uppercase(), "from": t + Duration::minutes(10), "page_size": 2 });
    let (status, body) = o.officer(Method::POST, "/v1/privacy/access-report", Some(query)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: AccessReport = serde_json::from_value(body).unwrap();
    assert_eq!(report.user.as_ref().and_then(|u| u.display_name.as_deref()), Some("Synthetic Test User"));
    assert_eq!((report.total, report.rows.len()), (3, 2));
    assert!(report.rows.iter().all(|r| r.user.user_id == o.nurse.to_string()));
    assert!(report.rows[0].patient.is_none(), "a patient the service does not hold has no name");

    // Nothing found is said without echoing what was asked.
    let (status, body) =
        o.officer(Method::POST, "/v1/privacy/access-report", Some(json!({ "patient_mrn": "SYN-NOPE-404" }))).await;
    let message = assert_api_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert!(!message.contains("SYN-NOPE-404"), "{message}");
    let (status, body) =
        o.officer(Method::POST, "/v1/privacy/access-report", Some(json!({ "username": "nobody.synthetic" }))).await;
    assert_api_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = o
        .officer(Method::POST, "/v1/privacy/access-report", Some(json!({ "from": t, "to": t - Duration::hours(1) })))
        .await;
    assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_period");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_exports_as_csv_and_as_fhir_audit_events_valid_against_r4() {
    let o = office().await;
    let session = Uuid::now_v7();
    let mut chain = Chain::new(o.ward.id);
    let p = Some(o.patient);
    let t = Utc::now() - Duration::hours(1);
    let events = vec![
        chain.event(o.nurse, session, (AuditSubtype::ChartOpen, p), PurposeOfUse::Treatment, t),
        chain.event(o.nurse, session, (AuditSubtype::Print, p), PurposeOfUse::Treatment, t + Duration::minutes(1)),
        chain.event(
            o.nurse,
            session,
            (AuditSubtype::BreakGlassStart, p),
            PurposeOfUse::EmergencyTreatment,
            t + Duration::minutes(2),
        ),
    ];
    o.upload(&o.ward, &events).await;
    let query = json!({ "patient_mrn": o.mrn });

    let (status, headers, csv) = o.export(query.clone(), "csv").await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"wardbook-access-report-")
    );
    assert_eq!(headers["x-wardbook-events"], "3");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], wardbook_server::privacy::export::CSV_COLUMNS.join(","));
    assert_eq!(lines.len(), 4, "a header and one line per event, oldest first: {csv}");
    for (line, event) in lines[1..].iter().zip(&events) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), wardbook_server::privacy::export::CSV_COLUMNS.len(), "{line}");
        assert_eq!((cells[1], cells[6]), (event.id.to_string().as_str(), event.subtype.as_str()));
        assert_eq!((cells[3], cells[8]), (NURSE, o.mrn.as_str()));
        assert_eq!(
            (cells[11], cells[14], cells[16]),
            (event.purpose_of_use.as_str(), "synthetic-test-workstation", "false")
        );
    }

    let (status, headers, text) = o.export(query, "fhir").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/fhir+json");
    let bundle: Value = serde_json::from_str(&text).unwrap();
    fhir_support::assert_valid("the exported Bundle", &bundle);
    assert_eq!(bundle["type"], "collection");
    let entries = bundle["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for (entry, event) in entries.iter().zip(&events) {
        let resource = &entry["resource"];
        fhir_support::assert_valid("an exported AuditEvent", resource);
        assert_eq!(resource["resourceType"], "AuditEvent");
        assert_eq!(resource["id"], event.id.to_string());
        assert_eq!(entry["fullUrl"], format!("urn:uuid:{}", event.id));
        assert_eq!(resource["entity"][0]["what"]["reference"], format!("Patient/{}", o.patient));
        assert!(!text.contains(&o.mrn), "the FHIR export names patients by id only");
    }
    assert_eq!(entries[2]["resource"]["agent"][0]["purposeOfUse"][0]["coding"][0]["code"], "ETREAT");

    // An export names no patient when it is refused, and needs the role.
    let (status, _, body) = o.export(json!({ "patient_mrn": "SYN-NOPE-404" }), "csv").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("SYN-NOPE-404"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_status_shows_a_gap_and_the_finding_of_a_tampered_workstation() {
    let o = office().await;
    let tampered = o.server.enrol("Ward 7B").await;
    let refused = o.server.enrol("Ward 7B").await;
    let session = Uuid::now_v7();
    let t = Utc::now() - Duration::hours(1);
    let treat = PurposeOfUse::Treatment;
    let mut a = Chain::new(o.ward.id);
    let good: Vec<AuditEvent> = (0..4)
        .map(|i| a.event(o.nurse, session, (AuditSubtype::CensusList, None), treat, t + Duration::minutes(i)))
        .collect();
    o.upload(&o.ward, &good).await;
    let mut b = Chain::new(tampered.id);
    let events: Vec<AuditEvent> = (0..3)
        .map(|i| b.event(o.nurse, session, (AuditSubtype::CensusList, None), treat, t + Duration::minutes(i)))
        .collect();
    o.upload(&tampered, &events).await;
    o.server
        .owner()
        .await
        .batch_execute(&format!(
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
             DELETE FROM audit_events WHERE device_id = '{}' AND sequence = 2;
             ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;",
            tampered.id
        ))
        .await
        .unwrap();
    // An upload that skips a sequence is refused, and recorded as a finding.
    let mut c = Chain::new(refused.id);
    let first = c.event(o.nurse, session, (AuditSubtype::CensusList, None), treat, t);
    let _skipped = c.event(o.nurse, session, (AuditSubtype::CensusList, None), treat, t);
    let third = c.event(o.nurse, session, (AuditSubtype::CensusList, None), treat, t);
    let (status, body) = o.server.upload_audit(&refused, &[first, third]).await;
    assert_api_error(status, &body, StatusCode::CONFLICT, "audit_gap");

    let (status, body) = o.officer(Method::GET, "/v1/privacy/audit-chains", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let chains: AuditChainStatus = serde_json::from_value(body).unwrap();
    let of = |id: Uuid| chains.devices.iter().find(|d| d.device.id == id).expect("every workstation is listed");
    let ward = of(o.ward.id);
    assert_eq!((ward.state, ward.events, ward.last_sequence), (ChainState::Continuous, 4, Some(4)));
    assert!(ward.broken_at.is_none() && ward.findings.is_empty());
    assert_eq!(ward.last_recorded_at, Some(good[3].recorded_at));
    let b = of(tampered.id);
    assert_eq!((b.state, b.events), (ChainState::Broken, 2));
    let gap = b.broken_at.as_ref().expect("the gap");
    assert_eq!((gap.sequence, gap.kind.as_str()), (2, "audit_gap"));
    let c = of(refused.id);
    assert_eq!((c.state, c.events), (ChainState::Empty, 0), "an upload with a gap stores nothing");
    assert_eq!(c.findings.len(), 1);
    assert_eq!((c.findings[0].kind.as_str(), c.findings[0].position), ("audit_gap", Some(2)));
    assert_eq!(of(o.officer_desk.id).state, ChainState::Empty);
    assert_eq!(chains.devices.len(), 4);

    let (status, body) = o.officer(Method::GET, "/v1/privacy/summary", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["devices_with_findings"], 1);
}
