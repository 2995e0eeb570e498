//! A synthetic ward as the HL7 v2 feed a hospital's interface engine would
//! send (`wardbook-server synth --hl7 FILE`): an ADT^A01 per patient (PID,
//! PV1 with ward and bed, AL1 per current allergy), an ORU^R01 per set of
//! results taken together, and one ADT^A02 transfer at the end. MSH-11 is
//! `T` (training), so every row it creates is marked synthetic.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hl7_parser::message::Separators;
use wardbook_protocol::synthetic::SyntheticWard;
use wardbook_protocol::{
    AllergyCategory, Coding, Observation, ObservationStatus, ObservationValue, Patient, ReactionSeverity, Sex, coding,
};

/// MSH-3 of the synthetic feed.
pub const SYNTHETIC_SENDER: &str = "WARDBOOK-SYNTH";
const FACILITY: &str = "SYNTHETIC";

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S+0000").to_string()
}

/// The ward's messages, segments ended by `\r`, one message after another
/// (each starts with MSH), in the order a feed would send them.
pub fn ward_as_hl7(ward: &SyntheticWard, sent_at: DateTime<Utc>) -> String {
    let s = Separators::default();
    let e = |t: &str| s.encode(t).to_string();
    let mut out = String::new();
    let mut control = 0u32;
    let mut msh = |out: &mut String, kind: &str, at: DateTime<Utc>| {
        control += 1;
        out.push_str(&format!(
            "MSH|^~\\&|{SYNTHETIC_SENDER}|{FACILITY}|WARDBOOK|{FACILITY}|{}||{kind}|SYN{control:08}|T|2.5.1|||AL|NE||UNICODE UTF-8\r",
            ts(at)
        ));
    };
    for p in &ward.patients {
        msh(&mut out, "ADT^A01^ADT_A01", sent_at);
        out.push_str(&format!("EVN|A01|{}\r", ts(sent_at)));
        out.push_str(&pid(p, &e));
        out.push_str(&pv1(p, &e));
        let mut n = 0;
        for a in ward.allergies.iter().filter(|a| a.patient_id == p.id && a.is_current()) {
            n += 1;
            let kind = match a.category {
                AllergyCategory::Medication => "DA",
                AllergyCategory::Food => "FA",
                AllergyCategory::Environment => "EA",
                AllergyCategory::Biologic => "MA",
            };
            let severity = match a.reactions.iter().find_map(|r| r.severity) {
                Some(ReactionSeverity::Severe) => "SV",
                Some(ReactionSeverity::Moderate) => "MO",
                Some(ReactionSeverity::Mild) => "MI",
                None => "U",
            };
            let reactions: Vec<String> = a.reactions.iter().map(|r| e(&r.manifestation.display)).collect();
            out.push_str(&format!(
                "AL1|{n}|{kind}|{}|{severity}|{}|{}\r",
                ce(&a.allergen, &e),
                reactions.join("~"),
                a.recorded_at.format("%Y%m%d")
            ));
        }
    }
    // Results: one ORU per patient, panel (or vital signs) and time.
    let mut groups: BTreeMap<(DateTime<Utc>, uuid::Uuid, String), Vec<&Observation>> = BTreeMap::new();
    for o in ward.observations.iter().filter(|o| o.status != ObservationStatus::EnteredInError) {
        let panel = o.panel.as_ref().map(|c| c.code.clone()).unwrap_or_else(|| o.category.as_str().to_owned());
        groups.entry((o.effective_at, o.patient_id, panel)).or_default().push(o);
    }
    let patients: BTreeMap<uuid::Uuid, &Patient> = ward.patients.iter().map(|p| (p.id, p)).collect();
    for ((at, patient_id, _), observations) in &groups {
        let Some(p) = patients.get(patient_id) else { continue };
        msh(&mut out, "ORU^R01^ORU_R01", *at);
        out.push_str(&format!("PID|1||{}^^^{FACILITY}^MR\r", e(&p.mrn)));
        let first = observations[0];
        let panel = first.panel.clone().unwrap_or_else(|| Coding::loinc("85353-1", "Vital signs panel"));
        let order = format!("{}-{}", first.patient_id.simple(), at.timestamp());
        out.push_str(&format!("OBR|1|{order}|{order}|{}|||{}\r", ce(&panel, &e), ts(*at)));
        for (i, o) in observations.iter().enumerate() {
            out.push_str(&obx(i + 1, o, &e));
        }
    }
    // One transfer, so a demo shows a patient changing wards.
    if let Some(p) = ward.patients.first()
        && let Some(other) =
            ward.patients.iter().filter_map(|q| q.location.clone()).find(|l| Some(l) != p.location.as_ref())
    {
        msh(&mut out, "ADT^A02^ADT_A02", sent_at);
        out.push_str(&format!("EVN|A02|{}\r", ts(sent_at)));
        out.push_str(&pid(p, &e));
        let moved = Patient { location: Some(other), bed: Some("99".into()), ..(*p).clone() };
        out.push_str(&pv1(&moved, &e));
    }
    out
}

fn ce(c: &Coding, e: &impl Fn(&str) -> String) -> String {
    let system = match c.system.as_str() {
        coding::LOINC => "LN",
        coding::SNOMED_CT => "SCT",
        coding::RXNORM => "RXNORM",
        other => other,
    };
    format!("{}^{}^{}", e(&c.code), e(&c.display), e(system))
}

fn pid(p: &Patient, e: &impl Fn(&str) -> String) -> String {
    let sex = match p.sex {
        Sex::Male => "M",
        Sex::Female => "F",
        Sex::Other => "O",
        Sex::Unknown => "U",
    };
    let mut telecom = Vec::new();
    if let Some(phone) = &p.phone {
        telecom.push(format!("{}^PRN^PH", e(phone)));
    }
    if let Some(email) = &p.email {
        telecom.push(format!("^NET^Internet^{}", e(email)));
    }
    format!(
        "PID|1||{}^^^{FACILITY}^MR||{}^{}^^^^^L||{}|{sex}|||{}||{}||{}\r",
        e(&p.mrn),
        e(&p.family_name),
        e(&p.given_name),
        p.birth_date.format("%Y%m%d"),
        p.address.as_deref().map(e).unwrap_or_default(),
        telecom.join("~"),
        p.preferred_language.as_deref().map(e).unwrap_or_default(),
    )
}

fn pv1(p: &Patient, e: &impl Fn(&str) -> String) -> String {
    let ward = p.location.as_deref().map(e).unwrap_or_default();
    let bed = p.bed.as_deref().map(e).unwrap_or_default();
    format!("PV1|1|I|{ward}^^{bed}^{FACILITY}\r")
}

fn obx(n: usize, o: &Observation, e: &impl Fn(&str) -> String) -> String {
    let (kind, value, unit) = match &o.value {
        ObservationValue::Quantity(q) => ("NM", format!("{}", q.value), e(&q.unit)),
        ObservationValue::String { text } => ("ST", e(text), String::new()),
        // HL7 v2 has no boolean: Y or N of table 0136, type ID.
        ObservationValue::Boolean { value } => ("ID", if *value { "Y".into() } else { "N".into() }, String::new()),
        ObservationValue::Coded(c) => ("CWE", ce(c, e), String::new()),
    };
    let range = o
        .reference_range
        .as_ref()
        .map(|r| match (r.low, r.high) {
            (Some(l), Some(h)) => format!("{l}-{h}"),
            (None, Some(h)) => format!("<{h}"),
            (Some(l), None) => format!(">{l}"),
            (None, None) => String::new(),
        })
        .unwrap_or_default();
    let flag = o.interpretation.map(|i| i.as_str()).unwrap_or_default();
    let status = match o.status {
        ObservationStatus::Preliminary => "P",
        ObservationStatus::Amended => "C",
        ObservationStatus::Final | ObservationStatus::EnteredInError => "F",
    };
    format!("OBX|{n}|{kind}|{}||{value}|{unit}|{range}|{flag}|||{status}|||{}\r", ce(&o.code, e), ts(o.effective_at))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use wardbook_protocol::synthetic::{SyntheticConfig, generate};

    use super::*;
    use crate::hl7::messages::split_file;
    use crate::hl7::parse::{Event, parse};

    #[test]
    fn every_emitted_message_parses_back_to_what_was_generated() {
        let now = Utc::now();
        let ward = generate(&SyntheticConfig::new(7, 6, now));
        let text = ward_as_hl7(&ward, now);
        let messages = split_file(&text);
        let mut results = 0;
        let mut admitted = 0;
        for m in &messages {
            let inbound = parse(m).unwrap();
            assert!(inbound.header.synthetic());
            match inbound.event {
                Event::Adt(a) if a.trigger == "A01" => {
                    admitted += 1;
                    let p = ward.patients.iter().find(|p| Some(&p.mrn) == a.patient.mrn().map(|i| &i.value)).unwrap();
                    assert_eq!(a.visit.unwrap().bed, p.bed);
                }
                Event::Results(r) => results += r.orders.iter().map(|o| o.results.len()).sum::<usize>(),
                Event::Adt(_) | Event::Pharmacy(_) => {}
            }
        }
        assert_eq!(admitted, ward.patients.len());
        let stored = ward.observations.iter().filter(|o| o.status != ObservationStatus::EnteredInError).count();
        assert_eq!(results, stored);
    }
}
