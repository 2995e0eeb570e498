//! Validation of domain records. Messages name the field and the limit and
//! never contain the offending value (it may be patient data, and messages
//! reach logs and the UI).
//!
//! Every `validate_*` function collects all errors rather than stopping at the
//! first, so a form can mark every bad field at once.

use chrono::NaiveDate;
use email_address::{EmailAddress, Options};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Allergy, Observation, ObservationCategory, ObservationValue, Patient, vitals};

/// Given and family names: 1 to this many characters (DESIGN.md section 4).
pub const NAME_MAX_CHARS: usize = 50;
/// RFC 5321's limit on a forward path, the usual limit on an address.
pub const EMAIL_MAX_CHARS: usize = 254;
pub const PHONE_MIN_CHARS: usize = 10;
pub const PHONE_MAX_CHARS: usize = 15;
pub const MRN_MIN_CHARS: usize = 4;
pub const MRN_MAX_CHARS: usize = 20;
/// Free-text limits that keep a row displayable (not clinical rules).
pub const ADDRESS_MAX_CHARS: usize = 200;
pub const LOCATION_MAX_CHARS: usize = 100;
pub const LANGUAGE_MAX_CHARS: usize = 35;
/// A bed's name as the ADT feed sends it (PV1-3's bed component, a FHIR
/// Encounter location): the central column's CHECK, so that a bed the
/// workstation accepts is one the service can store.
pub const BED_MAX_CHARS: usize = 40;
pub const ALLERGEN_DISPLAY_MAX_CHARS: usize = 200;
/// The MRN prefix that marks synthetic patients, and only them (DESIGN.md
/// section 9): a real patient with it could be mistaken for test data.
pub const SYNTHETIC_MRN_PREFIX: &str = "SYN-";
/// The earliest accepted birth date.
pub const EARLIEST_BIRTH_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => panic!("1900-01-01 is a valid date"),
};

/// One invalid field. `Display` is the message, which is safe to show and
/// log: it names the field and the limit, never the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ValidationError {
    /// The field's wire name, e.g. `given_name`, `value.unit`, `reactions[0].manifestation.display`.
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Every invalid field of a record. `Display` joins the messages with "; ".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ValidationError> {
        self.0.iter()
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError::new(field, message));
    }

    /// True when some error is about `field`.
    pub fn has_field(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    /// `Ok(())` when there are no errors, else `Err(self)`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl From<ValidationError> for ValidationErrors {
    fn from(e: ValidationError) -> Self {
        Self(vec![e])
    }
}

impl IntoIterator for ValidationErrors {
    type Item = ValidationError;
    type IntoIter = std::vec::IntoIter<ValidationError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a ValidationError;
    type IntoIter = std::slice::Iter<'a, ValidationError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Extend<ValidationError> for ValidationErrors {
    fn extend<T: IntoIterator<Item = ValidationError>>(&mut self, iter: T) {
        self.0.extend(iter);
    }
}

/// Validates a patient's demographics; `today` bounds the birth date (taken as
/// a parameter so that validation stays pure and testable).
pub fn validate_patient(p: &Patient, today: NaiveDate) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    check_name(&mut errs, "given_name", &p.given_name);
    check_name(&mut errs, "family_name", &p.family_name);
    if p.birth_date < EARLIEST_BIRTH_DATE || p.birth_date > today {
        errs.push("birth_date", "birth_date must be between 1900-01-01 and today");
    }
    if let Some(email) = &p.email {
        if email.chars().count() > EMAIL_MAX_CHARS {
            errs.push("email", format!("email must be at most {EMAIL_MAX_CHARS} characters"));
        } else if !email_is_well_formed(email) {
            errs.push("email", "email is not a well-formed address");
        }
    }
    if let Some(phone) = &p.phone {
        check_phone(&mut errs, phone);
    }
    check_mrn(&mut errs, &p.mrn, p.synthetic);
    check_max_chars(&mut errs, "address", p.address.as_deref(), ADDRESS_MAX_CHARS);
    check_max_chars(&mut errs, "location", p.location.as_deref(), LOCATION_MAX_CHARS);
    if let Some(bed) = &p.bed {
        check_text(&mut errs, "bed", bed, BED_MAX_CHARS);
    }
    if let Some(lang) = &p.preferred_language {
        let ok = (2..=LANGUAGE_MAX_CHARS).contains(&lang.len())
            && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            errs.push(
                "preferred_language",
                format!(
                    "preferred_language must be a language tag of 2 to {LANGUAGE_MAX_CHARS} characters: letters, digits and hyphens"
                ),
            );
        }
    }
    if p.source_system.trim().is_empty() {
        errs.push("source_system", "source_system must not be empty");
    }
    errs.into_result()
}

fn check_name(errs: &mut ValidationErrors, field: &str, value: &str) {
    check_text(errs, field, value, NAME_MAX_CHARS);
}

/// A short text shown in a list: 1 to `max` characters, not blank, and no
/// control characters (a tab or newline would break the row it is shown in).
/// Is this a bed Wardbook stores: 1 to [`BED_MAX_CHARS`] characters, not
/// blank, no control characters? (The feed checks a bed it places with it.)
pub fn bed_is_valid(bed: &str) -> bool {
    let mut errs = ValidationErrors::new();
    check_text(&mut errs, "bed", bed, BED_MAX_CHARS);
    errs.0.is_empty()
}

fn check_text(errs: &mut ValidationErrors, field: &str, value: &str, max: usize) {
    let len = value.chars().count();
    if value.trim().is_empty() || len > max {
        errs.push(field, format!("{field} must be 1 to {max} characters"));
    } else if value.chars().any(char::is_control) {
        errs.push(field, format!("{field} must not contain control characters"));
    }
}

/// At most `max` characters, and no NUL: free text may span lines, but a NUL
/// is never part of a value (the central database once refused it, and
/// now that identifiers are sealed the rule is stated here).
fn check_max_chars(errs: &mut ValidationErrors, field: &str, value: Option<&str>, max: usize) {
    if value.is_some_and(|v| v.chars().count() > max) {
        errs.push(field, format!("{field} must be at most {max} characters"));
    } else if value.is_some_and(|v| v.contains('\0')) {
        errs.push(field, format!("{field} must not contain a NUL character"));
    }
}

/// A bare address (no display name, no `<...>`), with a dot in the domain:
/// what a person types into an email field.
fn email_is_well_formed(email: &str) -> bool {
    let options = Options::default().without_display_text().with_required_tld();
    EmailAddress::parse_with_options(email, options).is_ok()
}

fn check_phone(errs: &mut ValidationErrors, phone: &str) {
    let len = phone.chars().count();
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')');
    if !(PHONE_MIN_CHARS..=PHONE_MAX_CHARS).contains(&len) || !phone.chars().all(allowed) {
        errs.push(
            "phone",
            format!(
                "phone must be {PHONE_MIN_CHARS} to {PHONE_MAX_CHARS} characters (digits, spaces, +, -, parentheses)"
            ),
        );
    } else if phone.chars().filter(char::is_ascii_digit).count() < 7 {
        errs.push("phone", "phone must contain at least 7 digits");
    }
}

/// `^[A-Z0-9][A-Z0-9-]{3,19}$`, and `SYN-` exactly when synthetic.
fn check_mrn(errs: &mut ValidationErrors, mrn: &str, synthetic: bool) {
    let well_formed = (MRN_MIN_CHARS..=MRN_MAX_CHARS).contains(&mrn.len())
        && mrn.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        && mrn.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !well_formed {
        errs.push(
            "mrn",
            format!(
                "mrn must be {MRN_MIN_CHARS} to {MRN_MAX_CHARS} characters: capital letters, digits and hyphens, starting with a letter or digit"
            ),
        );
    }
    let prefixed = mrn.starts_with(SYNTHETIC_MRN_PREFIX);
    if synthetic && !prefixed {
        errs.push("mrn", format!("mrn of a synthetic patient must start with {SYNTHETIC_MRN_PREFIX}"));
    } else if !synthetic && prefixed {
        errs.push("mrn", format!("mrn of a real (non-synthetic) patient must not start with {SYNTHETIC_MRN_PREFIX}"));
    }
}

/// Validates an observation: vital signs against their unit and plausibility
/// limits ([`vitals::VITAL_SPECS`]), every number finite, a reference range
/// that is not inverted, and a recorder.
pub fn validate_observation(o: &Observation) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    if o.code.code.trim().is_empty() {
        errs.push("code.code", "code.code must not be empty");
    }
    if let ObservationValue::Quantity(q) = &o.value {
        // Matched by code alone: a vital sign under an unexpected system URI
        // is still checked rather than let through.
        let vital = match o.category {
            ObservationCategory::VitalSigns => vitals::vital_spec(&o.code.code),
            _ => None,
        };
        match vital {
            Some(spec) => errs.extend(spec.check(q.value, &q.unit).err()),
            None if !q.value.is_finite() => errs.push("value", "value must be a finite number"),
            None => {}
        }
        if q.unit.trim().is_empty() {
            errs.push("value.unit", "value.unit must not be empty (use 1 for a unitless quantity)");
        }
    }
    if let Some(range) = &o.reference_range {
        let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
        if !finite(range.low) || !finite(range.high) {
            errs.push("reference_range", "reference_range limits must be finite numbers");
        } else if let (Some(low), Some(high)) = (range.low, range.high)
            && low > high
        {
            errs.push("reference_range", "reference_range low must not exceed high");
        }
    }
    if o.recorded_by.trim().is_empty() {
        errs.push("recorded_by", "recorded_by must not be empty");
    }
    if let Some(reason) = &o.status_reason
        && (reason.trim().is_empty() || reason.chars().count() > MAX_STATUS_REASON)
    {
        errs.push("status_reason", "status_reason must be 1 to 500 characters");
    }
    errs.into_result()
}

/// Longest reason for a status change, in characters.
pub const MAX_STATUS_REASON: usize = 500;

/// Validates an allergy: a coded, named allergen, a recorder, and a named
/// manifestation for every reaction.
pub fn validate_allergy(a: &Allergy) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    if a.allergen.code.trim().is_empty() {
        errs.push("allergen.code", "allergen.code must not be empty");
    }
    if a.allergen.display.trim().is_empty() || a.allergen.display.chars().count() > ALLERGEN_DISPLAY_MAX_CHARS {
        errs.push("allergen.display", format!("allergen.display must be 1 to {ALLERGEN_DISPLAY_MAX_CHARS} characters"));
    }
    if a.recorded_by.trim().is_empty() {
        errs.push("recorded_by", "recorded_by must not be empty");
    }
    for (i, r) in a.reactions.iter().enumerate() {
        if r.manifestation.display.trim().is_empty() {
            let field = format!("reactions[{i}].manifestation.display");
            let message = format!("{field} must not be empty");
            errs.push(field, message);
        }
    }
    errs.into_result()
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
