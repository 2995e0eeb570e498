//! FHIR Patient: the demographics a workstation caches.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

/// Administrative sex / gender as recorded (FHIR `AdministrativeGender`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Sex {
    Male,
    Female,
    Other,
    Unknown,
}

impl Sex {
    pub const ALL: [Sex; 4] = [Sex::Male, Sex::Female, Sex::Other, Sex::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Sex> {
        Sex::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A patient. Every field but the identifiers is PHI: `Debug` prints only
/// `id`, `version` and the flags.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Patient {
    pub id: Uuid,
    /// Bumped by the server on every change; 0 for a row not yet on the server.
    #[ts(type = "number")]
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    /// True only for generated data.
    pub synthetic: bool,
    /// Medical record number, unique within the hospital.
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    /// BCP 47 language tag, e.g. `en`, `es`.
    pub preferred_language: Option<String>,
    /// The ward or clinic the patient is currently assigned to.
    pub location: Option<String>,
    /// The bed within the location, as the hospital names it (e.g. `12`,
    /// `03-B`); set by the ADT feed. Absent from JSON written before beds
    /// were ward data, hence the default.
    #[serde(default)]
    pub bed: Option<String>,
    /// The system this record came from, e.g. `wardbook-synthetic`, `pas`.
    pub source_system: String,
}

impl std::fmt::Debug for Patient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Patient")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("deleted", &self.deleted)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}

impl Patient {
    /// Age in whole years on `today`.
    pub fn age_on(&self, today: NaiveDate) -> u32 {
        today.years_since(self.birth_date).unwrap_or(0)
    }
}

/// The order of beds on a ward, as a nurse walks it: "natural", so that bed
/// `2` comes before bed `10` (hospitals do not zero-pad consistently: `2`,
/// `02` and `10` may all be on one ward), and a patient without a bed
/// (admitted, not yet placed) comes last.
///
/// A bed name is split into runs of ASCII digits and runs of anything else.
/// Digit runs compare as numbers (of any length: no overflow), other runs
/// case-insensitively; the first difference decides. Names that are equal
/// this way (`2` and `02`, `a` and `A`) fall back to plain text order, so the
/// order is total and a sort is the same on every run.
pub fn bed_order(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => natural_order(a, b).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// [`bed_order`] without its tie-break.
fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (Runs(a), Runs(b));
    loop {
        let ordering = match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match (is_number(x), is_number(y)) {
                (true, true) => number_order(x, y),
                // A number before a word: `7` before `7A`'s `A`, `1` before `A1`.
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => x.chars().flat_map(char::to_lowercase).cmp(y.chars().flat_map(char::to_lowercase)),
            },
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
}

fn is_number(run: &str) -> bool {
    run.starts_with(|c: char| c.is_ascii_digit())
}

/// Two runs of ASCII digits by value: without leading zeros, a longer run is
/// a larger number, and runs of one length compare as text.
fn number_order(x: &str, y: &str) -> Ordering {
    let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

/// The runs of a bed name: maximal runs of ASCII digits and of other characters.
struct Runs<'a>(&'a str);

impl<'a> Iterator for Runs<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let first = self.0.chars().next()?;
        let digits = first.is_ascii_digit();
        let end = self.0.find(|c: char| c.is_ascii_digit() != digits).unwrap_or(self.0.len());
        let (run, rest) = self.0.split_at(end);
        self.0 = rest;
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(beds: &[Option<&'static str>]) -> Vec<Option<&'static str>> {
        let mut out = beds.to_vec();
        out.sort_by(|a, b| bed_order(*a, *b));
        out
    }

    #[test]
    fn beds_sort_as_a_nurse_reads_them() {
        type Beds = &'static [Option<&'static str>];
        let cases: &[(Beds, Beds)] = &[
            (&[Some("10"), Some("2")], &[Some("2"), Some("10")]),
            (&[None, Some("10"), Some("2")], &[Some("2"), Some("10"), None]),
            (&[Some("02"), Some("1"), Some("10")], &[Some("1"), Some("02"), Some("10")]),
            (&[Some("03-B"), Some("03-A"), Some("3")], &[Some("3"), Some("03-A"), Some("03-B")]),
            (&[Some("12b"), Some("12A"), Some("9z")], &[Some("9z"), Some("12A"), Some("12b")]),
            (
                &[Some("Side room 2"), Some("Side room 10"), Some("4")],
                &[Some("4"), Some("Side room 2"), Some("Side room 10")],
            ),
            (&[Some("A1"), Some("1")], &[Some("1"), Some("A1")]),
            (&[Some("2"), Some("02")], &[Some("02"), Some("2")]),
            (&[Some("b"), Some("A"), Some("a")], &[Some("A"), Some("a"), Some("b")]),
            (&[None, None], &[None, None]),
        ];
        for (input, expected) in cases {
            assert_eq!(sorted(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn long_numbers_do_not_overflow() {
        let big = "123456789012345678901234567890";
        assert_eq!(bed_order(Some(big), Some("99")), Ordering::Greater);
        assert_eq!(bed_order(Some("0000000000000000000000000000001"), Some("2")), Ordering::Less);
    }

    /// Beds in the order of [`bed_order`], written next to the generated
    /// types: the UI's in-memory backend (its stand-in for the core) sorts
    /// its census with a comparator of its own, and its test checks that
    /// comparator against this list. Written by `cargo test` like the ts-rs
    /// files, so the check for stale generated files covers it.
    #[test]
    fn export_bed_order() {
        let mut beds = [
            None,
            Some("10"),
            Some("2"),
            Some("02"),
            Some("1"),
            Some("03-B"),
            Some("03-A"),
            Some("3"),
            Some("12b"),
            Some("12A"),
            Some("9z"),
            Some("A1"),
            Some("Side room 10"),
            Some("Side room 2"),
            Some("b"),
            Some("A"),
            Some("a"),
            Some("100"),
            Some("099"),
        ];
        beds.sort_by(|a, b| bed_order(*a, *b));
        let rows: String = beds
            .iter()
            .map(|bed| format!("  {},\n", bed.map_or_else(|| "null".to_owned(), |b| format!("{b:?}"))))
            .collect();
        let text = format!(
            "// This file was generated by the test `export_bed_order` of protocol/src/patient.rs. Do not edit this file manually.\n\
             \n\
             /**\n \
             * Beds in the order of `bed_order` of the Rust core, the census's order\n \
             * within a location: \"2\" before \"10\", no bed last.\n \
             */\n\
             export const BED_ORDER: ReadonlyArray<string | null> = [\n\
             {rows}];\n"
        );
        let dir = std::env::var_os("TS_RS_EXPORT_DIR").map_or_else(|| "./bindings".into(), std::path::PathBuf::from);
        let path = dir.join("BedOrder.ts");
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::create_dir_all(&dir).expect("create the export directory");
            std::fs::write(&path, text).expect("write BedOrder.ts");
        }
    }

    #[test]
    fn the_order_is_total() {
        let beds = [None, Some(""), Some("1"), Some("01"), Some("1a"), Some("1A"), Some("a1"), Some("é"), Some("E")];
        for a in beds {
            assert_eq!(bed_order(a, a), Ordering::Equal);
            for b in beds {
                assert_eq!(bed_order(a, b), bed_order(b, a).reverse(), "{a:?} {b:?}");
                assert_eq!(bed_order(a, b) == Ordering::Equal, a == b, "{a:?} {b:?}");
            }
        }
    }
}
