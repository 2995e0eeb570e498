//! Table-driven tests of the MAR: slots, PRN summaries, double doses, the
//! whole view and the census's next dose. Times are in Europe/London in
//! June (BST, UTC+1): local 08:00 is 07:00Z.

use chrono::NaiveTime;
use chrono_tz::Europe::London;

use super::*;
use crate::medication::{Dose, DoseReviewOutcome, MedicationRequestStatus};
use crate::{Coding, RXNORM};

/// Label, administrations, reviews, the double doses expected.
type DoubleCase<'a> = (&'a str, Vec<MedicationAdministration>, Vec<DoseReview>, Vec<DoubleDose>);
/// Label, records, the slot's state, reason and records expected.
type SlotCase<'a> = (&'a str, Vec<MedicationAdministration>, SlotState, Option<NotGivenReason>, Vec<u128>);
/// Label, orders, administrations, what `next_due` answers.
type NextCase<'a> =
    (&'a str, Vec<MedicationRequest>, Vec<MedicationAdministration>, (Option<(DateTime<Utc>, String)>, u32));

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("an RFC 3339 instant").with_timezone(&Utc)
}

/// `hh:mm` UTC on 2025-06-10.
fn z(hm: &str) -> DateTime<Utc> {
    utc(&format!("2025-06-10T{hm}:00Z"))
}

/// 2025-06-10 local midnight to the next (BST).
fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    (utc("2025-06-09T23:00:00Z"), utc("2025-06-10T23:00:00Z"))
}

fn fixed(times: &[&str]) -> Timing {
    let times = times.iter().map(|t| NaiveTime::parse_from_str(t, "%H:%M").expect("hh:mm")).collect();
    Timing::FixedTimes { times }
}

fn grams(value: f64) -> Dose {
    Dose { value, unit: "g".into() }
}

/// An active order of patient 1, started 2025-06-01.
fn order(id: u128, display: &str, timing: Timing) -> MedicationRequest {
    MedicationRequest {
        id: Uuid::from_u128(id),
        version: 1,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        deleted: false,
        synthetic: true,
        patient_id: Uuid::from_u128(1),
        medication: Coding::new(RXNORM, "161", display),
        ingredients: Vec::new(),
        generic_name: None,
        strength: None,
        dose: Some(grams(1.0)),
        route: None,
        timing,
        start: utc("2025-06-01T00:00:00Z"),
        end: None,
        status: MedicationRequestStatus::Active,
        prescriber: None,
        indication: None,
        instructions: None,
        high_alert: false,
    }
}

fn with_status(o: MedicationRequest, status: MedicationRequestStatus) -> MedicationRequest {
    MedicationRequest { status, ..o }
}

/// 1 g of `order` given at `given_at` for `due_at`.
fn given(
    id: u128,
    order: &MedicationRequest,
    due_at: Option<DateTime<Utc>>,
    given_at: DateTime<Utc>,
) -> MedicationAdministration {
    MedicationAdministration {
        id: Uuid::from_u128(id),
        version: 1,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        deleted: false,
        synthetic: true,
        patient_id: order.patient_id,
        request_id: order.id,
        due_at,
        status: AdministrationStatus::Given,
        not_given_reason: None,
        dose: Some(grams(1.0)),
        route: None,
        site: None,
        given_at,
        performer: "nurse-a".into(),
        witness: None,
        overrides: Vec::new(),
        error_reason: None,
        recorded_at: given_at,
    }
}

fn not_given(
    id: u128,
    o: &MedicationRequest,
    due_at: DateTime<Utc>,
    reason: NotGivenReason,
    at: DateTime<Utc>,
) -> MedicationAdministration {
    MedicationAdministration {
        status: AdministrationStatus::NotGiven,
        not_given_reason: Some(reason),
        dose: None,
        ..given(id, o, Some(due_at), at)
    }
}

fn in_error(a: MedicationAdministration) -> MedicationAdministration {
    MedicationAdministration {
        status: AdministrationStatus::EnteredInError,
        error_reason: Some("wrong chart".into()),
        ..a
    }
}

fn deleted(a: MedicationAdministration) -> MedicationAdministration {
    MedicationAdministration { deleted: true, ..a }
}

fn rows(list: &[MedicationAdministration]) -> Vec<AdministrationRow> {
    list.iter().map(|a| AdministrationRow { administration: a.clone(), pending: false }).collect()
}

fn ids(list: &[u128]) -> Vec<Uuid> {
    list.iter().map(|i| Uuid::from_u128(*i)).collect()
}

fn review(order: &MedicationRequest, reviewed: &[u128]) -> DoseReview {
    DoseReview {
        id: Uuid::from_u128(900),
        version: 1,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        deleted: false,
        synthetic: true,
        patient_id: order.patient_id,
        request_id: order.id,
        due_at: None,
        administration_ids: ids(reviewed),
        outcome: DoseReviewOutcome::DuplicateRecord,
        note: "one dose given".into(),
        reviewed_by: "dr-1".into(),
        reviewed_at: z("12:00"),
    }
}

fn slot(due_at: DateTime<Utc>, state: SlotState, reason: Option<NotGivenReason>, records: &[u128]) -> MarSlot {
    MarSlot { due_at, state, not_given_reason: reason, administration_ids: ids(records) }
}

fn double(order: &MedicationRequest, due_at: Option<DateTime<Utc>>, records: &[u128]) -> DoubleDose {
    DoubleDose { request_id: order.id, due_at, administration_ids: ids(records) }
}

#[test]
fn mar_order_slot_states_at_a_fixed_now() {
    let o = order(10, "Paracetamol", fixed(&["06:00", "08:00", "10:00", "12:00", "14:00"]));
    let other = order(11, "Other", fixed(&["10:00"]));
    let list = [
        given(1, &o, Some(z("05:00")), z("05:10")),
        not_given(2, &o, z("07:00"), NotGivenReason::Refused, z("07:05")),
        given(3, &other, Some(z("09:00")), z("09:00")),
    ];
    let line = mar_order(&o, &rows(&list), London, window(), z("11:30"));
    assert_eq!(
        line.slots,
        vec![
            slot(z("05:00"), SlotState::Given, None, &[1]),
            slot(z("07:00"), SlotState::NotGiven, Some(NotGivenReason::Refused), &[2]),
            slot(z("09:00"), SlotState::Overdue, None, &[]),
            slot(z("11:00"), SlotState::DueNow, None, &[]),
            slot(z("13:00"), SlotState::Future, None, &[]),
        ]
    );
    assert_eq!(line.prn, None);
    assert_eq!(line.order, o);
    // Only the order's own records, newest first.
    let listed: Vec<Uuid> = line.administrations.iter().map(|r| r.administration.id).collect();
    assert_eq!(listed, ids(&[2, 1]));
}

#[test]
fn mar_slot_from_its_records() {
    let o = order(10, "Paracetamol", fixed(&["10:00"]));
    let due = z("09:00");
    let ng = |id, reason, at| not_given(id, &o, due, reason, at);
    let g = |id, at| given(id, &o, Some(due), at);
    let held = NotGivenReason::Held;
    // Records for the 09:00Z dose, what the slot shows at 11:30Z.
    let cases: Vec<SlotCase> = vec![
        ("given over not given", vec![ng(1, held, z("09:05")), g(2, z("09:20"))], SlotState::Given, None, vec![2, 1]),
        (
            "given over a later not given",
            vec![g(1, z("09:05")), ng(2, held, z("09:20"))],
            SlotState::Given,
            None,
            vec![2, 1],
        ),
        ("entered in error is not given", vec![in_error(g(1, z("09:05")))], SlotState::Overdue, None, vec![1]),
        ("deleted is not given", vec![deleted(g(1, z("09:05")))], SlotState::Overdue, None, vec![1]),
        (
            "not given beside an entered-in-error given",
            vec![in_error(g(1, z("09:05"))), ng(2, NotGivenReason::Unavailable, z("09:10"))],
            SlotState::NotGiven,
            Some(NotGivenReason::Unavailable),
            vec![2, 1],
        ),
        ("not given in error", vec![in_error(ng(1, held, z("09:05")))], SlotState::Overdue, None, vec![1]),
        ("deleted not given", vec![deleted(ng(1, held, z("09:05")))], SlotState::Overdue, None, vec![1]),
        ("nothing recorded", vec![], SlotState::Overdue, None, vec![]),
    ];
    for (label, records, state, reason, records_ids) in cases {
        let line = mar_order(&o, &rows(&records), London, window(), z("11:30"));
        assert_eq!(line.slots, vec![slot(due, state, reason, &records_ids)], "{label}");
    }
}

#[test]
fn a_record_for_a_due_time_no_longer_scheduled_still_shows() {
    let o = order(10, "Paracetamol", fixed(&["06:00", "14:00"]));
    let list = [
        given(1, &o, Some(z("08:00")), z("08:00")),
        given(2, &o, Some(utc("2025-06-09T23:00:00Z")), utc("2025-06-09T23:00:00Z")),
        // Outside the window (its end is excluded), or for no due time: no slot.
        given(3, &o, Some(utc("2025-06-10T23:00:00Z")), utc("2025-06-10T23:00:00Z")),
        given(4, &o, Some(utc("2025-06-09T22:59:00Z")), utc("2025-06-09T22:59:00Z")),
        given(5, &o, None, z("10:00")),
    ];
    let line = mar_order(&o, &rows(&list), London, window(), z("11:30"));
    assert_eq!(
        line.slots,
        vec![
            slot(utc("2025-06-09T23:00:00Z"), SlotState::Given, None, &[2]),
            slot(z("05:00"), SlotState::Overdue, None, &[]),
            slot(z("08:00"), SlotState::Given, None, &[1]),
            slot(z("13:00"), SlotState::Future, None, &[]),
        ]
    );
    assert_eq!(line.administrations.len(), 5);
}

#[test]
fn prn_summary() {
    let o = order(20, "Paracetamol", Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(4.0) });
    let now = z("12:00");
    let at = |id, when| given(id, &o, None, when);
    let recent = vec![
        at(1, utc("2025-06-09T11:00:00Z")), // 25 h before
        at(2, utc("2025-06-09T12:00:00Z")), // exactly 24 h before: not in the last 24 h
        at(3, z("02:00")),
        at(4, z("10:30")),
        MedicationAdministration { dose: Some(Dose { value: 500.0, unit: "mg".into() }), ..at(5, z("09:00")) },
        in_error(at(6, z("11:45"))),
        deleted(at(7, z("11:50"))),
        at(8, z("13:00")), // after now
    ];
    let summary = |last: Option<&str>, minutes: Option<i64>, doses: u32, total: f64, next: Option<&str>| PrnSummary {
        last_given_at: last.map(z),
        minutes_since_last: minutes,
        doses_last_24h: doses,
        total_last_24h: total,
        unit: Some("g".into()),
        next_allowed_at: next.map(z),
    };
    let cases: Vec<(&str, Vec<MedicationAdministration>, PrnSummary)> = vec![
        ("recent doses", recent.clone(), summary(Some("10:30"), Some(90), 3, 2.0, Some("14:30"))),
        ("last dose outside the interval", vec![at(1, z("07:59"))], summary(Some("07:59"), Some(241), 1, 1.0, None)),
        (
            "last dose exactly the interval ago",
            vec![at(1, z("08:00"))],
            summary(Some("08:00"), Some(240), 1, 1.0, None),
        ),
        ("seconds round down", vec![at(1, z("11:58") + Duration::seconds(30))], {
            let mut s = summary(None, Some(1), 1, 1.0, None);
            s.last_given_at = Some(z("11:58") + Duration::seconds(30));
            s.next_allowed_at = Some(z("15:58") + Duration::seconds(30));
            s
        }),
        ("no doses", vec![], summary(None, None, 0, 0.0, None)),
    ];
    for (label, list, expected) in cases {
        let line = mar_order(&o, &rows(&list), London, window(), now);
        assert_eq!(line.prn, Some(expected), "{label}");
        assert_eq!(line.slots, vec![], "{label}");
    }
}

#[test]
fn double_doses_of_a_scheduled_order() {
    let o = order(10, "Paracetamol", fixed(&["08:00", "20:00"]));
    let other = order(11, "Other", fixed(&["08:00"]));
    let d = z("07:00");
    let g = |id, at| given(id, &o, Some(d), at);
    let pair = vec![g(5, z("07:00")), g(3, z("07:30"))];
    let deleted_review = DoseReview { deleted: true, ..review(&o, &[3, 5]) };
    let cases: Vec<DoubleCase> = vec![
        ("two given for one due time", pair.clone(), vec![], vec![double(&o, Some(d), &[3, 5])]),
        ("reviewed", pair.clone(), vec![review(&o, &[5, 3])], vec![]),
        ("a review naming more records", pair.clone(), vec![review(&o, &[7, 3, 5])], vec![]),
        (
            "a third record after the review",
            [pair.clone(), vec![g(9, z("08:00"))]].concat(),
            vec![review(&o, &[3, 5])],
            vec![double(&o, Some(d), &[3, 5, 9])],
        ),
        ("a review of one of them", pair.clone(), vec![review(&o, &[3])], vec![double(&o, Some(d), &[3, 5])]),
        ("a deleted review", pair.clone(), vec![deleted_review], vec![double(&o, Some(d), &[3, 5])]),
        ("another order's review", pair.clone(), vec![review(&other, &[3, 5])], vec![double(&o, Some(d), &[3, 5])]),
        (
            "given and not given",
            vec![g(1, z("07:00")), not_given(2, &o, d, NotGivenReason::Held, z("07:10"))],
            vec![],
            vec![],
        ),
        ("given and entered in error", vec![g(1, z("07:00")), in_error(g(2, z("07:10")))], vec![], vec![]),
        ("given and deleted", vec![g(1, z("07:00")), deleted(g(2, z("07:10")))], vec![], vec![]),
        ("different due times", vec![g(1, z("07:00")), given(2, &o, Some(z("19:00")), z("19:00"))], vec![], vec![]),
        ("another order's record", vec![g(1, z("07:00")), given(2, &other, Some(d), z("07:10"))], vec![], vec![]),
        ("no due times", vec![given(1, &o, None, z("07:00")), given(2, &o, None, z("07:10"))], vec![], vec![]),
    ];
    for (label, list, reviews, expected) in cases {
        assert_eq!(double_doses(&o, &list, &reviews), expected, "{label}");
    }
}

#[test]
fn double_doses_of_a_prn_order() {
    let o = order(20, "Morphine", Timing::Prn { min_interval_minutes: 240, max_daily_dose: None });
    let at = |id, hm| given(id, &o, None, z(hm));
    let cases: Vec<DoubleCase> = vec![
        ("inside the interval", vec![at(2, "13:00"), at(1, "10:00")], vec![], vec![double(&o, None, &[1, 2])]),
        ("one minute short", vec![at(1, "10:00"), at(2, "13:59")], vec![], vec![double(&o, None, &[1, 2])]),
        ("exactly the interval", vec![at(1, "10:00"), at(2, "14:00")], vec![], vec![]),
        ("outside the interval", vec![at(1, "10:00"), at(2, "15:00")], vec![], vec![]),
        (
            "a chain is one group",
            vec![at(1, "10:00"), at(2, "13:00"), at(3, "16:00")],
            vec![],
            vec![double(&o, None, &[1, 2, 3])],
        ),
        (
            "two groups",
            vec![at(1, "01:00"), at(2, "02:00"), at(3, "10:00"), at(4, "11:00")],
            vec![],
            vec![double(&o, None, &[1, 2]), double(&o, None, &[3, 4])],
        ),
        ("entered in error", vec![at(1, "10:00"), in_error(at(2, "11:00"))], vec![], vec![]),
        ("reviewed", vec![at(1, "10:00"), at(2, "11:00")], vec![review(&o, &[1, 2])], vec![]),
    ];
    for (label, list, reviews, expected) in cases {
        assert_eq!(double_doses(&o, &list, &reviews), expected, "{label}");
    }
}

#[test]
fn medications_view_orders_current_first_then_by_name() {
    let daily = || fixed(&["08:00"]);
    let zopiclone = order(1, "Zopiclone", daily());
    let amoxicillin = with_status(order(2, "amoxicillin", daily()), MedicationRequestStatus::Stopped);
    let bisoprolol = with_status(order(3, "Bisoprolol", daily()), MedicationRequestStatus::OnHold);
    let aspirin = order(4, "aspirin", daily());
    let aciclovir = MedicationRequest { deleted: true, ..order(5, "Aciclovir", daily()) };
    let completed = with_status(order(6, "Codeine", daily()), MedicationRequestStatus::Completed);
    let orders = [zopiclone.clone(), amoxicillin.clone(), bisoprolol, aspirin, aciclovir.clone(), completed];
    let d = z("07:00");
    let list = [
        given(11, &zopiclone, Some(d), z("07:00")),
        given(12, &zopiclone, Some(d), z("07:05")),
        given(21, &amoxicillin, Some(d), z("07:00")),
        given(22, &amoxicillin, Some(d), z("07:05")),
        given(51, &aciclovir, Some(d), z("07:00")),
        given(52, &aciclovir, Some(d), z("07:05")),
    ];
    let patient = Uuid::from_u128(1);
    let view = medications_view(patient, &orders, &rows(&list), &[], London, window(), z("11:30"));
    let listed: Vec<Uuid> = view.orders.iter().map(|m| m.order.id).collect();
    assert_eq!(listed, ids(&[4, 3, 1, 2, 6]));
    assert_eq!(
        view.double_doses,
        vec![double(&zopiclone, Some(d), &[11, 12]), double(&amoxicillin, Some(d), &[21, 22])]
    );
    let own: Vec<usize> = view.orders.iter().map(|m| m.administrations.len()).collect();
    assert_eq!(own, [0, 0, 2, 2, 0]);
    assert_eq!(view.orders[2].slots, vec![slot(d, SlotState::Given, None, &[12, 11])]);
    assert_eq!(
        (view.patient_id, view.window_start, view.window_end, view.now, view.time_zone.as_str()),
        (patient, window().0, window().1, z("11:30"), "Europe/London")
    );
    // A review clears the view's flag too.
    let view = medications_view(
        patient,
        &orders,
        &rows(&list),
        &[review(&zopiclone, &[11, 12])],
        London,
        window(),
        z("11:30"),
    );
    assert_eq!(view.double_doses, vec![double(&amoxicillin, Some(d), &[21, 22])]);
}

#[test]
fn next_due_over_active_orders() {
    let now = z("11:30");
    // 08:00, 12:00, 16:00 and 20:00 local: 07:00Z, 11:00Z, 15:00Z, 19:00Z.
    let a = order(1, "A", fixed(&["08:00", "12:00", "16:00", "20:00"]));
    // 14:00 local from today: 13:00Z.
    let b = MedicationRequest { start: utc("2025-06-10T00:00:00Z"), ..order(2, "B", fixed(&["14:00"])) };
    // 13:00 local (12:00Z): due before B's dose, but none of these may be given.
    let earlier = || order(3, "C", fixed(&["13:00"]));
    let stopped = with_status(earlier(), MedicationRequestStatus::Stopped);
    let on_hold =
        MedicationRequest { id: Uuid::from_u128(4), ..with_status(earlier(), MedicationRequestStatus::OnHold) };
    let gone = MedicationRequest { id: Uuid::from_u128(5), deleted: true, ..earlier() };
    let prn = order(6, "P", Timing::Prn { min_interval_minutes: 60, max_daily_dose: None });
    let answers = vec![
        given(1, &a, Some(utc("2025-06-09T15:00:00Z")), utc("2025-06-09T15:00:00Z")),
        not_given(2, &a, utc("2025-06-09T19:00:00Z"), NotGivenReason::Refused, utc("2025-06-09T19:00:00Z")),
        in_error(given(3, &a, Some(z("07:00")), z("07:00"))),
        deleted(given(4, &a, Some(z("07:00")), z("07:00"))),
        given(5, &b, Some(z("07:00")), z("07:00")), // another order's record
        given(6, &a, Some(z("11:00")), z("11:05")),
    ];
    let next = |at: &str, name: &str| Some((z(at), name.to_owned()));
    let cases: Vec<NextCase> = vec![
        ("no orders", vec![], vec![], (None, 0)),
        ("unanswered", vec![a.clone()], vec![], (next("11:00", "A"), 3)),
        ("answered", vec![a.clone()], answers.clone(), (next("15:00", "A"), 1)),
        ("the earliest over orders", vec![a.clone(), b.clone()], answers.clone(), (next("13:00", "B"), 1)),
        (
            "orders that may not be given are ignored",
            vec![a.clone(), stopped, on_hold, gone, prn, b.clone()],
            answers.clone(),
            (next("13:00", "B"), 1),
        ),
        (
            "only a PRN order",
            vec![order(6, "P", Timing::Prn { min_interval_minutes: 60, max_daily_dose: None })],
            vec![],
            (None, 0),
        ),
    ];
    for (label, orders, list, expected) in cases {
        assert_eq!(next_due(&orders, &list, London, now), expected, "{label}");
    }
}
