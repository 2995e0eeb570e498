//! The chart's Medications tab and the MAR printout, audited like every
//! other view of PHI: the tab as a `medications-view` event, each patient
//! printed as a `print` event. What they show is protocol's
//! `medication::medications_view` over the cached rows, due times in the
//! hospital's time zone (`Store::clinical`).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use uuid::Uuid;
use wardbook_protocol::medication::{AdministrationRow, MarPage, MarPrint, MedicationsView, medications_view};
use wardbook_protocol::{AuditAction, AuditOutcome, AuditSubtype, ChartHeader, ValidationErrors};

use super::{Source, audited, view_held};
use crate::audit::{Access, AccessContext};
use crate::store::{
    AuditedRead, Store, StoreError, allergies, dose_reviews, medication_administrations, medication_requests, patients,
};

/// The tab's window when none is chosen: from 24 hours back to 24 hours
/// ahead of now.
pub const MAR_HOURS_AROUND: i64 = 24;
/// The longest window the tab shows at once: a fortnight (the due times of
/// an hourly order over it are a few hundred).
pub const MAR_MAX_WINDOW_DAYS: i64 = 14;
/// The hours of blank slots a MAR printout may cover.
pub const MAR_PRINT_HOURS: [u32; 2] = [24, 48];

/// The window `[start, end)` asked for, or the default around `now`.
/// Refused: an end not after the start, or longer than the most shown.
pub fn mar_window(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), StoreError> {
    let around = Duration::hours(MAR_HOURS_AROUND);
    let (start, end) = match (start, end) {
        (Some(start), Some(end)) => (start, end),
        (Some(start), None) => (start, start + around * 2),
        (None, Some(end)) => (end - around * 2, end),
        (None, None) => (now - around, now + around),
    };
    let mut errors = ValidationErrors::new();
    if end <= start {
        errors.push("window_end", "the window must end after it starts");
    } else if end - start > Duration::days(MAR_MAX_WINDOW_DAYS) {
        errors.push("window_end", format!("the window may cover at most {MAR_MAX_WINDOW_DAYS} days"));
    }
    errors.into_result()?;
    Ok((start, end))
}

/// The Medications tab: the patient's orders (current first) with the MAR
/// over `window` (see [`mar_window`]) at `now`, each administration marked
/// pending while its edit waits for the server. A patient held by a
/// break-the-glass access is shown from the orders and doses the service
/// sent with the access (held in memory), audited all the same.
pub fn medications(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    source: &Source,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<MedicationsView, StoreError> {
    let zone = store.clinical().time_zone;
    if let Source::Held(held) = source {
        // Held in memory from the service's answer: nothing recorded here is pending.
        let rows: Vec<AdministrationRow> = held
            .medication_administrations
            .iter()
            .map(|a| AdministrationRow { administration: a.clone(), pending: false })
            .collect();
        let view = medications_view(patient, &held.medication_requests, &rows, &[], zone, window, now);
        return view_held(store, ctx, AuditSubtype::MedicationsView, patient, held, view);
    }
    audited(store, ctx, AuditSubtype::MedicationsView, Some(patient), |read| {
        if !read.db().patients().exists(patient)? {
            return Err(StoreError::NotFound);
        }
        view_of(read, patient, zone, window, now)
    })
}

/// One patient's medications view from the cache.
fn view_of(
    read: &AuditedRead<'_>,
    patient: Uuid,
    zone: Tz,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<MedicationsView, StoreError> {
    let orders = medication_requests::for_patient(read, patient)?;
    let pending = read.db().outbox().pending_rows_of(patient)?;
    let rows: Vec<AdministrationRow> = medication_administrations::for_patient(read, patient)?
        .into_iter()
        .map(|a| AdministrationRow { pending: pending.contains(&a.id), administration: a })
        .collect();
    let reviews = dose_reviews::for_patient(read, patient)?;
    Ok(medications_view(patient, &orders, &rows, &reviews, zone, window, now))
}

/// The MAR printout for downtime: one patient's, or (`None`) every patient
/// on this workstation's census in census order, one patient a page, each
/// page with the header and allergies at the top and the MAR from 24 hours
/// back to `hours_ahead` (24 or 48) ahead, whose future slots are blank
/// for charting on paper. Each patient printed is one `print` audit event,
/// all written with the read or none of it shown.
pub fn print_mar(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Option<Uuid>,
    hours_ahead: u32,
    now: DateTime<Utc>,
) -> Result<MarPrint, StoreError> {
    if !MAR_PRINT_HOURS.contains(&hours_ahead) {
        let mut errors = ValidationErrors::new();
        errors.push("hours_ahead", "the printout covers the next 24 or 48 hours");
        return Err(StoreError::Invalid(errors));
    }
    let window = (now - Duration::hours(MAR_HOURS_AROUND), now + Duration::hours(i64::from(hours_ahead)));
    let zone = store.clinical().time_zone;
    let device_id = store.device_id();
    store.audited_each(
        |read| {
            let ids = match patient {
                Some(id) => vec![id],
                None => patients::census_lines(read, None)?.into_iter().map(|line| line.id).collect(),
            };
            let mut pages = Vec::with_capacity(ids.len());
            for id in ids {
                let record = patients::get(read, id)?.ok_or(StoreError::NotFound)?;
                let header = ChartHeader {
                    age_years: record.age_on(now.date_naive()),
                    patient: record,
                    allergies: allergies::for_patient(read, id)?,
                };
                pages.push(MarPage { header, medications: view_of(read, id, zone, window, now)? });
            }
            Ok(MarPrint { printed_at: now, hours_ahead, pages })
        },
        |print| print.pages.iter().map(|page| page.header.patient.id).collect(),
        |head, patient| {
            let access = Access {
                action: AuditAction::Read,
                subtype: AuditSubtype::Print,
                patient: Some(patient),
                outcome: AuditOutcome::Success,
            };
            crate::audit::event(head, device_id, ctx, access)
        },
    )
}
