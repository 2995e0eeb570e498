//! The three-way merge of a conflicting edit, as a pure function (plan, then
//! act, as `sync::plan` does): `merge(prior, mine, theirs)` decides what a
//! re-apply writes; `edits::reapply_conflict` reads the three versions from
//! the outbox and writes the answer, in one transaction.
//!
//! Why three-way: the server kept its row (`theirs`) because someone changed
//! it after the clinician's edit was based on it. Re-applying the clinician's
//! whole record (`mine`) would silently undo that other change in every
//! field the clinician never touched. So only the fields the clinician
//! changed (`mine` against `prior`, the row they edited) are laid over the
//! server's row; where both changed a field, the clinician re-applying wins,
//! since they saw both versions and chose to re-apply.

use wardbook_protocol::api::Record;

use crate::store::records::{identity, version_of};

/// Why three versions do not merge. Neither can happen with versions the
/// outbox kept together; the caller treats both as a damaged entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    #[error("the versions are not of one record")]
    NotOneRecord,
    #[error("the merged fields do not make a record")]
    Unrepresentable,
}

/// The record a re-apply writes, based on the server's version: the fields
/// the clinician changed (`mine` against `prior`) laid over the server's
/// row (`theirs`). Nested objects merge field by field; lists and plain
/// values are taken whole. A new record (no `prior`) has nothing to merge
/// with: it is `mine` as it is.
pub fn merge(prior: Option<&Record>, mine: &Record, theirs: &Record) -> Result<Record, MergeError> {
    let (kind, id, _) = identity(mine);
    let same = |r: &Record| {
        let (k, i, _) = identity(r);
        (k, i) == (kind, id)
    };
    if !same(theirs) || !prior.is_none_or(same) {
        return Err(MergeError::NotOneRecord);
    }
    let mut merged = match prior {
        Some(prior) => {
            let value = |r: &Record| serde_json::to_value(r).map_err(|_| MergeError::Unrepresentable);
            serde_json::from_value(fields(&value(prior)?, &value(mine)?, &value(theirs)?))
                .map_err(|_| MergeError::Unrepresentable)?
        }
        None => mine.clone(),
    };
    let base = version_of(theirs);
    match &mut merged {
        Record::Patient { patient } => patient.version = base,
        Record::Observation { observation } => observation.version = base,
        Record::Allergy { allergy } => allergy.version = base,
    }
    Ok(merged)
}

/// One value of the three: objects field by field (a field the server's row
/// leaves out is the clinician's when they changed it), anything else mine
/// when the clinician changed it, else theirs.
fn fields(prior: &serde_json::Value, mine: &serde_json::Value, theirs: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (prior, mine, theirs) {
        (Value::Object(p), Value::Object(m), Value::Object(t)) => {
            let mut out = t.clone();
            for (key, mine_value) in m {
                let prior_value = p.get(key).unwrap_or(&Value::Null);
                match t.get(key) {
                    Some(theirs_value) => {
                        out.insert(key.clone(), fields(prior_value, mine_value, theirs_value));
                    }
                    None if mine_value != prior_value => {
                        out.insert(key.clone(), mine_value.clone());
                    }
                    None => {}
                }
            }
            Value::Object(out)
        }
        _ if mine != prior => mine.clone(),
        _ => theirs.clone(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};
    use uuid::Uuid;
    use wardbook_protocol::{
        Allergy, AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, Coding, Criticality,
        Interpretation, LOINC, Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity,
        Reaction, ReactionSeverity, ReferenceRange, SNOMED_CT,
    };

    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes)
    }

    fn hives(severity: ReactionSeverity) -> Reaction {
        Reaction { manifestation: Coding::new(SNOMED_CT, "126485001", "Urticaria"), severity: Some(severity) }
    }

    /// The allergy as the clinician found it (version 3), changed by `edit`.
    fn allergy(edit: impl FnOnce(&mut Allergy)) -> Record {
        let mut allergy = Allergy {
            id: Uuid::from_u128(7),
            version: 3,
            updated_at: at(0),
            deleted: false,
            synthetic: true,
            patient_id: Uuid::from_u128(1),
            allergen: Coding::new(wardbook_protocol::RXNORM, "7980", "Penicillin G"),
            allergy_type: AllergyType::Allergy,
            category: AllergyCategory::Medication,
            clinical_status: AllergyClinicalStatus::Active,
            verification_status: AllergyVerificationStatus::Unconfirmed,
            criticality: Criticality::High,
            reactions: vec![hives(ReactionSeverity::Mild)],
            recorded_at: at(0),
            recorded_by: "dr-1".into(),
        };
        edit(&mut allergy);
        Record::Allergy { allergy }
    }

    /// The observation as the clinician found it (version 3), changed by `edit`.
    fn observation(edit: impl FnOnce(&mut Observation)) -> Record {
        let mut observation = Observation {
            id: Uuid::from_u128(8),
            version: 3,
            updated_at: at(0),
            deleted: false,
            synthetic: true,
            patient_id: Uuid::from_u128(1),
            category: ObservationCategory::Laboratory,
            code: Coding::new(LOINC, "2823-3", "Potassium"),
            panel: None,
            value: ObservationValue::Quantity(Quantity { value: 6.1, unit: "mmol/L".into() }),
            reference_range: Some(ReferenceRange { low: Some(3.5), high: Some(5.0), unit: "mmol/L".into() }),
            interpretation: Some(Interpretation::High),
            status: ObservationStatus::Final,
            status_reason: None,
            effective_at: at(0),
            recorded_by: "lab".into(),
        };
        edit(&mut observation);
        Record::Observation { observation }
    }

    struct Case {
        name: &'static str,
        prior: Option<Record>,
        mine: Record,
        theirs: Record,
        want: Result<Record, MergeError>,
    }

    #[test]
    fn merge_lays_the_clinicians_changes_over_the_servers_row() {
        let cases = [
            Case {
                name: "a new record is the clinician's, at the server's version",
                prior: None,
                mine: allergy(|a| (a.version, a.criticality) = (0, Criticality::Low)),
                theirs: allergy(|a| a.version = 4),
                want: Ok(allergy(|a| (a.version, a.criticality) = (4, Criticality::Low))),
            },
            Case {
                name: "each side's change to a different field is kept",
                prior: Some(allergy(|_| ())),
                mine: allergy(|a| (a.updated_at, a.criticality) = (at(5), Criticality::Low)),
                theirs: allergy(|a| {
                    (a.version, a.updated_at) = (4, at(3));
                    a.verification_status = AllergyVerificationStatus::Confirmed;
                }),
                want: Ok(allergy(|a| {
                    (a.version, a.updated_at, a.criticality) = (4, at(5), Criticality::Low);
                    a.verification_status = AllergyVerificationStatus::Confirmed;
                })),
            },
            Case {
                name: "where both changed a field, the clinician's value wins",
                prior: Some(allergy(|_| ())),
                mine: allergy(|a| a.criticality = Criticality::Low),
                theirs: allergy(|a| (a.version, a.criticality) = (4, Criticality::UnableToAssess)),
                want: Ok(allergy(|a| (a.version, a.criticality) = (4, Criticality::Low))),
            },
            Case {
                name: "an edit that changed nothing is the server's row",
                prior: Some(allergy(|_| ())),
                mine: allergy(|_| ()),
                theirs: allergy(|a| (a.version, a.clinical_status) = (4, AllergyClinicalStatus::Resolved)),
                want: Ok(allergy(|a| (a.version, a.clinical_status) = (4, AllergyClinicalStatus::Resolved))),
            },
            Case {
                name: "a nested object merges field by field",
                prior: Some(allergy(|_| ())),
                mine: allergy(|a| a.allergen.display = "Benzylpenicillin".into()),
                theirs: allergy(|a| (a.version, a.allergen.code) = (4, "7984".into())),
                want: Ok(allergy(|a| {
                    a.version = 4;
                    a.allergen = Coding::new(wardbook_protocol::RXNORM, "7984", "Benzylpenicillin");
                })),
            },
            Case {
                name: "a list the clinician changed is taken whole",
                prior: Some(allergy(|_| ())),
                mine: allergy(|a| a.reactions.push(hives(ReactionSeverity::Severe))),
                theirs: allergy(|a| (a.version, a.reactions) = (4, vec![hives(ReactionSeverity::Moderate)])),
                want: Ok(allergy(|a| {
                    a.version = 4;
                    a.reactions = vec![hives(ReactionSeverity::Mild), hives(ReactionSeverity::Severe)];
                })),
            },
            Case {
                name: "a list only the server changed is the server's",
                prior: Some(allergy(|_| ())),
                mine: allergy(|a| a.criticality = Criticality::Low),
                theirs: allergy(|a| (a.version, a.reactions) = (4, Vec::new())),
                want: Ok(allergy(|a| (a.version, a.criticality, a.reactions) = (4, Criticality::Low, Vec::new()))),
            },
            Case {
                name: "an optional object all three have merges field by field",
                prior: Some(observation(|_| ())),
                mine: observation(|o| o.reference_range.as_mut().expect("range").low = Some(3.6)),
                theirs: observation(|o| {
                    o.version = 4;
                    o.reference_range.as_mut().expect("range").high = Some(5.1);
                }),
                want: Ok(observation(|o| {
                    o.version = 4;
                    o.reference_range = Some(ReferenceRange { low: Some(3.6), high: Some(5.1), unit: "mmol/L".into() });
                })),
            },
            Case {
                name: "a field the server's row leaves out is the clinician's when they set it",
                prior: Some(observation(|_| ())),
                mine: observation(|o| {
                    o.status = ObservationStatus::EnteredInError;
                    o.status_reason = Some("wrong patient".into());
                }),
                theirs: observation(|o| (o.version, o.interpretation) = (4, Some(Interpretation::CriticalHigh))),
                want: Ok(observation(|o| {
                    (o.version, o.interpretation) = (4, Some(Interpretation::CriticalHigh));
                    o.status = ObservationStatus::EnteredInError;
                    o.status_reason = Some("wrong patient".into());
                })),
            },
            Case {
                name: "a field only the server set stays",
                prior: Some(observation(|_| ())),
                mine: observation(|o| o.interpretation = None),
                theirs: observation(|o| {
                    (o.version, o.status) = (4, ObservationStatus::Amended);
                    o.status_reason = Some("recalibrated analyser".into());
                }),
                want: Ok(observation(|o| {
                    (o.version, o.status, o.interpretation) = (4, ObservationStatus::Amended, None);
                    o.status_reason = Some("recalibrated analyser".into());
                })),
            },
            Case {
                name: "the server's row of another record does not merge",
                prior: Some(allergy(|_| ())),
                mine: allergy(|a| a.criticality = Criticality::Low),
                theirs: allergy(|a| (a.id, a.version) = (Uuid::from_u128(9), 4)),
                want: Err(MergeError::NotOneRecord),
            },
            Case {
                name: "a prior of another kind does not merge",
                prior: Some(observation(|o| o.id = Uuid::from_u128(7))),
                mine: allergy(|a| a.criticality = Criticality::Low),
                theirs: allergy(|a| a.version = 4),
                want: Err(MergeError::NotOneRecord),
            },
        ];
        for case in cases {
            assert_eq!(merge(case.prior.as_ref(), &case.mine, &case.theirs), case.want, "{}", case.name);
        }
    }
}
