//! FHIR Observation: vital signs and laboratory results.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use crate::Coding;

macro_rules! string_enum {
    // `$text` is a `tt`, not a `literal`: a `literal` fragment reaches derive
    // macros wrapped in an invisible group, which utoipa's serde parser does
    // not read, so the API document fell back to the Rust variant names.
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[ts(export)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and storage spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// FHIR observation-category.
    ObservationCategory {
        VitalSigns = "vital-signs",
        Laboratory = "laboratory",
        Survey = "survey",
        Exam = "exam",
    }
}

string_enum! {
    /// FHIR observation-interpretation (a subset).
    Interpretation {
        High = "H",
        Low = "L",
        Normal = "N",
        Abnormal = "A",
        CriticalHigh = "HH",
        CriticalLow = "LL",
    }
}

impl Interpretation {
    pub fn is_critical(self) -> bool {
        matches!(self, Interpretation::CriticalHigh | Interpretation::CriticalLow)
    }
}

string_enum! {
    /// FHIR observation-status (the ones Wardbook uses).
    ObservationStatus {
        Preliminary = "preliminary",
        Final = "final",
        Amended = "amended",
        EnteredInError = "entered-in-error",
    }
}

/// A measured quantity with its UCUM unit, e.g. `72` `/min`.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Quantity {
    pub value: f64,
    /// UCUM code, e.g. `/min`, `mm[Hg]`, `Cel`, `%`, `kg`, `cm`, `g/dL`.
    pub unit: String,
}

/// An observation's value (FHIR `value[x]`, the kinds Wardbook stores).
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "lowercase")]
#[ts(export)]
pub enum ObservationValue {
    Quantity(Quantity),
    String { text: String },
    Boolean { value: bool },
    Coded(Coding),
}

/// The normal range for a quantity, in the same unit as the value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ReferenceRange {
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub unit: String,
}

/// A vital sign or laboratory result. Values are PHI: `Debug` prints only
/// identifiers, the code and the status.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Observation {
    /// UUID v7 when created by a client.
    pub id: Uuid,
    #[ts(type = "number")]
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    pub synthetic: bool,
    pub patient_id: Uuid,
    pub category: ObservationCategory,
    /// LOINC code with display text.
    pub code: Coding,
    /// The panel a laboratory result belongs to (e.g. LOINC 58410-2, CBC), for grouping.
    pub panel: Option<Coding>,
    #[serde(deserialize_with = "crate::tagged::by_kind")]
    pub value: ObservationValue,
    pub reference_range: Option<ReferenceRange>,
    pub interpretation: Option<Interpretation>,
    pub status: ObservationStatus,
    /// Why the status was last set by hand (required by the app when marking
    /// entered-in-error). Free text: PHI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub status_reason: Option<String>,
    pub effective_at: DateTime<Utc>,
    /// Who recorded it (user id or source system).
    pub recorded_by: String,
}

impl std::fmt::Debug for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observation")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("patient_id", &self.patient_id)
            .field("code", &self.code.code)
            .field("status", &self.status)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quantity").field("unit", &self.unit).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ObservationValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            ObservationValue::Quantity(_) => "Quantity",
            ObservationValue::String { .. } => "String",
            ObservationValue::Boolean { .. } => "Boolean",
            ObservationValue::Coded(_) => "Coded",
        };
        write!(f, "ObservationValue::{kind}(..)")
    }
}
