//! The medication administration record (MAR) of one patient over a window:
//! each order's due times with what happened at each, PRN doses with the
//! time since the last one and the total in 24 hours, and possible double
//! doses. Pure: the workstation reads the rows from its cache and asks
//! these functions what to show, for the screen and for the printout alike.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use super::{
    AdministrationStatus, DoseReview, DueState, MedicationAdministration, MedicationRequest, NotGivenReason, Timing,
    due_times, slot_state,
};
use crate::observation::string_enum;

string_enum! {
    /// What the MAR shows for one due time.
    SlotState {
        Given = "given",
        NotGiven = "not-given",
        DueNow = "due-now",
        Overdue = "overdue",
        Future = "future",
    }
}

/// One due time of a scheduled order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MarSlot {
    pub due_at: DateTime<Utc>,
    pub state: SlotState,
    /// Set when not given.
    pub not_given_reason: Option<NotGivenReason>,
    /// The administrations recorded for this due time (entered-in-error ones too).
    pub administration_ids: Vec<Uuid>,
}

/// A PRN order's recent use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PrnSummary {
    pub last_given_at: Option<DateTime<Utc>>,
    /// Whole minutes since the last dose, at the view's `now`.
    #[ts(type = "number | null")]
    pub minutes_since_last: Option<i64>,
    /// Doses given in the 24 hours before `now`.
    pub doses_last_24h: u32,
    /// Their total, in the order's dose unit (doses in another unit are not added).
    pub total_last_24h: f64,
    pub unit: Option<String>,
    /// When the minimum interval since the last dose ends (`None`: may be given now).
    pub next_allowed_at: Option<DateTime<Utc>>,
}

/// An administration as the MAR shows it: `pending` until the service has it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AdministrationRow {
    pub administration: MedicationAdministration,
    pub pending: bool,
}

/// Two or more "given" records for one order and due time, or PRN doses
/// closer than the minimum interval, that no review covers yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DoubleDose {
    pub request_id: Uuid,
    pub due_at: Option<DateTime<Utc>>,
    pub administration_ids: Vec<Uuid>,
}

/// One order on the MAR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MarOrder {
    pub order: MedicationRequest,
    /// Scheduled due times inside the window, oldest first (none for PRN).
    pub slots: Vec<MarSlot>,
    pub prn: Option<PrnSummary>,
    /// Every administration of the order, newest first.
    pub administrations: Vec<AdministrationRow>,
}

/// A patient's medications and MAR over `[window_start, window_end)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MedicationsView {
    pub patient_id: Uuid,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// The hospital time zone the due times were computed in (IANA name).
    pub time_zone: String,
    /// Current orders (active, on hold) first, then the rest, each by name.
    pub orders: Vec<MarOrder>,
    pub double_doses: Vec<DoubleDose>,
}

/// The MAR line of one order. `administrations` are the order's.
pub fn mar_order(
    order: &MedicationRequest,
    administrations: &[AdministrationRow],
    zone: Tz,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> MarOrder {
    let (from, to) = window;
    let mut rows: Vec<AdministrationRow> =
        administrations.iter().filter(|r| r.administration.request_id == order.id).cloned().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.administration.given_at));
    let mut by_due: BTreeMap<DateTime<Utc>, Vec<&MedicationAdministration>> = BTreeMap::new();
    if !order.timing.is_prn() {
        for due in due_times(&order.timing, order.start, order.end, zone, from, to) {
            by_due.entry(due).or_default();
        }
        // A record for a due time the schedule no longer has (the order
        // changed) still shows.
        for row in &rows {
            if let Some(due) = row.administration.due_at.filter(|d| *d >= from && *d < to) {
                by_due.entry(due).or_default();
            }
        }
        for row in &rows {
            if let Some(list) = row.administration.due_at.and_then(|d| by_due.get_mut(&d)) {
                list.push(&row.administration);
            }
        }
    }
    let slots = by_due
        .into_iter()
        .map(|(due_at, records)| {
            let given = records.iter().any(|a| a.counts_as_given());
            let not_given = records.iter().find(|a| !a.deleted && a.status == AdministrationStatus::NotGiven);
            let state = if given {
                SlotState::Given
            } else if not_given.is_some() {
                SlotState::NotGiven
            } else {
                match slot_state(due_at, now) {
                    DueState::Future => SlotState::Future,
                    DueState::DueNow => SlotState::DueNow,
                    DueState::Overdue => SlotState::Overdue,
                }
            };
            MarSlot {
                due_at,
                state,
                not_given_reason: if given { None } else { not_given.and_then(|a| a.not_given_reason) },
                administration_ids: records.iter().map(|a| a.id).collect(),
            }
        })
        .collect();
    let prn = match &order.timing {
        Timing::Prn { min_interval_minutes, .. } => Some(prn_summary(order, &rows, *min_interval_minutes, now)),
        _ => None,
    };
    MarOrder { order: order.clone(), slots, prn, administrations: rows }
}

fn prn_summary(
    order: &MedicationRequest,
    rows: &[AdministrationRow],
    min_interval: u32,
    now: DateTime<Utc>,
) -> PrnSummary {
    let given: Vec<&MedicationAdministration> =
        rows.iter().map(|r| &r.administration).filter(|a| a.counts_as_given() && a.given_at <= now).collect();
    let last = given.iter().map(|a| a.given_at).max();
    let day = now - Duration::hours(24);
    let recent: Vec<&&MedicationAdministration> = given.iter().filter(|a| a.given_at > day).collect();
    let unit = order.dose.as_ref().map(|d| d.unit.clone());
    let total = recent
        .iter()
        .filter_map(|a| a.dose.as_ref())
        .filter(|d| unit.as_deref().is_none_or(|u| u == d.unit))
        .map(|d| d.value)
        .sum();
    let next_allowed_at = last.map(|l| l + Duration::minutes(i64::from(min_interval))).filter(|next| *next > now);
    PrnSummary {
        last_given_at: last,
        minutes_since_last: last.map(|l| (now - l).num_minutes()),
        doses_last_24h: recent.len() as u32,
        total_last_24h: total,
        unit,
        next_allowed_at,
    }
}

/// Possible double doses of `order` that `reviews` do not yet cover: two or
/// more records counted as given for one due time or, for a PRN order,
/// given doses closer together than its minimum interval (each such group
/// once). A review covers a group when every record of it is among the
/// review's administrations; a new record makes the group flagged again.
pub fn double_doses(
    order: &MedicationRequest,
    administrations: &[MedicationAdministration],
    reviews: &[DoseReview],
) -> Vec<DoubleDose> {
    let mut given: Vec<&MedicationAdministration> =
        administrations.iter().filter(|a| a.request_id == order.id && a.counts_as_given()).collect();
    given.sort_by_key(|a| (a.given_at, a.id));
    let mut groups: Vec<DoubleDose> = Vec::new();
    match &order.timing {
        Timing::Prn { min_interval_minutes, .. } => {
            let interval = Duration::minutes(i64::from(*min_interval_minutes));
            let mut current: Vec<&MedicationAdministration> = Vec::new();
            for a in given {
                if current.last().is_some_and(|last| a.given_at - last.given_at >= interval) {
                    push_group(&mut groups, order.id, None, &current);
                    current.clear();
                }
                current.push(a);
            }
            push_group(&mut groups, order.id, None, &current);
        }
        _ => {
            let mut by_due: BTreeMap<DateTime<Utc>, Vec<&MedicationAdministration>> = BTreeMap::new();
            for a in given {
                if let Some(due) = a.due_at {
                    by_due.entry(due).or_default().push(a);
                }
            }
            for (due, list) in by_due {
                push_group(&mut groups, order.id, Some(due), &list);
            }
        }
    }
    groups.retain(|g| {
        !reviews.iter().any(|r| {
            !r.deleted
                && r.request_id == g.request_id
                && g.administration_ids.iter().all(|id| r.administration_ids.contains(id))
        })
    });
    groups
}

fn push_group(
    groups: &mut Vec<DoubleDose>,
    request_id: Uuid,
    due_at: Option<DateTime<Utc>>,
    list: &[&MedicationAdministration],
) {
    if list.len() >= 2 {
        let mut ids: Vec<Uuid> = list.iter().map(|a| a.id).collect();
        ids.sort();
        groups.push(DoubleDose { request_id, due_at, administration_ids: ids });
    }
}

/// The whole view: every order's line and the unreviewed double doses.
/// Orders are listed current first (active, on hold), then by name.
pub fn medications_view(
    patient_id: Uuid,
    orders: &[MedicationRequest],
    administrations: &[AdministrationRow],
    reviews: &[DoseReview],
    zone: Tz,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> MedicationsView {
    let mut sorted: Vec<&MedicationRequest> = orders.iter().filter(|o| !o.deleted).collect();
    sorted.sort_by(|a, b| {
        (!a.is_current(), a.medication.display.to_lowercase(), a.id).cmp(&(
            !b.is_current(),
            b.medication.display.to_lowercase(),
            b.id,
        ))
    });
    let plain: Vec<MedicationAdministration> = administrations.iter().map(|r| r.administration.clone()).collect();
    let double = sorted.iter().flat_map(|o| double_doses(o, &plain, reviews)).collect();
    MedicationsView {
        patient_id,
        window_start: window.0,
        window_end: window.1,
        now,
        time_zone: zone.name().to_owned(),
        orders: sorted.into_iter().map(|o| mar_order(o, administrations, zone, window, now)).collect(),
        double_doses: double,
    }
}

/// The next scheduled dose still to give and the number overdue, over the
/// patient's current orders at `now`, for the census: (due time and
/// medication display of the next, overdue count). Looks back and ahead 24
/// hours.
pub fn next_due(
    orders: &[MedicationRequest],
    administrations: &[MedicationAdministration],
    zone: Tz,
    now: DateTime<Utc>,
) -> (Option<(DateTime<Utc>, String)>, u32) {
    let window = (now - Duration::hours(24), now + Duration::hours(24));
    let mut next: Option<(DateTime<Utc>, String)> = None;
    let mut overdue = 0;
    for order in orders.iter().filter(|o| !o.deleted && o.status == super::MedicationRequestStatus::Active) {
        for due in due_times(&order.timing, order.start, order.end, zone, window.0, window.1) {
            let answered = administrations.iter().any(|a| {
                a.request_id == order.id
                    && a.due_at == Some(due)
                    && !a.deleted
                    && a.status != AdministrationStatus::EnteredInError
            });
            if answered {
                continue;
            }
            match slot_state(due, now) {
                DueState::Overdue => overdue += 1,
                DueState::DueNow | DueState::Future => {
                    if next.as_ref().is_none_or(|(at, _)| due < *at) {
                        next = Some((due, order.medication.display.clone()));
                    }
                }
            }
        }
    }
    (next, overdue)
}

#[cfg(test)]
#[path = "mar_tests.rs"]
mod tests;
