//! The access report: who viewed a patient (named by MRN), what a user
//! viewed (named by user name), or both, over a period, newest first; each
//! event with the user's and the workstation's names, the patient's MRN and
//! name, the purpose of use and whether the session began offline.
//!
//! The events are those of [`crate::audit::report`] (the CLI's report and
//! the FHIR AuditEvent search read the same), so the screen, the exports
//! and the CLI cannot disagree.

use uuid::Uuid;
use wardbook_protocol::AuditEvent;
use wardbook_protocol::api::{AccessReport, AccessReportQuery, MAX_EXPORT_EVENTS};

use super::Labels;
use crate::audit::{self, ReportQuery, SortOrder};
use crate::error::{Error, Result};
use crate::keys::KeySet;
use crate::records::patients;

const NO_SUCH_PATIENT: &str = "No patient has that MRN. Check the number and try again.";
const NO_SUCH_USER: &str = "No Wardbook user has that user name. Check it and try again.";
const EMPTY_PERIOD: &str = "The period must end after it starts.";

/// A report query with its patient and user found.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub query: ReportQuery,
    pub patient: Option<Uuid>,
    /// The user's id, as the audit trail records it.
    pub user: Option<String>,
}

/// Finds the patient (by MRN, through its blind index) and the user (by
/// user name) a query names. Neither is echoed when nothing matches.
pub async fn resolve(db: &tokio_postgres::Client, keys: &KeySet, q: &AccessReportQuery) -> Result<Resolved> {
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from >= to
    {
        return Err(Error::bad_request("invalid_period", EMPTY_PERIOD));
    }
    let patient = match q.patient_mrn.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(mrn) if mrn.contains('\0') => return Err(Error::NotFound(NO_SUCH_PATIENT)),
        Some(mrn) => Some(patients::by_mrn(db, keys, mrn).await?.ok_or(Error::NotFound(NO_SUCH_PATIENT))?),
    };
    let user = match q.username.as_deref().map(|u| u.trim().to_lowercase()).filter(|u| !u.is_empty()) {
        None => None,
        Some(name) if name.contains('\0') => return Err(Error::NotFound(NO_SUCH_USER)),
        Some(name) => {
            let row = db.query_opt("SELECT id FROM users WHERE username = $1", &[&name]).await?;
            Some(row.map(|r| r.get::<_, Uuid>(0).to_string()).ok_or(Error::NotFound(NO_SUCH_USER))?)
        }
    };
    let query = ReportQuery {
        patient_id: patient,
        user_id: user.clone(),
        from: q.from,
        to: q.to,
        sort: Some(SortOrder::Desc),
        page: q.page,
        page_size: q.page_size,
    };
    Ok(Resolved { query, patient, user })
}

/// One page of the report.
pub async fn access_report(
    db: &mut tokio_postgres::Client,
    keys: &KeySet,
    q: &AccessReportQuery,
) -> Result<AccessReport> {
    let resolved = resolve(db, keys, q).await?;
    let page = audit::report(db, &resolved.query).await?;
    let labels = Labels::load(db, keys, &page.events, resolved.user.as_slice(), resolved.patient.as_slice()).await?;
    Ok(AccessReport {
        patient: resolved.patient.and_then(|p| labels.patient(p)),
        user: resolved.user.as_deref().map(|u| labels.user(u)),
        from: q.from,
        to: q.to,
        rows: page.events.iter().map(|e| labels.row(e)).collect(),
        total: page.total,
        page: page.page,
        page_size: page.page_size,
    })
}

/// Every event of a report, oldest first, and their labels: what an export
/// holds. More than [`MAX_EXPORT_EVENTS`] is refused (export a shorter period).
pub async fn all_events(
    db: &mut tokio_postgres::Client,
    keys: &KeySet,
    q: &AccessReportQuery,
) -> Result<(Vec<AuditEvent>, Labels)> {
    let mut resolved = resolve(db, keys, q).await?;
    resolved.query.sort = Some(SortOrder::Asc);
    resolved.query.page_size = Some(audit::MAX_PAGE_SIZE);
    let mut events = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for page in 1u32.. {
        resolved.query.page = Some(page);
        let answer = audit::report(db, &resolved.query).await?;
        if answer.total > i64::from(MAX_EXPORT_EVENTS) {
            return Err(Error::bad_request(
                "too_many_events",
                format!(
                    "The report holds {} events, more than the {MAX_EXPORT_EVENTS} one export takes. Export a shorter period.",
                    answer.total
                ),
            ));
        }
        let done = answer.events.len() < audit::MAX_PAGE_SIZE as usize;
        // An upload between two pages can shift the pages by a row: an
        // event seen already is not repeated.
        events.extend(answer.events.into_iter().filter(|e| seen.insert(e.id)));
        if done || events.len() as i64 >= answer.total {
            break;
        }
    }
    let labels = Labels::load(db, keys, &events, resolved.user.as_slice(), resolved.patient.as_slice()).await?;
    Ok((events, labels))
}
