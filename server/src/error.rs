//! One error type for every handler. It becomes a stable code and a safe
//! message (what happened, what to do); the detail goes to the log, and
//! neither ever holds patient data or SQL.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wardbook_protocol::api::ApiError;

use crate::db;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request cannot be understood (body, query, cursor).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("The request body is larger than this service accepts. Send smaller batches.")]
    TooLarge,
    #[error("Send the request body as JSON with Content-Type: application/json.")]
    UnsupportedMediaType,
    #[error("Too many attempts. Wait a minute and try again.")]
    TooManyAttempts,
    /// An uploaded audit chain does not continue the stored one.
    #[error("{message}")]
    AuditChain { code: &'static str, message: String, position: i64 },
    /// The request conflicts with what is stored (a break-the-glass access
    /// already reviewed).
    #[error("{message}")]
    Conflict { code: &'static str, message: &'static str },
    /// PostgreSQL is unreachable or went away.
    #[error("The central database is unavailable. {hint}")]
    Unavailable { hint: String },
    /// PostgreSQL rolled the transaction back whole because of a concurrent
    /// one (a deadlock, a serialization failure): safe to send again.
    #[error("A concurrent change to the same records got in the way; nothing was stored. Send the request again.")]
    ConcurrentChange,
    /// An identity provider (its directory, its token endpoint) cannot be
    /// reached or is misconfigured: the message names it, never a secret.
    #[error("{0}")]
    ProviderUnavailable(String),
    /// The encryption keys: missing, wrong, or a value that fails its
    /// integrity check. The message names no value.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    /// A bug or an unexpected database state: details only in the log.
    #[error("internal error")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The code of a value PostgreSQL refused (SQLSTATE class 22, data exception).
pub const INVALID_VALUE: &str = "invalid_value";
const INVALID_VALUE_MESSAGE: &str = "A value cannot be stored: text with a NUL character, or a date or number out of range. Correct it and send it again.";

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Error {
        Error::BadRequest { code, message: message.into() }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. } | Error::AuditChain { code, .. } | Error::Conflict { code, .. } => code,
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::TooLarge => "body_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::TooManyAttempts => "too_many_attempts",
            Error::Unavailable { .. } => "database_unavailable",
            Error::ConcurrentChange => "concurrent_change",
            Error::ProviderUnavailable(_) => "identity_provider_unavailable",
            Error::Keys(crate::keys::KeyError::Integrity { .. }) => "integrity_error",
            Error::Keys(_) => "encryption_keys",
            Error::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Error::AuditChain { .. } | Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Unavailable { .. } | Error::ProviderUnavailable(_) | Error::ConcurrentChange => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::Keys(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body sent to the client.
    pub fn body(&self) -> ApiError {
        let message = match self {
            Error::Internal(_) => {
                "The service hit an unexpected error; it has been logged. Try again, and tell IT if it persists."
                    .to_owned()
            }
            other => other.to_string(),
        };
        let position = match self {
            Error::AuditChain { position, .. } => Some(*position),
            _ => None,
        };
        ApiError { code: self.code().to_owned(), message, position }
    }

    /// From a pool checkout failure: the database is not reachable.
    pub fn unavailable(target: &str) -> Error {
        Error::Unavailable {
            hint: format!("Is PostgreSQL running at {target}? The service reconnects by itself once it is back."),
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Error {
        let transient = e.is_closed()
            || e.code().is_some_and(|c| {
                let c = c.code();
                c.starts_with("08") || c.starts_with("57P") || c == "53300"
            })
            || e.as_db_error().is_none() && std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if transient {
            tracing::warn!(error = %db::describe(&e), "the database connection failed during a request");
            Error::Unavailable { hint: "The connection to PostgreSQL was lost; retry shortly.".to_owned() }
        } else if e.code().is_some_and(|c| matches!(c.code(), "40P01" | "40001")) {
            // Two requests locked the same rows in crossing order (or a
            // serializable transaction lost): PostgreSQL rolled this one back
            // whole, so sending it again is safe.
            tracing::info!(error = %db::describe(&e), "a transaction was rolled back by a concurrent one");
            Error::ConcurrentChange
        } else if e.code().is_some_and(|c| c.code().starts_with("22")) {
            // A data exception: a value sent that PostgreSQL cannot hold (a NUL
            // character in text, a date out of its range). The caller's to fix.
            tracing::info!(error = %db::describe(&e), "a value was refused by the database");
            Error::bad_request(INVALID_VALUE, INVALID_VALUE_MESSAGE)
        } else {
            Error::Internal(db::describe(&e))
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::Internal(detail) => tracing::error!(code = self.code(), detail = %detail, "request failed"),
            Error::Keys(e) => tracing::error!(code = self.code(), detail = %e, "request failed"),
            Error::Unavailable { .. } => tracing::warn!(code = self.code(), "request failed: database unavailable"),
            other => tracing::info!(code = other.code(), status = other.status().as_u16(), "request refused"),
        }
        (self.status(), axum::Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_reach_the_client() {
        let body = Error::Internal("relation \"phi.patient_identities\" does not exist".into()).body();
        assert_eq!(body.code, "internal");
        assert!(!body.message.contains("phi"));
        assert!(body.message.contains("Try again"));
    }

    #[test]
    fn unavailable_names_the_target_and_what_to_do() {
        let e = Error::unavailable("127.0.0.1:5432");
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.body().message.contains("Is PostgreSQL running at 127.0.0.1:5432?"));
    }
}
