//! The privacy officer's workspace (issue 17): the access report with the
//! names the privacy office needs (`report`), its CSV and FHIR exports
//! (`export`), the break-the-glass review queue and reviews (`reviews`),
//! and every workstation's audit chain re-verified (`chains`). The HTTP
//! adapters are in `routes`; every one requires the privacy officer role.
//!
//! The events come from the audit store (`crate::audit`), the same rows the
//! CLI's report and the FHIR AuditEvent search read; this module only adds
//! who and what they name ([`Labels`]): user names, workstation names and
//! the patients' MRNs and names, opened with the data keys. Errors name no
//! patient: an MRN or a user name that matches nothing is "not found"
//! without being echoed. Nothing here logs patient data, a reason or a note.

pub mod chains;
pub mod export;
pub mod report;
pub mod reviews;
pub mod routes;

use std::collections::{HashMap, HashSet};

use uuid::Uuid;
use wardbook_protocol::AuditEvent;
use wardbook_protocol::api::{AccessRow, DeviceLabel, PatientLabel, PrivacySummary, Role, UserLabel};

use crate::auth::UserAuth;
use crate::error::Result;
use crate::keys::KeySet;
use crate::records::patients::Identity;

/// Who and what a set of events names, looked up once for all of them.
#[derive(Default)]
pub struct Labels {
    users: HashMap<String, UserLabel>,
    devices: HashMap<Uuid, String>,
    patients: HashMap<Uuid, PatientLabel>,
    offline_sessions: HashSet<Uuid>,
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Labels").field("patients", &self.patients.len()).finish_non_exhaustive()
    }
}

impl Labels {
    /// The labels of `events`, and of the `users` and `patients` named besides.
    pub async fn load(
        db: &mut tokio_postgres::Client,
        keys: &KeySet,
        events: &[AuditEvent],
        users: &[String],
        patients: &[Uuid],
    ) -> Result<Labels> {
        let mut user_ids: Vec<String> = events.iter().map(|e| e.user_id.clone()).chain(users.iter().cloned()).collect();
        user_ids.sort();
        user_ids.dedup();
        let mut device_ids: Vec<Uuid> = events.iter().map(|e| e.device_id).collect();
        device_ids.sort();
        device_ids.dedup();
        let mut patient_ids: Vec<Uuid> =
            events.iter().filter_map(|e| e.patient_id).chain(patients.iter().copied()).collect();
        patient_ids.sort();
        patient_ids.dedup();
        let mut session_ids: Vec<Uuid> = events.iter().map(|e| e.session_id).collect();
        session_ids.sort();
        session_ids.dedup();

        let mut labels = Labels::default();
        for row in db
            .query("SELECT id::text, username, display_name FROM users WHERE id::text = ANY($1)", &[&user_ids])
            .await?
        {
            let user_id: String = row.get(0);
            labels.users.insert(
                user_id.clone(),
                UserLabel { user_id, username: Some(row.get(1)), display_name: Some(row.get(2)) },
            );
        }
        for row in db.query("SELECT id, name FROM devices WHERE id = ANY($1)", &[&device_ids]).await? {
            labels.devices.insert(row.get(0), row.get(1));
        }
        for row in db
            .query(
                "SELECT DISTINCT session_id FROM audit_events WHERE session_id = ANY($1) AND subtype = 'login-offline'",
                &[&session_ids],
            )
            .await?
        {
            labels.offline_sessions.insert(row.get(0));
        }
        let tx = db.transaction().await?;
        for row in tx
            .query(
                "SELECT i.patient_id, i.key_id, i.mrn, i.given_name, i.family_name, i.birth_date, i.phone, i.email,
                        i.address
                   FROM phi.patient_identities i WHERE i.patient_id = ANY($1)",
                &[&patient_ids],
            )
            .await?
        {
            let id: Uuid = row.get(0);
            let identity = Identity::open(keys, id, &row, 1)?;
            labels.patients.insert(
                id,
                PatientLabel {
                    id,
                    mrn: identity.mrn.clone(),
                    family_name: identity.family_name.clone(),
                    given_name: identity.given_name.clone(),
                },
            );
        }
        tx.commit().await?;
        Ok(labels)
    }

    pub fn user(&self, user_id: &str) -> UserLabel {
        self.users.get(user_id).cloned().unwrap_or_else(|| UserLabel {
            user_id: user_id.to_owned(),
            username: None,
            display_name: None,
        })
    }

    pub fn device(&self, id: Uuid) -> DeviceLabel {
        DeviceLabel { id, name: self.devices.get(&id).cloned() }
    }

    pub fn patient(&self, id: Uuid) -> Option<PatientLabel> {
        self.patients.get(&id).cloned()
    }

    /// One event as a report row.
    pub fn row(&self, e: &AuditEvent) -> AccessRow {
        AccessRow {
            event_id: e.id,
            recorded_at: e.recorded_at,
            user: self.user(&e.user_id),
            action: e.action,
            subtype: e.subtype,
            patient_id: e.patient_id,
            patient: e.patient_id.and_then(|p| self.patient(p)),
            purpose_of_use: e.purpose_of_use,
            outcome: e.outcome,
            device: self.device(e.device_id),
            sequence: e.sequence,
            offline: self.offline_sessions.contains(&e.session_id),
        }
    }
}

/// The caller's roles and what awaits the privacy office (counts only).
pub async fn summary(db: &tokio_postgres::Client, caller: &UserAuth) -> Result<PrivacySummary> {
    caller.require(Role::PrivacyOfficer)?;
    let pending: i64 =
        db.query_one("SELECT count(*) FROM break_glass_accesses WHERE review_status = 'pending'", &[]).await?.get(0);
    // The recorded findings only: re-verifying every chain is the chain
    // status screen's work, not a summary's.
    let devices_with_findings: i64 = db
        .query_one("SELECT count(DISTINCT device_id) FROM security_findings WHERE device_id IS NOT NULL", &[])
        .await?
        .get(0);
    Ok(PrivacySummary { roles: caller.roles.clone(), pending_reviews: pending, devices_with_findings })
}
