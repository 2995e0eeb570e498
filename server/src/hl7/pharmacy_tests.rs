#![allow(clippy::unwrap_used)]
use chrono::NaiveTime;
use wardbook_protocol::medication::Timing;

use super::super::parse::{AckCode, ErrorCode, Event, parse};
use super::*;

/// A synthetic RDE^O11 (no real patient): amoxicillin 500 mg three times a
/// day by mouth, with its ingredient and a formulary high-alert flag off.
const RDE: &str = "MSH|^~\\&|PHARM|GENHOSP|WARDBOOK|GENHOSP|20261201083000||RDE^O11^RDE_O11|RX0001|T|2.5.1\r\
PID|1||SYN-7001^^^GENHOSP^MR\r\
ORC|NW|P100^EPIC|F200^PHARM||IP||||20261201080000|||0042^Synthetic^Prescriber\r\
RXE||723^Amoxicillin 500 MG Oral Capsule^RXNORM|500|1000|mg^milligram^UCUM||^Take with food~^Complete the course||||||||||||||||||500|mg|^Chest infection\r\
TQ1|1||TID||||20261201090000|20261208090000\r\
RXR|PO^Oral^HL70162\r\
RXC|B|723^Amoxicillin^RXNORM|500|mg\r";

#[test]
fn an_encoded_order_reads_every_part() {
    let inbound = parse(RDE).unwrap();
    let Event::Pharmacy(p) = inbound.event else { panic!("pharmacy orders") };
    assert_eq!(p.patient.mrn().unwrap().value, "SYN-7001");
    let [o] = p.orders.as_slice() else { panic!("one order") };
    assert_eq!(o.control, "NW");
    assert_eq!(o.placer, Some(OrderNumber { id: "P100".into(), namespace: "EPIC".into() }));
    assert_eq!(o.filler, Some(OrderNumber { id: "F200".into(), namespace: "PHARM".into() }));
    assert_eq!(o.prescriber.as_deref(), Some("0042 Synthetic Prescriber"));
    let d = o.detail.as_ref().unwrap();
    assert_eq!((d.give_code.code.as_str(), d.give_code.system.as_str()), ("723", "RXNORM"));
    assert_eq!(d.dose, Some((500.0, "mg".into())));
    assert_eq!(d.strength.as_deref(), Some("500 mg"));
    assert_eq!(d.instructions, ["Take with food", "Complete the course", "Dose range 500 to 1000 mg"]);
    assert_eq!(d.indications, ["Chest infection"]);
    assert_eq!(d.route.as_ref().map(|r| r.code.as_str()), Some("PO"));
    assert_eq!(d.ingredients.len(), 1);
    assert_eq!(d.timing, Timing::TimesPerDay { count: 3 });
    assert_eq!(d.start.unwrap().to_rfc3339(), "2026-12-01T09:00:00+00:00");
    assert_eq!(d.end.unwrap().to_rfc3339(), "2026-12-08T09:00:00+00:00");
    assert!(!d.high_alert);
    // Debug prints no instruction.
    assert!(!format!("{o:?}").contains("food"));
}

#[test]
fn timing_comes_from_the_encoded_tq1_else_the_old_tq_and_prn_takes_its_daily_maximum() {
    let with = |tq1: &str, rxe1: &str| {
        let text = RDE
            .replace("TQ1|1||TID||||20261201090000|20261208090000\r", tq1)
            .replace("RXE||", &format!("RXE|{rxe1}|"))
            .replace("course||||||||||||||||||500|", "course||||||||||||4000^mg||||||500|");
        let Event::Pharmacy(p) = parse(&text).unwrap().event else { panic!("pharmacy orders") };
        p.orders[0].detail.clone().unwrap()
    };
    let d = with("TQ1|1||Q4H||||||PRN\r", "");
    assert_eq!(d.timing, Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(4000.0) });
    let d = with("TQ1|1|||0800~2000\r", "");
    let at = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    assert_eq!(d.timing, Timing::FixedTimes { times: vec![at(8), at(20)] });
    // No TQ1: RXE-1's interval, start and priority.
    let d = with("", "1^Q6H^^20261202060000");
    assert_eq!(d.timing, Timing::EveryHours { hours: 6 });
    assert_eq!(d.start.unwrap().to_rfc3339(), "2026-12-02T06:00:00+00:00");
    let d = with("", "1^&0900,2100");
    assert_eq!(d.timing, Timing::FixedTimes { times: vec![at(9), at(21)] });
    // Neither: the order's start is ORC-9 and the timing is missing.
    let r = parse(&RDE.replace("TQ1|1||TID||||20261201090000|20261208090000\r", "")).unwrap_err();
    assert_eq!((r.ack, r.location.unwrap().to_string()), (AckCode::AE, "ORC-7".into()));
    let r = parse(&RDE.replace("|TID|", "|Q1J2|")).unwrap_err();
    assert_eq!((r.code, r.location.unwrap().to_string()), (ErrorCode::TableValueNotFound, "TQ1-3".into()));
}

#[test]
fn a_prescriber_order_reads_its_rxo_and_an_orc_alone_has_no_detail() {
    let omp = "MSH|^~\\&|EPIC|GENHOSP|WARDBOOK|GENHOSP|20261201083000||OMP^O09^OMP_O09|OMP0001|T|2.5.1\r\
PID|1||SYN-7001^^^GENHOSP^MR\r\
ORC|NW|P300^EPIC\r\
TQ1|1||Q6H||||||PRN\r\
RXO|7052^Morphine^RXNORM|5||mg|||^For pain|||||||||||10|mg/mL|^Post-operative pain|||30^mg\r\
RXR|SC^Subcutaneous^HL70162\r\
ZRX|Y\r\
ORC|DC|P301^EPIC\r";
    let Event::Pharmacy(p) = parse(omp).unwrap().event else { panic!("pharmacy orders") };
    let [first, second] = p.orders.as_slice() else { panic!("two orders") };
    let d = first.detail.as_ref().unwrap();
    assert_eq!(d.give_code.code, "7052");
    assert_eq!(d.dose, Some((5.0, "mg".into())));
    assert_eq!(d.strength.as_deref(), Some("10 mg/mL"));
    assert_eq!(d.indications, ["Post-operative pain"]);
    assert_eq!(d.timing, Timing::Prn { min_interval_minutes: 360, max_daily_dose: Some(30.0) });
    assert!(d.high_alert);
    assert_eq!(second.control, "DC");
    assert!(second.detail.is_none());
}

#[test]
fn wrong_orders_are_refused_by_field() {
    let cases: Vec<(String, &str)> = vec![
        (RDE.replace("ORC|NW|", "ORC||"), "ORC-1"),
        (RDE.replace("723^Amoxicillin 500 MG Oral Capsule^RXNORM", ""), "RXE-2"),
        (RDE.replace("|500|1000|", "|five|1000|"), "RXE-3"),
        (RDE.replace("mg^milligram^UCUM", ""), "RXE-5"),
        (RDE.replace("|20261208090000", "|2026130809"), "TQ1-8"),
        (RDE.replace("TQ1|1||TID|", "TQ1|1|||25:00|"), "TQ1-4"),
        (RDE.replace("ORC|NW|P100^EPIC|F200^PHARM||IP||||20261201080000|||0042^Synthetic^Prescriber\r", ""), "RXE-0"),
    ];
    for (text, at) in cases {
        let r = parse(&text).unwrap_err();
        assert_eq!(r.location.map(|l| l.to_string()).as_deref(), Some(at), "{at}: {}", r.text);
        assert_eq!(r.ack, AckCode::AE);
    }
}
