//! The privacy officer's workspace in the app core (`wardbook::privacy`)
//! against the real sync service and PostgreSQL (tests/common/central.rs),
//! real SQLCipher caches and the real Secret Service (run inside
//! `scripts/with-keyring.sh`): a nurse's break-the-glass access on one
//! workstation, then a privacy officer on another reading the access report,
//! printing and exporting it, reviewing the access and checking the chains.
//! Every view writes its event in the officer's workstation chain (purpose
//! HCOMPL) and that chain uploads and verifies; a clinician is refused and
//! nothing is recorded; offline, the workspace says it needs the service.
//! Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::central::{Central, Station};
use uuid::Uuid;
use wardbook::audit::reads;
use wardbook::privacy::{self, PrivacyError};
use wardbook::session::{SessionPolicy, Sessions};
use wardbook_protocol::api::{
    AccessReportQuery, BreakGlassReviewRequest, ChainState, ExportFormat, QueueFilter, ReviewOutcome, ReviewStatus,
    Role,
};
use wardbook_protocol::workstation::{BreakGlassRequest, Credentials};
use wardbook_protocol::{AuditAction, AuditEvent, AuditSubtype, PurposeOfUse};

const PASSWORD: &str = "synthetic-privacy-password";
const NURSE: &str = "nurse.privacy.synthetic";
const OFFICER: &str = "officer.privacy.synthetic";
const REASON: &str = "Collapsed outside the ward; allergies needed before treatment";

fn add_user(central: &Central, username: &str, roles: &[Role]) -> String {
    let client = central.owner();
    central
        .rt
        .block_on(wardbook_server::admin::user_add(&client, username, "Synthetic Privacy User", roles, PASSWORD))
        .expect("user")
        .to_string()
}

fn credentials(username: &str) -> Credentials {
    serde_json::from_value(serde_json::json!({ "username": username, "password": PASSWORD })).expect("credentials")
}

fn station(central: &Central) -> (Station, Sessions) {
    let mut station = Station::new("unused");
    station.enroll(central, &central.url(), "Ward 7A");
    let sessions = Sessions::new(SessionPolicy::from_config(&station.config));
    (station, sessions)
}

fn events(station: &Station) -> Vec<AuditEvent> {
    station.with(|s| wardbook::audit::recent_events(s, u32::MAX)).expect("events")
}

/// The (id, MRN) of a patient on Ward 7B only (out of a Ward 7A workstation's scope).
fn patient_on_7b(central: &Central) -> (Uuid, String) {
    let mut client = central.owner();
    let keys = central.keys();
    central.rt.block_on(async {
        let on: Vec<Uuid> = client
            .query(
                "SELECT pl.patient_id FROM patient_locations pl JOIN locations l ON l.id = pl.location_id
                  WHERE pl.active AND l.code = 'Ward 7B'",
                &[],
            )
            .await
            .expect("query")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let all = wardbook_server::admin::patients(&mut client, &keys).await.expect("patients");
        let p = all.into_iter().find(|p| on.contains(&p.id)).expect("a Ward 7B patient");
        (p.id, p.mrn)
    })
}

/// The newest event: subtype, action, patient, purpose and user, as the workspace recorded it.
fn assert_last(station: &Station, subtype: AuditSubtype, action: AuditAction, patient: Option<Uuid>, user: &str) {
    let last = events(station).pop().expect("an event");
    assert_eq!(
        (last.subtype, last.action, last.patient_id, last.purpose_of_use, last.user_id.as_str()),
        (subtype, action, patient, PurposeOfUse::Compliance, user),
        "{last:?}"
    );
}

#[test]
fn every_view_of_the_workspace_is_audited_here_and_uploads_with_the_chain() {
    let central = Central::start();
    central.synth(4, 3);
    let nurse = add_user(&central, NURSE, &[Role::Clinician]);
    let officer = add_user(&central, OFFICER, &[Role::PrivacyOfficer]);
    let (patient, mrn) = patient_on_7b(&central);

    // A nurse's emergency access on the ward's workstation, uploaded.
    let (ward, ward_sessions) = station(&central);
    central.rt.block_on(ward_sessions.sign_in(&ward.ws, &credentials(NURSE))).expect("nurse signs in");
    let request: BreakGlassRequest =
        serde_json::from_value(serde_json::json!({ "mrn": mrn, "reason": REASON })).expect("request");
    central.rt.block_on(ward_sessions.break_glass(&ward.ws, &request)).expect("break-the-glass");
    ward.with(|s| {
        let (ctx, source) = ward_sessions.chart_access(s, patient).expect("access");
        reads::open_chart(s, &ctx, patient, &source).expect("chart");
    });
    ward.sync(&central).expect("the ward uploads its audit trail");

    // A clinician is not shown the workspace, and nothing is recorded for asking.
    let before = events(&ward).len();
    let access = central.rt.block_on(privacy::access(&ward.ws, &ward_sessions)).expect("access");
    assert!(!access.privacy_officer && access.clinician);
    let query = AccessReportQuery { patient_mrn: Some(mrn.clone()), ..AccessReportQuery::default() };
    let refused = central.rt.block_on(privacy::access_report(&ward.ws, &ward_sessions, &query)).expect_err("refused");
    assert!(matches!(refused, PrivacyError::NotPrivacyOfficer), "{refused:?}");
    assert_eq!(events(&ward).len(), before);

    // The privacy officer, on another workstation.
    let (desk, sessions) = station(&central);
    central.rt.block_on(sessions.sign_in(&desk.ws, &credentials(OFFICER))).expect("officer signs in");
    let access = central.rt.block_on(privacy::access(&desk.ws, &sessions)).expect("access");
    assert!(access.privacy_officer && !access.clinician, "{access:?}");
    assert_eq!(access.pending_reviews, 1);

    let report = central.rt.block_on(privacy::access_report(&desk.ws, &sessions, &query)).expect("report");
    assert_eq!(report.patient.as_ref().map(|p| p.id), Some(patient));
    let opened = report
        .rows
        .iter()
        .find(|r| r.subtype == AuditSubtype::ChartOpen)
        .expect("the nurse's chart-open is in the report");
    assert_eq!(
        (opened.user.user_id.as_str(), opened.purpose_of_use),
        (nurse.as_str(), PurposeOfUse::EmergencyTreatment)
    );
    assert_eq!(opened.user.username.as_deref(), Some(NURSE));
    assert!(!opened.offline);
    assert_last(&desk, AuditSubtype::AccessReportView, AuditAction::Read, Some(patient), &officer);

    let printed = central.rt.block_on(privacy::print_access_report(&desk.ws, &sessions, &query)).expect("print");
    assert_eq!(printed.rows.len() as i64, printed.total);
    assert_last(&desk, AuditSubtype::Print, AuditAction::Read, Some(patient), &officer);

    let dir = tempfile::tempdir().expect("temp dir");
    for format in [ExportFormat::Csv, ExportFormat::Fhir] {
        let file = central
            .rt
            .block_on(privacy::export_access_report(&desk.ws, &sessions, &query, format, dir.path()))
            .expect("export");
        assert_eq!(i64::from(file.events), report.total);
        let text = std::fs::read_to_string(&file.path).expect("the file is saved");
        match format {
            ExportFormat::Csv => assert!(text.starts_with("recorded_at,event_id,") && text.contains(&mrn)),
            ExportFormat::Fhir => assert!(text.contains("\"resourceType\":\"Bundle\"") && !text.contains(&mrn)),
        }
        assert_last(&desk, AuditSubtype::Export, AuditAction::Read, Some(patient), &officer);
    }

    let queue =
        central.rt.block_on(privacy::break_glass_queue(&desk.ws, &sessions, QueueFilter::Pending)).expect("queue");
    assert_last(&desk, AuditSubtype::BreakGlassQueueView, AuditAction::Read, None, &officer);
    let pending = &queue.accesses[0];
    assert_eq!((pending.patient.id, pending.reason.as_str()), (patient, REASON));
    let viewed: Vec<AuditSubtype> = pending.viewed.iter().map(|r| r.subtype).collect();
    assert_eq!(viewed, [AuditSubtype::BreakGlassStart, AuditSubtype::ChartOpen], "what the nurse viewed");

    let blank = BreakGlassReviewRequest { outcome: ReviewOutcome::Justified, note: "  ".into() };
    let refused = central.rt.block_on(privacy::review_break_glass(&desk.ws, &sessions, pending.access_id, &blank));
    assert_eq!(refused.expect_err("a note is required").code(), "invalid");
    let review = BreakGlassReviewRequest { outcome: ReviewOutcome::Justified, note: "Seen in ED; appropriate.".into() };
    let done = central
        .rt
        .block_on(privacy::review_break_glass(&desk.ws, &sessions, pending.access_id, &review))
        .expect("review");
    assert_eq!(done.status, ReviewStatus::Justified);
    assert_eq!(done.review.as_ref().and_then(|r| r.reviewed_by.username.as_deref()), Some(OFFICER));
    assert_last(&desk, AuditSubtype::BreakGlassReview, AuditAction::Create, Some(patient), &officer);
    let again = central.rt.block_on(privacy::review_break_glass(&desk.ws, &sessions, pending.access_id, &review));
    assert_eq!(again.expect_err("a review is final").code(), "already_reviewed");

    let chains = central.rt.block_on(privacy::audit_chains(&desk.ws, &sessions)).expect("chains");
    assert_last(&desk, AuditSubtype::AuditChainView, AuditAction::Read, None, &officer);
    let ward_chain = chains.devices.iter().find(|d| d.device.id == ward.device_id()).expect("the ward's chain");
    assert_eq!(ward_chain.state, ChainState::Continuous);

    // The officer's own views reach the service in their workstation's chain.
    desk.sync(&central).expect("the officer's workstation uploads");
    assert_eq!(central.verify_audit(desk.device_id()).1, None);
    let kinds = central.query_i64(&format!(
        "SELECT count(DISTINCT subtype) FROM audit_events WHERE device_id = '{}' AND purpose_of_use = 'HCOMPL'",
        desk.device_id()
    ));
    assert_eq!(kinds, 6, "access-report-view, print, export, queue, review and chain views");
}

#[test]
fn offline_the_workspace_says_it_needs_the_service_and_records_nothing() {
    let mut central = Central::start();
    central.synth(2, 4);
    add_user(&central, OFFICER, &[Role::PrivacyOfficer]);
    let (desk, sessions) = station(&central);
    central.rt.block_on(sessions.sign_in(&desk.ws, &credentials(OFFICER))).expect("online sign-in");
    let query = AccessReportQuery { username: Some(OFFICER.into()), ..AccessReportQuery::default() };

    // The service goes away during an online session.
    central.stop_service();
    let before = events(&desk).len();
    let err = central.rt.block_on(privacy::access_report(&desk.ws, &sessions, &query)).expect_err("offline");
    assert_eq!(err.code(), "needs_service");
    assert!(err.to_string().contains("needs the sync service"), "{err}");
    let err = central.rt.block_on(privacy::audit_chains(&desk.ws, &sessions)).expect_err("offline");
    assert_eq!(err.code(), "needs_service");
    assert_eq!(events(&desk).len(), before, "nothing shown, nothing recorded");

    // A session that began offline cannot reach it either.
    desk.with(|s| sessions.sign_out(s)).expect("sign out");
    central.rt.block_on(sessions.sign_in(&desk.ws, &credentials(OFFICER))).expect("offline sign-in");
    let last = events(&desk).pop().expect("the offline sign-in");
    assert_eq!(last.subtype, AuditSubtype::LoginOffline);
    central.start_service();
    let err = central.rt.block_on(privacy::access(&desk.ws, &sessions)).expect_err("offline session");
    assert_eq!(err.code(), "needs_service");
    let err = central
        .rt
        .block_on(privacy::break_glass_queue(&desk.ws, &sessions, QueueFilter::All))
        .expect_err("offline session");
    assert_eq!(err.code(), "needs_service");

    // Locked: no data either.
    desk.with(|s| sessions.lock(s)).expect("lock");
    let err = central.rt.block_on(privacy::audit_chains(&desk.ws, &sessions)).expect_err("locked");
    assert_eq!(err.code(), "locked");
}
