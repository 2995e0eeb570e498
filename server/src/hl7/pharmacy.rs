//! Pharmacy orders (HL7 v2.5.1 chapter 4A): RDE^O11 (the pharmacy's
//! encoded order: ORC, RXE, TQ1, RXR, RXC) and OMP^O09 (the prescriber's
//! order: ORC, TQ1, RXO, RXR, RXC), read into [`PharmacyOrders`]: the
//! patient (PID) and one [`PharmacyOrder`] per ORC.
//!
//! Within an order group the encoded segments win: a TQ1 or RXR after the
//! RXE (RDE's "timing encoded" and route) over one after the ORC or RXO.
//! What each field becomes is in `docs/it-guide.md` ("Pharmacy orders");
//! the timing forms are `pharmacy_timing`'s. Pure: whether the patient and
//! the order exist is decided when the message is applied
//! (`pharmacy_apply`).

use chrono::{DateTime, Utc};
use hl7_parser::Message;
use serde::Serialize;
use wardbook_protocol::medication::Timing;

use super::adt::{PatientIdentity, identity};
use super::fields::{Location, Seg, Value};
use super::parse::{Coded, ErrorCode, Rejection, coded, timestamp};
use super::pharmacy_timing::{TimingFields, timing};

/// RDE^O11 or OMP^O09: one patient's orders.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PharmacyOrders {
    pub patient: PatientIdentity,
    pub orders: Vec<PharmacyOrder>,
}

/// EI: an order number and the namespace (application) that assigned it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderNumber {
    pub id: String,
    /// EI-2 namespace id, else EI-3 universal id; empty when neither.
    pub namespace: String,
}

/// One ORC and what goes with it. `Debug` prints the order control and
/// the medication code only.
#[derive(Clone, PartialEq, Serialize)]
pub struct PharmacyOrder {
    /// ORC-1 (HL7 table 0119), upper case.
    pub control: String,
    /// ORC-5 (HL7 table 0038), upper case.
    pub order_status: String,
    /// ORC-2.
    pub placer: Option<OrderNumber>,
    /// ORC-3.
    pub filler: Option<OrderNumber>,
    /// ORC-12, as "id family given".
    pub prescriber: Option<String>,
    /// The RXE (RDE) or RXO (OMP) and the rest of the group; none for an
    /// ORC alone (a discontinue, a hold).
    pub detail: Option<OrderDetail>,
    /// The ORC, for errors found when the order is applied.
    pub location: Location,
}

/// What is ordered and how. PHI (instructions, indication).
#[derive(Clone, PartialEq, Serialize)]
pub struct OrderDetail {
    /// RXE-2 give code, or RXO-1 requested give code.
    pub give_code: Coded,
    /// RXE-3 or RXO-2 and the units of RXE-5 or RXO-4.
    pub dose: Option<(f64, String)>,
    /// RXE-25/26 or RXO-18/19, with the volume (RXE-33/34, RXO-25/26):
    /// "250 mg/5 mL".
    pub strength: Option<String>,
    /// RXE-7 or RXO-7 (each repetition's text), TQ1-11, and a dose range
    /// (RXE-4 above RXE-3) in words.
    pub instructions: Vec<String>,
    /// RXE-27 or RXO-20.
    pub indications: Vec<String>,
    /// RXR-1.
    pub route: Option<Coded>,
    /// RXC-2 of each component: the ingredients the allergy check matches.
    pub ingredients: Vec<Coded>,
    pub timing: Timing,
    /// TQ1-7 (or the TQ's start), else ORC-15, else ORC-9.
    pub start: Option<DateTime<Utc>>,
    /// TQ1-8, or the TQ's end.
    pub end: Option<DateTime<Utc>>,
    /// `ZRX-1` is `Y`: the hospital's formulary marks it high-alert.
    pub high_alert: bool,
    /// The segment the detail came from (RXE or RXO), for errors.
    pub segment: Location,
}

impl std::fmt::Debug for PharmacyOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PharmacyOrder")
            .field("control", &self.control)
            .field("code", &self.detail.as_ref().map(|d| d.give_code.code.as_str()))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OrderDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderDetail").field("code", &self.give_code.code).finish_non_exhaustive()
    }
}

/// The segments of one order group, as met in the message.
struct Group<'a, 'm> {
    orc: Seg<'a, 'm>,
    detail: Option<Seg<'a, 'm>>,
    /// (segment, after the RXE or RXO?)
    timings: Vec<(Seg<'a, 'm>, bool)>,
    routes: Vec<(Seg<'a, 'm>, bool)>,
    components: Vec<Seg<'a, 'm>>,
    flag: Option<Seg<'a, 'm>>,
}

/// Reads an RDE^O11 (`encoded`: the detail is RXE) or an OMP^O09 (RXO).
pub(super) fn orders(message: &Message<'_>, encoded: bool) -> Result<PharmacyOrders, Rejection> {
    let patient = identity(message)?;
    let detail_name = if encoded { "RXE" } else { "RXO" };
    let mut groups: Vec<Group<'_, '_>> = Vec::new();
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for segment in &message.segments {
        let n = counts.entry(segment.name).or_default();
        *n += 1;
        let s = Seg { segment, separators: &message.separators, sequence: *n };
        if segment.name == "ORC" {
            groups.push(Group {
                orc: s,
                detail: None,
                timings: Vec::new(),
                routes: Vec::new(),
                components: Vec::new(),
                flag: None,
            });
            continue;
        }
        if !matches!(segment.name, "RXE" | "RXO" | "TQ1" | "RXR" | "RXC" | "ZRX") {
            continue;
        }
        let Some(group) = groups.last_mut() else {
            return Err(Rejection::error(
                ErrorCode::SegmentSequence,
                s.location(0),
                "An order segment comes before any ORC segment.",
            ));
        };
        let after_detail = group.detail.is_some();
        match segment.name {
            name if name == detail_name => {
                if after_detail {
                    return Err(Rejection::error(
                        ErrorCode::SegmentSequence,
                        s.location(0),
                        "An order group (ORC) has more than one RXE or RXO segment.",
                    ));
                }
                group.detail = Some(s);
            }
            "TQ1" => group.timings.push((s, after_detail)),
            "RXR" => group.routes.push((s, after_detail)),
            "RXC" => group.components.push(s),
            "ZRX" => group.flag = Some(s),
            // RXO in an RDE: the order as requested; the RXE is what counts.
            _ => {}
        }
    }
    if groups.is_empty() {
        return Err(Rejection::error(
            ErrorCode::SegmentSequence,
            Location::new("ORC", 1, 0),
            "A pharmacy order message needs at least one ORC segment.",
        ));
    }
    let orders = groups.iter().map(|g| order(g, encoded)).collect::<Result<Vec<_>, _>>()?;
    Ok(PharmacyOrders { patient, orders })
}

fn order(group: &Group<'_, '_>, encoded: bool) -> Result<PharmacyOrder, Rejection> {
    let orc = &group.orc;
    let control = orc.first(1).text().unwrap_or_default().to_ascii_uppercase();
    if control.is_empty() {
        return Err(Rejection::error(
            ErrorCode::RequiredFieldMissing,
            orc.location(1),
            "ORC-1 (order control) is missing.",
        ));
    }
    let number = |field: usize| {
        orc.value(field, 1, 1).text().map(|id| OrderNumber {
            id,
            namespace: orc.value(field, 1, 2).text().or_else(|| orc.value(field, 1, 3).text()).unwrap_or_default(),
        })
    };
    let prescriber = {
        let parts: Vec<String> = [orc.value(12, 1, 1), orc.sub(12, 1, 2, 1), orc.value(12, 1, 3)]
            .into_iter()
            .filter_map(Value::text)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    };
    let detail = match group.detail {
        None => None,
        Some(segment) => Some(detail(group, &segment, encoded)?),
    };
    Ok(PharmacyOrder {
        control,
        order_status: orc.first(5).text().unwrap_or_default().to_ascii_uppercase(),
        placer: number(2),
        filler: number(3),
        prescriber,
        detail,
        location: orc.location(1),
    })
}

/// Field numbers of the detail segment: RXE's, or RXO's.
struct DetailFields {
    code: usize,
    amount_min: usize,
    amount_max: usize,
    units: usize,
    instructions: usize,
    total_daily_dose: usize,
    strength: usize,
    strength_units: usize,
    indication: usize,
    volume: usize,
    volume_units: usize,
}

const RXE: DetailFields = DetailFields {
    code: 2,
    amount_min: 3,
    amount_max: 4,
    units: 5,
    instructions: 7,
    total_daily_dose: 19,
    strength: 25,
    strength_units: 26,
    indication: 27,
    volume: 33,
    volume_units: 34,
};

const RXO: DetailFields = DetailFields {
    code: 1,
    amount_min: 2,
    amount_max: 3,
    units: 4,
    instructions: 7,
    total_daily_dose: 23,
    strength: 18,
    strength_units: 19,
    indication: 20,
    volume: 25,
    volume_units: 26,
};

fn detail(group: &Group<'_, '_>, s: &Seg<'_, '_>, encoded: bool) -> Result<OrderDetail, Rejection> {
    let f = if encoded { &RXE } else { &RXO };
    let give_code = coded(s, f.code, 1);
    if give_code.code.is_empty() && give_code.text.is_empty() && give_code.alternate_code.is_empty() {
        return Err(Rejection::error(
            ErrorCode::RequiredFieldMissing,
            s.location(f.code),
            format!("{}-{} (give code) is missing.", s.name(), f.code),
        ));
    }
    let number = |field: usize| -> Result<Option<f64>, Rejection> {
        match s.first(field).text() {
            None => Ok(None),
            Some(t) => t.trim().parse::<f64>().ok().filter(|n| n.is_finite()).map(Some).ok_or_else(|| {
                Rejection::error(
                    ErrorCode::DataType,
                    s.location(field),
                    format!("{}-{field} is not a number.", s.name()),
                )
            }),
        }
    };
    // CE units: the code, else the text.
    let units = |field: usize, sub: Option<usize>| match sub {
        None => s.value(field, 1, 1).text().or_else(|| s.value(field, 1, 2).text()),
        Some(component) => s.sub(field, 1, component, 1).text().or_else(|| s.sub(field, 1, component, 2).text()),
    };
    let mut instructions: Vec<String> = (1..=s.repetitions(f.instructions))
        .filter_map(|r| s.value(f.instructions, r, 2).text().or_else(|| s.value(f.instructions, r, 1).text()))
        .collect();
    let dose = match number(f.amount_min)?.filter(|n| *n > 0.0) {
        None => None,
        Some(min) => {
            let unit = units(f.units, None).ok_or_else(|| {
                Rejection::error(
                    ErrorCode::RequiredFieldMissing,
                    s.location(f.units),
                    format!("{}-{} (give units) is required with a give amount.", s.name(), f.units),
                )
            })?;
            if let Some(max) = number(f.amount_max)?.filter(|max| *max > min) {
                instructions.push(format!("Dose range {min} to {max} {unit}"));
            }
            Some((min, unit))
        }
    };
    let strength = number(f.strength)?.map(|value| {
        let mut text = format!("{value} {}", units(f.strength_units, None).unwrap_or_default()).trim().to_owned();
        if let Ok(Some(volume)) = number(f.volume) {
            text.push_str(&format!("/{volume} {}", units(f.volume_units, None).unwrap_or_default()));
        }
        text.trim().to_owned()
    });
    let indications = (1..=s.repetitions(f.indication))
        .filter_map(|r| s.value(f.indication, r, 2).text().or_else(|| s.value(f.indication, r, 1).text()))
        .collect();
    let total_daily_dose = number(f.total_daily_dose)?;
    let (fields, start, end, text, timing_at) = timing_fields(group, s, encoded)?;
    instructions.extend(text);
    let mut timing = timing(&fields).map_err(|refusal| {
        let at = Location { field: timing_field(&timing_at, refusal.field), ..timing_at.clone() };
        let code = if refusal.field == 4 { ErrorCode::DataType } else { ErrorCode::TableValueNotFound };
        Rejection::error(code, at, refusal.text)
    })?;
    if let Timing::Prn { max_daily_dose, .. } = &mut timing {
        *max_daily_dose = total_daily_dose.filter(|n| *n > 0.0);
    }
    let route = group
        .routes
        .iter()
        .find(|(_, after)| *after)
        .or(group.routes.first())
        .map(|(rxr, _)| coded(rxr, 1, 1))
        .filter(|c| !c.code.is_empty());
    let orc = &group.orc;
    let start = match start {
        Some(t) => Some(t),
        None => orc_time(orc, 15)?.or(orc_time(orc, 9)?),
    };
    Ok(OrderDetail {
        give_code,
        dose,
        strength,
        instructions,
        indications,
        route,
        ingredients: group.components.iter().map(|c| coded(c, 2, 1)).filter(|c| !c.code.is_empty()).collect(),
        timing,
        start,
        end,
        high_alert: group.flag.is_some_and(|z| z.first(1).as_str().eq_ignore_ascii_case("Y")),
        segment: s.location(f.code),
    })
}

/// The field of the timing's segment a [`super::pharmacy_timing`] refusal
/// concerns: TQ1's own number, or the TQ field itself for RXE-1 / ORC-7.
fn timing_field(at: &Location, tq1_field: usize) -> usize {
    if at.segment == "TQ1" { tq1_field } else { at.field }
}

type Timed = (TimingFields, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>, Location);

/// The timing of the group: its TQ1 (after the detail, else before), else
/// the TQ of RXE-1 (RDE) or ORC-7.
fn timing_fields(group: &Group<'_, '_>, detail: &Seg<'_, '_>, encoded: bool) -> Result<Timed, Rejection> {
    let after: Vec<&Seg<'_, '_>> = group.timings.iter().filter(|(_, a)| *a).map(|(s, _)| s).collect();
    let chosen: Vec<&Seg<'_, '_>> =
        if after.is_empty() { group.timings.iter().map(|(s, _)| s).collect() } else { after };
    if let Some(tq1) = chosen.first() {
        if chosen.len() > 1 {
            return Err(Rejection::error(
                ErrorCode::SegmentSequence,
                chosen[1].location(0),
                "Wardbook schedules one TQ1 per order; send one TQ1 segment for each order group.",
            ));
        }
        let reps = |field: usize, sub: bool| -> Vec<String> {
            (1..=tq1.repetitions(field))
                .filter_map(|r| if sub { tq1.sub(field, r, 1, 1) } else { tq1.value(field, r, 1) }.text())
                .collect()
        };
        let fields = TimingFields {
            patterns: reps(3, true),
            times: reps(4, false),
            priorities: reps(9, false),
            total_occurrences: tq1.first(14).text(),
        };
        let start = time_at(tq1, 7, 1)?;
        let end = time_at(tq1, 8, 1)?;
        return Ok((fields, start, end, tq1.flat(11, 1).text(), tq1.location(3)));
    }
    let (tq, field) = if encoded && !detail.raw(1).is_empty() { (detail, 1) } else { (&group.orc, 7) };
    let fields = TimingFields {
        patterns: tq.sub(field, 1, 2, 1).text().into_iter().collect(),
        times: tq
            .sub(field, 1, 2, 2)
            .text()
            .map(|t| t.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default(),
        priorities: tq.value(field, 1, 6).text().into_iter().collect(),
        total_occurrences: tq.value(field, 1, 12).text(),
    };
    let start = time_at(tq, field, 4)?;
    let end = time_at(tq, field, 5)?;
    Ok((fields, start, end, tq.value(field, 1, 8).text(), tq.location(field)))
}

/// A TS in `field` (component `component` of its first repetition).
fn time_at(s: &Seg<'_, '_>, field: usize, component: usize) -> Result<Option<DateTime<Utc>>, Rejection> {
    match s.value(field, 1, component).text() {
        None => Ok(None),
        Some(t) => timestamp(&t).map(Some).ok_or_else(|| {
            Rejection::error(
                ErrorCode::DataType,
                s.location(field),
                format!("{}-{field} is not a valid time.", s.name()),
            )
        }),
    }
}

fn orc_time(orc: &Seg<'_, '_>, field: usize) -> Result<Option<DateTime<Utc>>, Rejection> {
    time_at(orc, field, 1)
}

#[cfg(test)]
#[path = "pharmacy_tests.rs"]
mod tests;
