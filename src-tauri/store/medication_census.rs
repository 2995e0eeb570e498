//! The ward at a glance, from the cache: each census line's next due dose,
//! overdue count and "possible double dose" flag, and the status bar's count
//! of patients so flagged. The rules are protocol's
//! (`medication::next_due`, `medication::double_doses`); this module only
//! reads the rows they need, a few queries for the whole ward rather than
//! some per patient.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rusqlite::Connection;
use uuid::Uuid;
use wardbook_protocol::medication::{MedicationAdministration, MedicationRequest, double_doses, next_due};
use wardbook_protocol::{NextDue, PatientSummary};

use super::{StoreError, dose_reviews, medication_administrations, medication_requests};

/// Flags over the medication tables that carry no PHI (counts), for the
/// status bar: no audit event needed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MedicationFlags<'a>(pub(super) &'a Connection);

impl MedicationFlags<'_> {
    /// How many cached patients have a possible double dose no clinician
    /// has reviewed yet.
    pub(crate) fn double_dose_patients(self) -> Result<u32, StoreError> {
        Ok(u32::try_from(double_dose_patients(self.0)?.len()).unwrap_or(u32::MAX))
    }
}

/// The patients with an unreviewed possible double dose. The candidates
/// query narrows the orders to the few with two given doses close
/// together; the rule then decides each with its reviews.
pub(super) fn double_dose_patients(conn: &Connection) -> Result<HashSet<Uuid>, StoreError> {
    let mut flagged = HashSet::new();
    let mut seen = HashSet::new();
    for (patient, request) in medication_administrations::double_dose_candidates(conn)? {
        if flagged.contains(&patient) || !seen.insert(request) {
            continue;
        }
        let Some(order) = medication_requests::get_in(conn, request)? else { continue };
        let administrations = medication_administrations::of_order(conn, request)?;
        let reviews = dose_reviews::of_order(conn, request)?;
        if !double_doses(&order, &administrations, &reviews).is_empty() {
            flagged.insert(patient);
        }
    }
    Ok(flagged)
}

/// Fills each census line's medication columns at `now`, due times in
/// `zone`. `location` is the census's (`None`: every cached patient).
pub(super) fn fill(
    conn: &Connection,
    census: &mut [PatientSummary],
    location: Option<&str>,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if census.is_empty() {
        return Ok(());
    }
    let mut orders: HashMap<Uuid, Vec<MedicationRequest>> = HashMap::new();
    for order in medication_requests::active_of_census(conn, location)? {
        orders.entry(order.patient_id).or_default().push(order);
    }
    let window = (now - Duration::hours(24), now + Duration::hours(24));
    let mut given: HashMap<Uuid, Vec<MedicationAdministration>> = HashMap::new();
    for administration in medication_administrations::due_in_census(conn, location, window)? {
        given.entry(administration.patient_id).or_default().push(administration);
    }
    let flagged = double_dose_patients(conn)?;
    for line in census {
        let (next, overdue) = match orders.get(&line.id) {
            Some(orders) => next_due(orders, given.get(&line.id).map_or(&[], Vec::as_slice), zone, now),
            None => (None, 0),
        };
        line.next_due = next.map(|(due_at, medication)| NextDue { due_at, medication });
        line.overdue_doses = overdue;
        line.possible_double_dose = flagged.contains(&line.id);
    }
    Ok(())
}
