//! Request body and query extractors whose rejections are our [`Error`]:
//! a stable code and a message that names the field path and the kind of
//! problem, but never echoes the value sent (it could be patient data).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A JSON body, strictly typed (unknown fields refused by the protocol types).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let is_json =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::TooLarge
            } else {
                Error::bad_request("unreadable_body", "The request body could not be read. Send it again.")
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Deserialises `bytes`, describing a failure without quoting the input.
///
/// JSON has one kind of number, and JSON Schema (so the API document) counts
/// `283.0` as the integer 283; serde refuses it for an integer field. So a
/// body refused for a value of the wrong type is read once more with every
/// integral number written as an integer, and refused only if that fails too.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let first = typed(&mut de).and_then(|value| de.end().map(|()| value).map_err(|e| describe(String::new(), &e)));
    match first {
        Err(refusal) if refusal.code() == "invalid_body" => {
            let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else { return Err(refusal) };
            if integral_numbers_as_integers(&mut value) { typed(value).map_err(|_| refusal) } else { Err(refusal) }
        }
        other => other,
    }
}

fn typed<'de, T: DeserializeOwned, D: serde::Deserializer<'de, Error = serde_json::Error>>(de: D) -> Result<T, Error> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        // For an unknown field the path ends with the client's key, which may
        // be anything: name only where it was found.
        let path = if e.inner().to_string().starts_with("unknown field") {
            let segments: Vec<&serde_path_to_error::Segment> = e.path().iter().collect();
            let mut parent = String::new();
            for segment in &segments[..segments.len().saturating_sub(1)] {
                match segment {
                    serde_path_to_error::Segment::Seq { index } => parent.push_str(&format!("[{index}]")),
                    other => {
                        if !parent.is_empty() {
                            parent.push('.');
                        }
                        parent.push_str(&other.to_string());
                    }
                }
            }
            parent
        } else {
            e.path().to_string()
        };
        describe(path, e.inner())
    })
}

/// Rewrites `2.0` as `2` throughout (within the range of i64); whether
/// anything changed.
fn integral_numbers_as_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.2e18 => {
                *value = Value::from(f as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, v| integral_numbers_as_integers(v) | changed),
        Value::Object(map) => map.values_mut().fold(false, |changed, v| integral_numbers_as_integers(v) | changed),
        _ => false,
    }
}

fn describe(path: String, e: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    let at = if path.is_empty() || path == "." { String::new() } else { format!(" at `{path}`") };
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => Error::bad_request(
            "malformed_json",
            format!(
                "The request body is not valid JSON (line {}, column {}). Fix the JSON and send it again.",
                e.line(),
                e.column()
            ),
        ),
        Category::Data => {
            let text = e.to_string();
            // serde's own wording tells which kind of problem; only field names
            // that are ours (missing field `x`) are repeated, never a value.
            let kind = if text.starts_with("unknown field") {
                "an unknown field".to_owned()
            } else if let Some(rest) = text.strip_prefix("missing field `") {
                format!("the required field `{}` is missing", rest.split('`').next().unwrap_or(""))
            } else if text.starts_with("unknown variant") {
                "a value that is not one of the allowed values".to_owned()
            } else {
                "a value of the wrong type or out of range".to_owned()
            };
            Error::bad_request(
                "invalid_body",
                format!("The request body has {kind}{at}. Correct it and send it again."),
            )
        }
    }
}

/// Query-string parameters, with the same kind of error as [`ApiJson`].
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            // An unknown parameter's name is the caller's text, not ours: like
            // an unknown JSON field, it is not repeated.
            if e.inner().to_string().starts_with("unknown field") {
                return Error::bad_request("invalid_query", "The URL has an unknown query parameter. Correct the URL.");
            }
            Error::bad_request(
                "invalid_query",
                format!("The query parameter `{}` is missing or has a wrong value. Correct the URL.", e.path()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardbook_protocol::api::EnrolRequest;

    #[test]
    fn messages_name_the_problem_but_never_the_value() {
        let e = parse::<EnrolRequest>(br#"{"code": 12345678, "device_name": "x"}"#).err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains("`code`") && !e.contains("12345678"), "{e}");
        let e = parse::<EnrolRequest>(br#"{"code":"a","device_name":"b","Smith":1}"#).err().map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|m| m.contains("unknown field") && !m.contains("Smith")), "{e:?}");
        let e = parse::<EnrolRequest>(br#"{"code":"a""#).err().map(|e| e.code());
        assert_eq!(e, Some("malformed_json"));
        let e = parse::<EnrolRequest>(br#"{"code":"a"}"#).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("`device_name` is missing"), "{e}");
    }

    #[test]
    fn an_integral_number_is_an_integer_however_it_is_written() {
        #[derive(Debug, serde::Deserialize)]
        struct Page {
            sequence: i64,
            value: f64,
        }
        let page = parse::<Page>(br#"{"sequence": 283.0, "value": 72.0}"#).ok().map(|p| (p.sequence, p.value));
        assert_eq!(page, Some((283, 72.0)));
        let e = parse::<Page>(br#"{"sequence": 283.5, "value": 1}"#).err().map(|e| e.code());
        assert_eq!(e, Some("invalid_body"), "a fraction is not an integer");
        let e = parse::<Page>(br#"{"sequence": "283", "value": 1.0}"#).err().map(|e| e.code());
        assert_eq!(e, Some("invalid_body"));
    }
}
