//! serde's internally tagged enums take a variant's *index* as its tag too:
//! `{"kind": 0, "value": 1, "unit": "x"}` reads as the first variant. The
//! wire, and the API document, know only the names, so the fields holding
//! such enums read through these, which refuse any other tag.

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn named<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D, tag: &str) -> Result<T, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match value.get(tag) {
        Some(Value::String(_)) => T::deserialize(value).map_err(D::Error::custom),
        // serde's own wording, which the service turns into "the required field is missing".
        None if value.is_object() => Err(D::Error::custom(format_args!("missing field `{tag}`"))),
        _ => Err(D::Error::custom(format_args!("invalid type: `{tag}` must be the name of a kind"))),
    }
}

/// For a field holding an enum tagged `kind` (`ObservationValue`).
pub(crate) fn by_kind<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<T, D::Error> {
    named(deserializer, "kind")
}

/// For a field holding an enum tagged `type` (`Record`).
pub(crate) fn by_type<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<T, D::Error> {
    named(deserializer, "type")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use crate::Observation;
    use crate::api::Mutation;

    fn observation() -> serde_json::Value {
        json!({ "id": "0190d3b4-0000-7000-8000-000000000001", "version": 0, "updated_at": "2026-01-01T00:00:00Z",
            "deleted": false, "synthetic": true, "patient_id": "0190d3b4-0000-7000-8000-000000000002",
            "category": "vital-signs", "code": { "system": "http://loinc.org", "code": "8867-4", "display": "Heart rate" },
            "panel": null, "value": { "kind": "quantity", "value": 72, "unit": "/min" }, "reference_range": null,
            "interpretation": null, "status": "final", "effective_at": "2026-01-01T00:00:00Z", "recorded_by": "synthetic" })
    }

    #[test]
    fn tags_are_names_never_indexes() {
        let named: Observation = serde_json::from_value(observation()).unwrap();
        assert!(matches!(named.value, crate::ObservationValue::Quantity(_)));
        let mut indexed = observation();
        indexed["value"]["kind"] = json!(0);
        assert!(serde_json::from_value::<Observation>(indexed).is_err(), "an index is not a kind");
        let mut untagged = observation();
        untagged["value"].as_object_mut().unwrap().remove("kind");
        let e = serde_json::from_value::<Observation>(untagged).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("missing field `kind`"), "{e}");

        let mutation = |record_type: serde_json::Value| {
            json!({ "id": "0190d3b4-0000-7000-8000-000000000003", "base_version": null, "author": "synthetic",
                "authored_at": "2026-01-01T00:00:00Z", "record": { "type": record_type, "observation": observation() } })
        };
        assert!(serde_json::from_value::<Mutation>(mutation(json!("observation"))).is_ok());
        assert!(serde_json::from_value::<Mutation>(mutation(json!(1))).is_err(), "an index is not a type");
    }
}
