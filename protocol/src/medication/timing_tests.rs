//! Tests of `timing.rs`: due times for every form, across midnight and both DST changes, within start and end.
use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("an RFC 3339 instant").with_timezone(&Utc)
}

fn utcs(list: &[&str]) -> Vec<DateTime<Utc>> {
    list.iter().map(|s| utc(s)).collect()
}

fn hm(s: &str) -> NaiveTime {
    s.parse().expect("a clock time")
}

fn fixed(times: &[&str]) -> Timing {
    Timing::FixedTimes { times: times.iter().map(|s| hm(s)).collect() }
}

fn zone(name: &str) -> Tz {
    parse_zone(name).expect("a zone")
}

struct Case {
    name: &'static str,
    timing: Timing,
    zone: &'static str,
    start: &'static str,
    end: Option<&'static str>,
    from: &'static str,
    to: &'static str,
    want: &'static [&'static str],
}

fn check(cases: &[Case]) {
    for case in cases {
        let got =
            due_times(&case.timing, utc(case.start), case.end.map(utc), zone(case.zone), utc(case.from), utc(case.to));
        assert_eq!(got, utcs(case.want), "{}", case.name);
    }
}

#[test]
fn due_times_for_each_timing_form() {
    check(&[
        Case {
            name: "fixed times, London winter (UTC+0)",
            timing: fixed(&["08:00", "20:00"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &["2026-01-10T08:00:00Z", "2026-01-10T20:00:00Z"],
        },
        Case {
            name: "fixed times, London summer (BST, UTC+1)",
            timing: fixed(&["20:00", "08:00"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-07-01T00:00:00Z",
            to: "2026-07-02T00:00:00Z",
            want: &["2026-07-01T07:00:00Z", "2026-07-01T19:00:00Z"],
        },
        Case {
            name: "times per day 3, London summer: 08:00, 14:00, 22:00 BST",
            timing: Timing::TimesPerDay { count: 3 },
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-07-01T00:00:00Z",
            to: "2026-07-02T00:00:00Z",
            want: &["2026-07-01T07:00:00Z", "2026-07-01T13:00:00Z", "2026-07-01T21:00:00Z"],
        },
        Case {
            name: "times per day 4, New York winter (UTC-5): 06, 12, 18, 22 EST",
            timing: Timing::TimesPerDay { count: 4 },
            zone: "America/New_York",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-01-15T05:00:00Z",
            to: "2026-01-16T05:00:00Z",
            want: &["2026-01-15T11:00:00Z", "2026-01-15T17:00:00Z", "2026-01-15T23:00:00Z", "2026-01-16T03:00:00Z"],
        },
        Case {
            name: "times per day 0 (invalid): nothing",
            timing: Timing::TimesPerDay { count: 0 },
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &[],
        },
        Case {
            name: "every 6 hours from the start",
            timing: Timing::EveryHours { hours: 6 },
            zone: "Europe/London",
            start: "2026-01-10T09:15:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &["2026-01-10T09:15:00Z", "2026-01-10T15:15:00Z", "2026-01-10T21:15:00Z"],
        },
        Case {
            name: "every 6 hours, started years before the window",
            timing: Timing::EveryHours { hours: 6 },
            zone: "Europe/London",
            start: "2020-01-01T00:00:00Z",
            end: None,
            from: "2026-06-01T03:00:00Z",
            to: "2026-06-01T13:00:00Z",
            want: &["2026-06-01T06:00:00Z", "2026-06-01T12:00:00Z"],
        },
        Case {
            name: "every 168 hours (weekly)",
            timing: Timing::EveryHours { hours: 168 },
            zone: "Europe/London",
            start: "2026-01-05T10:00:00Z",
            end: None,
            from: "2026-01-06T00:00:00Z",
            to: "2026-01-27T00:00:00Z",
            want: &["2026-01-12T10:00:00Z", "2026-01-19T10:00:00Z", "2026-01-26T10:00:00Z"],
        },
        Case {
            name: "every 0 hours (invalid): nothing",
            timing: Timing::EveryHours { hours: 0 },
            zone: "Europe/London",
            start: "2026-01-10T09:15:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &[],
        },
        Case {
            name: "once, inside the window",
            timing: Timing::Once,
            zone: "Europe/London",
            start: "2026-01-10T09:15:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &["2026-01-10T09:15:00Z"],
        },
        Case {
            name: "once, before the window",
            timing: Timing::Once,
            zone: "Europe/London",
            start: "2026-01-09T09:15:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &[],
        },
        Case {
            name: "once, after the window",
            timing: Timing::Once,
            zone: "Europe/London",
            start: "2026-01-11T00:00:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &[],
        },
        Case {
            name: "once, at the window's start",
            timing: Timing::Once,
            zone: "Europe/London",
            start: "2026-01-10T00:00:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &["2026-01-10T00:00:00Z"],
        },
        Case {
            name: "once, order ended at its start",
            timing: Timing::Once,
            zone: "Europe/London",
            start: "2026-01-10T09:15:00Z",
            end: Some("2026-01-10T09:15:00Z"),
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &[],
        },
        Case {
            name: "prn: never due",
            timing: Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(4000.0) },
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-20T00:00:00Z",
            want: &[],
        },
    ]);
}

#[test]
fn due_times_across_midnight() {
    check(&[
        Case {
            name: "22:00 and 02:00, window 20:00-04:00 New York (EST)",
            timing: fixed(&["02:00", "22:00"]),
            zone: "America/New_York",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-01-16T01:00:00Z", // 20:00 EST on the 15th
            to: "2026-01-16T09:00:00Z",   // 04:00 EST on the 16th
            want: &["2026-01-16T03:00:00Z", "2026-01-16T07:00:00Z"],
        },
        Case {
            name: "22:00 and 02:00, window 20:00-04:00 London (BST)",
            timing: fixed(&["22:00", "02:00"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-07-01T19:00:00Z",
            to: "2026-07-02T03:00:00Z",
            want: &["2026-07-01T21:00:00Z", "2026-07-02T01:00:00Z"],
        },
        Case {
            name: "Asia/Tokyo (UTC+9): local dates ahead of UTC",
            timing: fixed(&["08:00"]),
            zone: "Asia/Tokyo",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-01-09T22:00:00Z", // 07:00 JST on the 10th
            to: "2026-01-10T22:00:00Z",
            want: &["2026-01-09T23:00:00Z"],
        },
        Case {
            name: "every 8 hours across midnight",
            timing: Timing::EveryHours { hours: 8 },
            zone: "Europe/London",
            start: "2026-01-15T18:00:00Z",
            end: None,
            from: "2026-01-15T20:00:00Z",
            to: "2026-01-16T04:00:00Z",
            want: &["2026-01-16T02:00:00Z"],
        },
    ]);
}

#[test]
fn due_times_across_dst_changes() {
    check(&[
        Case {
            // 2026-03-29: 01:00 GMT becomes 02:00 BST; 01:30 does not exist.
            name: "London spring forward: 01:30 given once, at 02:30 BST",
            timing: fixed(&["01:30"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-03-28T00:00:00Z",
            to: "2026-03-31T00:00:00Z",
            want: &["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"],
        },
        Case {
            name: "London spring forward: 01:30 and 02:30 meet at 02:30 BST, one dose",
            timing: fixed(&["01:30", "02:30"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-03-29T00:00:00Z",
            to: "2026-03-30T00:00:00Z",
            want: &["2026-03-29T01:30:00Z"],
        },
        Case {
            name: "London spring forward: 08:00 and 20:00 keep their clock times",
            timing: fixed(&["08:00", "20:00"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-03-28T12:00:00Z",
            to: "2026-03-29T23:00:00Z",
            want: &["2026-03-28T20:00:00Z", "2026-03-29T07:00:00Z", "2026-03-29T19:00:00Z"],
        },
        Case {
            // 2026-10-25: 02:00 BST becomes 01:00 GMT; 01:30 happens twice.
            name: "London fall back: 01:30 given once, at the earlier (BST) instant",
            timing: fixed(&["01:30"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-10-24T00:00:00Z",
            to: "2026-10-27T00:00:00Z",
            want: &["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
        },
        Case {
            name: "London fall back: TimesPerDay 2 keeps 08:00 and 20:00 local",
            timing: Timing::TimesPerDay { count: 2 },
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-10-24T12:00:00Z",
            to: "2026-10-25T23:00:00Z",
            want: &["2026-10-24T19:00:00Z", "2026-10-25T08:00:00Z", "2026-10-25T20:00:00Z"],
        },
        Case {
            // 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 does not exist.
            name: "New York spring forward: 02:30 given at 03:30 EDT",
            timing: fixed(&["02:30"]),
            zone: "America/New_York",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-03-07T00:00:00Z",
            to: "2026-03-10T00:00:00Z",
            want: &["2026-03-07T07:30:00Z", "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"],
        },
        Case {
            // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
            name: "New York fall back: 01:30 given once, at 01:30 EDT",
            timing: fixed(&["01:30"]),
            zone: "America/New_York",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-10-31T00:00:00Z",
            to: "2026-11-03T00:00:00Z",
            want: &["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
        },
        Case {
            // 18:00 GMT, 00:00 GMT, then 07:00, 13:00, 19:00 BST: six hours each.
            name: "London spring forward: every 6 hours keeps elapsed intervals",
            timing: Timing::EveryHours { hours: 6 },
            zone: "Europe/London",
            start: "2026-03-28T18:00:00Z",
            end: None,
            from: "2026-03-28T00:00:00Z",
            to: "2026-03-30T00:00:00Z",
            want: &[
                "2026-03-28T18:00:00Z",
                "2026-03-29T00:00:00Z",
                "2026-03-29T06:00:00Z",
                "2026-03-29T12:00:00Z",
                "2026-03-29T18:00:00Z",
            ],
        },
        Case {
            // 17:00 BST, 01:00 BST, 08:00 GMT, 16:00 GMT: eight hours each.
            name: "London fall back: every 8 hours keeps elapsed intervals",
            timing: Timing::EveryHours { hours: 8 },
            zone: "Europe/London",
            start: "2026-10-24T16:00:00Z",
            end: None,
            from: "2026-10-24T00:00:00Z",
            to: "2026-10-26T00:00:00Z",
            want: &["2026-10-24T16:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T08:00:00Z", "2026-10-25T16:00:00Z"],
        },
    ]);
}

#[test]
fn due_times_within_start_and_end() {
    check(&[
        Case {
            name: "fixed times: a dose at the start is due, one at the end is not",
            timing: fixed(&["08:00", "20:00"]),
            zone: "Europe/London",
            start: "2026-01-10T08:00:00Z",
            end: Some("2026-01-12T08:00:00Z"),
            from: "2026-01-01T00:00:00Z",
            to: "2026-02-01T00:00:00Z",
            want: &["2026-01-10T08:00:00Z", "2026-01-10T20:00:00Z", "2026-01-11T08:00:00Z", "2026-01-11T20:00:00Z"],
        },
        Case {
            name: "fixed times: rounds before a mid-morning start are not back-filled",
            timing: fixed(&["08:00", "20:00"]),
            zone: "Europe/London",
            start: "2026-01-10T10:00:00Z",
            end: Some("2026-01-11T19:59:00Z"),
            from: "2026-01-01T00:00:00Z",
            to: "2026-02-01T00:00:00Z",
            want: &["2026-01-10T20:00:00Z", "2026-01-11T08:00:00Z"],
        },
        Case {
            name: "every 12 hours: the start is due, the end is not",
            timing: Timing::EveryHours { hours: 12 },
            zone: "Europe/London",
            start: "2026-01-10T08:00:00Z",
            end: Some("2026-01-12T08:00:00Z"),
            from: "2026-01-01T00:00:00Z",
            to: "2026-02-01T00:00:00Z",
            want: &["2026-01-10T08:00:00Z", "2026-01-10T20:00:00Z", "2026-01-11T08:00:00Z", "2026-01-11T20:00:00Z"],
        },
        Case {
            name: "every 12 hours: window from a dose (included) to a dose (excluded)",
            timing: Timing::EveryHours { hours: 12 },
            zone: "Europe/London",
            start: "2026-01-10T08:00:00Z",
            end: None,
            from: "2026-01-11T08:00:00Z",
            to: "2026-01-12T08:00:00Z",
            want: &["2026-01-11T08:00:00Z", "2026-01-11T20:00:00Z"],
        },
        Case {
            name: "fixed times: window from a dose (included) to a dose (excluded)",
            timing: fixed(&["08:00", "20:00"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-01-11T08:00:00Z",
            to: "2026-01-12T08:00:00Z",
            want: &["2026-01-11T08:00:00Z", "2026-01-11T20:00:00Z"],
        },
        Case {
            name: "order ended before the window",
            timing: fixed(&["08:00", "20:00"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: Some("2026-01-05T00:00:00Z"),
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &[],
        },
        Case {
            name: "order starting after the window",
            timing: Timing::EveryHours { hours: 4 },
            zone: "Europe/London",
            start: "2026-01-11T00:00:00Z",
            end: None,
            from: "2026-01-10T00:00:00Z",
            to: "2026-01-11T00:00:00Z",
            want: &[],
        },
        Case {
            name: "empty window (to before from)",
            timing: fixed(&["08:00"]),
            zone: "Europe/London",
            start: "2026-01-01T00:00:00Z",
            end: None,
            from: "2026-01-11T00:00:00Z",
            to: "2026-01-10T00:00:00Z",
            want: &[],
        },
    ]);
}

#[test]
fn due_times_are_capped_for_huge_windows() {
    let london = zone("Europe/London");
    let start = utc("2026-01-01T00:00:00Z");
    let far = utc("2126-01-01T00:00:00Z");
    let every_hour: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
    let every_hour: Vec<&str> = every_hour.iter().map(String::as_str).collect();
    for timing in [Timing::EveryHours { hours: 1 }, fixed(&every_hour), Timing::TimesPerDay { count: 24 }] {
        let got = due_times(&timing, start, None, london, start, far);
        assert_eq!(got.len(), MAX_DUE_TIMES, "{timing:?}");
        assert_eq!(got[0], start, "{timing:?}");
        assert!(got.windows(2).all(|pair| pair[0] < pair[1]), "{timing:?}");
    }
}
