#![allow(clippy::unwrap_used)]
use chrono::NaiveDate;
use wardbook_protocol::Sex;

use super::*;

/// Synthetic test data (no real patient).
const A01: &str = "MSH|^~\\&|EPIC|GENHOSP|WARDBOOK|GENHOSP|20261201083000+0100||ADT^A01^ADT_A01|MSG0001|P|2.5.1|||AL|NE||UNICODE UTF-8\r\
EVN|A01|20261201083000\r\
PID|1||SYN123456^^^GENHOSP^MR~9990001112^^^NHS^NH||O\\S\\Brien^Synthetic^Q^^^^L||19750315|F|||1 Test Street^^Testtown^^TE1 1ST^GBR||^PRN^PH^^^01632^960000~^NET^Internet^syn@example.invalid||en\r\
PV1|1|I|7A^12^03-B^GENHOSP||||1234^Carter^Jane|||MED|||||||||V0001|||||||||||||||||||||||||20261201080000\r\
AL1|1|DA|70618^Penicillin^RXNORM|SV|Urticaria~Wheeze|20200101\r";

#[test]
fn an_admission_reads_identity_visit_and_allergies() {
    let inbound = parse(A01).unwrap();
    assert_eq!(inbound.header.message_type, "ADT^A01");
    assert_eq!(inbound.header.control_id, "MSG0001");
    assert_eq!(inbound.header.sending_application, "EPIC");
    assert_eq!(inbound.header.sending_facility, "GENHOSP");
    let Event::Adt(adt) = inbound.event else { panic!("an ADT") };
    assert_eq!(adt.movement, Movement::Place);
    let p = &adt.patient;
    assert_eq!(p.mrn().unwrap().value, "SYN123456");
    assert_eq!(p.mrn().unwrap().authority, "GENHOSP");
    assert_eq!(p.identifiers.len(), 2);
    assert_eq!(p.demographics.family_name, Change::Set("O^Brien".into()));
    assert_eq!(p.demographics.given_name, Change::Set("Synthetic".into()));
    assert_eq!(p.demographics.birth_date, Change::Set(NaiveDate::from_ymd_opt(1975, 3, 15).unwrap()));
    assert_eq!(p.demographics.sex, Change::Set(Sex::Female));
    assert_eq!(p.demographics.phone, Change::Set("01632 960000".into()));
    assert_eq!(p.demographics.email, Change::Set("syn@example.invalid".into()));
    assert_eq!(p.demographics.language, Change::Set("en".into()));
    let v = adt.visit.unwrap();
    assert_eq!(
        (v.point_of_care.as_deref(), v.room.as_deref(), v.bed.as_deref()),
        (Some("7A"), Some("12"), Some("03-B"))
    );
    assert_eq!(v.attending.as_deref(), Some("1234 Carter Jane"));
    assert_eq!(v.admitted_at.unwrap().to_rfc3339(), "2026-12-01T08:00:00+00:00");
    assert_eq!(adt.allergies.len(), 1);
    assert_eq!(adt.allergies[0].allergen.code, "70618");
    assert_eq!(adt.allergies[0].severity, "SV");
    assert_eq!(adt.allergies[0].reactions, vec!["Urticaria".to_owned(), "Wheeze".to_owned()]);
}

#[test]
fn segment_ends_may_be_cr_lf_or_crlf() {
    for end in ["\n", "\r\n"] {
        let text = A01.replace('\r', end);
        let inbound = parse(&text).unwrap();
        let Event::Adt(adt) = inbound.event else { panic!("an ADT") };
        assert_eq!(adt.allergies.len(), 1, "with {end:?}");
    }
}

#[test]
fn empty_keeps_and_two_quotes_clear() {
    let text = "MSH|^~\\&|EPIC|GENHOSP|||20261201||ADT^A08|M2|P|2.5.1\rPID|||SYN1^^^GENHOSP^MR||Doe^Syn||||||\"\"||\"\"\rPV1||I\r";
    let Event::Adt(adt) = parse(text).unwrap().event else { panic!("an ADT") };
    assert_eq!(adt.patient.demographics.birth_date, Change::Keep);
    assert_eq!(adt.patient.demographics.address, Change::Clear);
    assert_eq!(adt.patient.demographics.phone, Change::Clear);
    assert_eq!(adt.movement, Movement::Update);
}

#[test]
fn results_read_panel_values_ranges_flags_and_status() {
    let text = "MSH|^~\\&|LAB|GENHOSP|||20261201||ORU^R01^ORU_R01|L1|P|2.5.1\r\
PID|||SYN1^^^GENHOSP^MR\r\
OBR|1|PL1|FL1|24323-8^Comprehensive metabolic panel^LN|||20261201070000\r\
OBX|1|NM|2823-3^Potassium^LN||5.9|mmol/L|3.5-5.1|H|||F\r\
OBX|2|NM|K^Sodium local^L^2951-2^Sodium^LN||128|mmol/L|135 - 145|L|||C\r\
OBX|3|ST|XYZ^Local thing^99LOC||see comment||||||P\r\
OBX|4|SN|HBA1C^HbA1c^L||<^0.5|%|<6.0||||F\r";
    let Event::Results(r) = parse(text).unwrap().event else { panic!("results") };
    assert_eq!(r.orders.len(), 1);
    let o = &r.orders[0];
    assert_eq!(o.order_number.as_deref(), Some("FL1"));
    assert_eq!(o.panel.as_ref().unwrap().code, "24323-8");
    assert_eq!(o.results.len(), 4);
    assert_eq!(o.results[0].value, ResultValue::Number(5.9));
    assert_eq!(o.results[0].reference_range, Some((Some(3.5), Some(5.1))));
    assert_eq!(o.results[0].abnormal_flag.as_deref(), Some("H"));
    assert_eq!(o.results[0].observed_at.unwrap().to_rfc3339(), "2026-12-01T07:00:00+00:00");
    assert_eq!(o.results[1].reference_range, Some((Some(135.0), Some(145.0))));
    assert_eq!(o.results[1].status, "C");
    assert_eq!(o.results[1].code.alternate_system, "LN");
    assert_eq!(o.results[2].value, ResultValue::Text("see comment".into()));
    assert_eq!(o.results[3].value, ResultValue::Text("<0.5".into()));
    assert_eq!(o.results[3].reference_range, Some((None, Some(6.0))));
}

#[test]
fn what_cannot_be_read_is_rejected_naming_the_field_never_the_value() {
    let bad_date = A01.replace("19750315", "19751345");
    let r = parse(&bad_date).unwrap_err();
    assert_eq!((r.ack, r.code, r.location.unwrap().to_string()), (AckCode::AE, ErrorCode::DataType, "PID-7".into()));
    assert!(!r.text.contains("1975"));

    let r = parse("garbage\x00\x01").unwrap_err();
    assert_eq!(r.ack, AckCode::AR);

    let r = parse(&A01.replace("ADT^A01^ADT_A01", "ADT^A31")).unwrap_err();
    assert_eq!((r.ack, r.code), (AckCode::AR, ErrorCode::UnsupportedEventCode));
    let r = parse(&A01.replace("ADT^A01^ADT_A01", "SIU^S12")).unwrap_err();
    assert_eq!((r.ack, r.code), (AckCode::AR, ErrorCode::UnsupportedMessageType));
    let r = parse(&A01.replace("|MSG0001|", "||")).unwrap_err();
    assert_eq!((r.ack, r.code), (AckCode::AR, ErrorCode::RequiredFieldMissing));

    let no_location = A01.replace("7A^12^03-B^GENHOSP", "");
    let r = parse(&no_location).unwrap_err();
    assert_eq!((r.ack, r.location.unwrap().to_string()), (AckCode::AE, "PV1-3".into()));
}

#[test]
fn timestamps_take_their_offset_and_dates_their_precision() {
    assert_eq!(timestamp("20261201083000+0100").unwrap().to_rfc3339(), "2026-12-01T07:30:00+00:00");
    assert_eq!(timestamp("20261201083000-0230").unwrap().to_rfc3339(), "2026-12-01T11:00:00+00:00");
    assert_eq!(timestamp("202612010830").unwrap().to_rfc3339(), "2026-12-01T08:30:00+00:00");
    assert!(timestamp("2026130108").is_none());
    assert_eq!(date("19750315"), NaiveDate::from_ymd_opt(1975, 3, 15));
    assert_eq!(date("1975"), None);
}
