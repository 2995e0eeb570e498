//! `/fhir/r4`: the HTTP handlers, thin adapters over [`super::store`]. They
//! authenticate the integration client, read the body or the query, call
//! the store, and answer FHIR JSON (`application/fhir+json`).
//!
//! Every refusal, authentication included, is an OperationOutcome: with the
//! element or search parameter it concerns as FHIRPath in `expression`, and
//! a fixed text that never quotes a value sent (it may be patient data).
//!
//! Only the CapabilityStatement (`/metadata`) is public: a client reads it
//! before it logs in. Everything else needs an integration client's
//! session ([`auth::integration_auth`]): not a workstation's credential,
//! not a clinician's session.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::capability::capability_statement;
use super::resources::{
    Bundle, BundleEntry, BundleLink, BundleType, IssueSeverity, IssueType, OperationOutcome, Resource, SearchMode,
    parse,
};
use super::store::{self, AdministrationSearch, AuditSearch, Context, ObservationFilter, Token};
use super::{FHIR_JSON, FhirError, outcome};
use crate::AppState;
use crate::audit::MAX_PAGE_SIZE;
use crate::auth::{self, IntegrationAuth};
use crate::error::{Error, INVALID_VALUE};

/// Where the interface is mounted.
pub const BASE_PATH: &str = "/fhir/r4";

/// The interface's routes, to be nested at [`BASE_PATH`]. Its own
/// fallbacks answer an unknown path or method with an OperationOutcome, not
/// with `/v1`'s error body.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", post(bundle))
        .route("/metadata", get(metadata))
        .route("/Patient/{id}/$everything", get(everything))
        .route("/Patient/{id}", get(read_patient))
        .route("/MedicationAdministration/{id}", get(read_administration))
        .route("/{type}", get(search))
        .fallback(unknown_path)
        .method_not_allowed_fallback(unknown_method)
}

/// Why a request fails, answered as an OperationOutcome.
#[derive(Debug)]
enum Failure {
    /// A body or resource Wardbook cannot accept.
    Fhir(FhirError),
    /// What every `/v1` handler may fail with too (authentication, the
    /// database); logged as they log it.
    Service(Error),
    /// Anything else, with its status.
    Outcome(StatusCode, Box<OperationOutcome>),
}

impl From<FhirError> for Failure {
    fn from(error: FhirError) -> Failure {
        Failure::Fhir(error)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Service(error)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Failure {
        Failure::Service(error.into())
    }
}

impl Failure {
    fn of(status: StatusCode, code: IssueType, text: &'static str) -> Failure {
        Failure::Outcome(status, Box::new(outcome::error_without_path(code, text)))
    }

    /// A search parameter refused: `expression` is the element it searches.
    fn parameter(expression: &str, text: &'static str) -> Failure {
        Failure::Outcome(StatusCode::BAD_REQUEST, Box::new(outcome::error(IssueType::Invalid, expression, text)))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Fhir(error) => {
                tracing::info!(status = error.status().as_u16(), paths = ?error.paths(), "FHIR request refused");
                fhir(error.status(), &outcome::from_error(&error))
            }
            Failure::Outcome(status, body) => {
                tracing::info!(status = status.as_u16(), "FHIR request refused");
                fhir(status, &body)
            }
            Failure::Service(error) => {
                let (code, text) = service_issue(&error);
                let status = error.status();
                let challenge = matches!(error, Error::Unauthorized(_));
                // Logged as every handler's error is (details only in the log).
                drop(error.into_response());
                let mut response = fhir(status, &outcome::error_without_path(code, text));
                if challenge {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                response
            }
        }
    }
}

/// The issue of a service error: its code, and its fixed text (the
/// service's own sentence where that is fixed, never a detail).
fn service_issue(error: &Error) -> (IssueType, &'static str) {
    match error {
        Error::Unauthorized(text) => (IssueType::Login, text),
        Error::Forbidden(text) => (IssueType::Forbidden, text),
        Error::NotFound(text) => (IssueType::NotFound, text),
        Error::BadRequest { code, .. } if *code == INVALID_VALUE => (
            IssueType::Value,
            "A value cannot be stored: text with a NUL character, or a date or number out of range. Correct it and send it again.",
        ),
        Error::BadRequest { .. } | Error::AuditChain { .. } => {
            (IssueType::Invalid, "The request cannot be understood.")
        }
        Error::Conflict { message, .. } => (IssueType::Conflict, message),
        Error::TooLarge => {
            (IssueType::TooLong, "The request body is larger than this service accepts. Send smaller Bundles.")
        }
        Error::UnsupportedMediaType => (IssueType::NotSupported, UNSUPPORTED_MEDIA_TYPE),
        Error::TooManyAttempts => (IssueType::Throttled, "Too many attempts. Wait a minute and try again."),
        Error::Unavailable { .. } => {
            (IssueType::Transient, "The central database is unavailable. The request changed nothing: retry shortly.")
        }
        Error::ProviderUnavailable(_) => {
            (IssueType::Transient, "The sign-in provider is unavailable. The request changed nothing: retry shortly.")
        }
        Error::ConcurrentChange => (
            IssueType::Transient,
            "A concurrent change to the same records got in the way. The request changed nothing: send it again.",
        ),
        Error::Keys(_) | Error::Internal(_) => (
            IssueType::Exception,
            "The service hit an unexpected error; it has been logged. Try again, and tell IT if it persists.",
        ),
    }
}

const UNSUPPORTED_MEDIA_TYPE: &str =
    "Send the body as FHIR JSON, with Content-Type: application/fhir+json (or application/json).";

/// A FHIR JSON answer.
fn fhir<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))], bytes).into_response(),
        Err(_) => {
            tracing::error!("a FHIR answer did not serialise");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The interface's absolute base URL as this request reached it, for
/// `fullUrl`s and links: the `Host` the client used (when it is shaped
/// like one), else the listen address.
fn base_url(state: &AppState, parts: &Parts) -> String {
    let scheme = if state.settings.tls.is_some() { "https" } else { "http" };
    let shaped = |host: &&str| {
        (1..=255).contains(&host.len()) && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(shaped)
        .map(str::to_owned)
        .unwrap_or_else(|| state.settings.listen.to_string());
    format!("{scheme}://{host}{BASE_PATH}")
}

async fn caller(state: &AppState, parts: &Parts) -> Result<IntegrationAuth, Failure> {
    Ok(auth::integration_auth(state, parts).await?)
}

/// The query's parameters, decoded.
fn parameters(parts: &Parts) -> Vec<(String, String)> {
    form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).into_owned().collect()
}

/// The parameters less those that change only the presentation (`_format`
/// naming JSON, `_pretty`); another `_format` is refused.
fn search_parameters(parts: &Parts) -> Result<Vec<(String, String)>, Failure> {
    let mut kept = Vec::new();
    for (name, value) in parameters(parts) {
        match name.as_str() {
            "_format" if ["json", "application/json", FHIR_JSON].contains(&value.as_str()) => {}
            "_format" => {
                return Err(Failure::of(
                    StatusCode::NOT_ACCEPTABLE,
                    IssueType::NotSupported,
                    "Wardbook answers FHIR JSON only (_format=json).",
                ));
            }
            "_pretty" => {}
            _ => kept.push((name, value)),
        }
    }
    Ok(kept)
}

/// `GET /metadata`: the CapabilityStatement.
async fn metadata(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    fhir(StatusCode::OK, &capability_statement(&base_url(&state, &parts)))
}

/// Is the body FHIR JSON (or plain JSON, which FHIR servers accept too)?
fn is_json(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .is_some_and(|media| media == FHIR_JSON || media == "application/json")
}

/// `POST /`: a transaction or batch Bundle.
async fn bundle(State(state): State<Arc<AppState>>, request: Request) -> Result<Response, Failure> {
    let (parts, body) = request.into_parts();
    let caller = caller(&state, &parts).await?;
    if !is_json(&parts) {
        return Err(Failure::of(StatusCode::UNSUPPORTED_MEDIA_TYPE, IssueType::NotSupported, UNSUPPORTED_MEDIA_TYPE));
    }
    let bytes = axum::body::to_bytes(body, state.settings.policy.max_body_bytes).await.map_err(|_| Error::TooLarge)?;
    let bundle: Bundle = parse(&bytes)?;
    let keys = state.keys.get().await?;
    let mut ctx = Context::new(format!("fhir:{}", caller.username), state.settings.fhir_mrn_system.clone(), keys);
    let mut db = state.db().await?;
    let answer = match bundle.type_ {
        BundleType::Transaction => store::transaction(&mut db, &bundle, &mut ctx).await?,
        BundleType::Batch => store::batch(&mut db, &bundle, &mut ctx).await?,
        _ => return Err(FhirError::unsupported_code("Bundle.type").into()),
    };
    Ok(fhir(StatusCode::OK, &answer?))
}

/// What every read by id checks first: an integration caller, no search
/// parameters, and an id that is one of ours (`missing` answers when not).
async fn read_id(state: &AppState, parts: &Parts, id: &str, missing: fn() -> Failure) -> Result<Uuid, Failure> {
    caller(state, parts).await?;
    if let Some((name, _)) = search_parameters(parts)?.first() {
        return Err(unknown_parameter(name));
    }
    Uuid::try_parse(id).map_err(|_| missing())
}

fn no_patient() -> Failure {
    Failure::of(StatusCode::NOT_FOUND, IssueType::NotFound, "There is no patient with this id.")
}

/// `GET /Patient/{id}/$everything`: the patient and what is theirs.
async fn everything(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Response, Failure> {
    let id = read_id(&state, &parts, &id, no_patient).await?;
    let keys = state.keys.get().await?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let resources = store::everything(&tx, &keys, id, &state.settings.fhir_mrn_system).await?.ok_or_else(no_patient)?;
    let base = base_url(&state, &parts);
    let entries: Vec<BundleEntry> = resources
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            BundleEntry::search_result(&base, r, if i == 0 { SearchMode::Match } else { SearchMode::Include })
        })
        .collect();
    let total = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    Ok(fhir(StatusCode::OK, &Bundle::searchset(&format!("{base}/Patient/{id}/$everything"), total, entries)))
}

/// `GET /Patient/{id}`.
async fn read_patient(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Response, Failure> {
    let id = read_id(&state, &parts, &id, no_patient).await?;
    let keys = state.keys.get().await?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let patient =
        store::patient_by_id(&tx, &keys, id, &state.settings.fhir_mrn_system).await?.ok_or_else(no_patient)?;
    Ok(fhir(StatusCode::OK, &patient))
}

fn no_administration() -> Failure {
    Failure::of(StatusCode::NOT_FOUND, IssueType::NotFound, "There is no medication administration with this id.")
}

/// `GET /MedicationAdministration/{id}`.
async fn read_administration(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Response, Failure> {
    let id = read_id(&state, &parts, &id, no_administration).await?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let administration = store::administration_by_id(&tx, id).await?.ok_or_else(no_administration)?;
    Ok(fhir(StatusCode::OK, &administration))
}

/// A search, as its query asked for it once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Search {
    /// `Patient?_id=`; `None`: not a Wardbook id, so no match.
    PatientById(Option<Uuid>),
    /// `Patient?identifier=system|value`.
    PatientByIdentifier {
        system: String,
        value: String,
    },
    /// `Observation?patient=` and its filters.
    Observation {
        patient: Option<Uuid>,
        filter: ObservationFilter,
    },
    AllergyIntolerance {
        patient: Option<Uuid>,
    },
    Encounter {
        patient: Option<Uuid>,
    },
    MedicationRequest {
        patient: Option<Uuid>,
    },
    /// By `_lastUpdated` and/or patient, in pages.
    MedicationAdministration(AdministrationSearch),
    AuditEvent(AuditSearch),
}

/// The parameters each searchable type takes (`date` may repeat).
fn known_parameters(resource_type: &str) -> Option<&'static [&'static str]> {
    Some(match resource_type {
        "Patient" => &["_id", "identifier"],
        "Observation" => &["patient", "category", "code"],
        "AllergyIntolerance" | "Encounter" | "MedicationRequest" => &["patient"],
        "MedicationAdministration" => &["patient", "_lastUpdated", "_count", "_page"],
        "AuditEvent" => &["patient", "agent", "date", "_count", "_page"],
        _ => return None,
    })
}

fn unknown_parameter(name: &str) -> Failure {
    // The name is the client's text: named only when shaped like a parameter.
    let shaped = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'));
    let mut issue = outcome::issue(
        IssueSeverity::Error,
        IssueType::NotSupported,
        None,
        "Wardbook does not support this search parameter; /fhir/r4/metadata lists those it does. Nothing was searched, so that no wider result than asked for is returned.",
    );
    if shaped {
        issue.details = Some(super::resources::CodeableConcept { text: Some(name.to_owned()), ..Default::default() });
    }
    Failure::Outcome(StatusCode::BAD_REQUEST, Box::new(outcome::of(vec![issue])))
}

/// Checks a search's parameters. Pure, so that every rule has a table test.
fn parse_search(resource_type: &str, params: &[(String, String)]) -> Result<Search, Failure> {
    let known = known_parameters(resource_type).ok_or_else(|| {
        Failure::of(
            StatusCode::NOT_FOUND,
            IssueType::NotSupported,
            "Wardbook does not search this resource type; /fhir/r4/metadata lists those it does.",
        )
    })?;
    for (i, (name, _)) in params.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(unknown_parameter(name));
        }
        let repeats = name == "date" || name == "_lastUpdated";
        if !repeats && params[..i].iter().any(|(other, _)| other == name) {
            return Err(Failure::parameter(&expression(resource_type, name), "This search parameter is given once."));
        }
    }
    let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let patient = |required: bool| -> Result<Option<Option<Uuid>>, Failure> {
        match get("patient") {
            None if required => Err(Failure::parameter(
                &expression(resource_type, "patient"),
                "Search by patient: patient=Patient/{id}.",
            )),
            None => Ok(None),
            Some(value) => Ok(Some(patient_id(value))),
        }
    };
    Ok(match resource_type {
        "Patient" => match (get("_id"), get("identifier")) {
            (Some(id), None) => Search::PatientById(Uuid::try_parse(id).ok()),
            (None, Some(token)) => match token.split_once('|') {
                Some((system, value)) if !system.is_empty() && !value.is_empty() => {
                    Search::PatientByIdentifier { system: system.to_owned(), value: value.to_owned() }
                }
                _ => {
                    return Err(Failure::parameter(
                        "Patient.identifier",
                        "Search by identifier=system|value, both given.",
                    ));
                }
            },
            _ => {
                return Err(Failure::parameter(
                    "Patient.identifier",
                    "Search patients by _id or by identifier=system|value (one of them).",
                ));
            }
        },
        "Observation" => Search::Observation {
            patient: patient(true)?.flatten(),
            filter: ObservationFilter {
                category: get("category").map(Token::parse),
                code: get("code").map(Token::parse),
            },
        },
        "AllergyIntolerance" => Search::AllergyIntolerance { patient: patient(true)?.flatten() },
        "Encounter" => Search::Encounter { patient: patient(true)?.flatten() },
        "MedicationRequest" => Search::MedicationRequest { patient: patient(true)?.flatten() },
        "MedicationAdministration" => {
            let expression = "MedicationAdministration.meta.lastUpdated";
            let dates: Vec<&str> =
                params.iter().filter(|(n, _)| n == "_lastUpdated").map(|(_, v)| v.as_str()).collect();
            let patient = patient(false)?;
            if patient.is_none() && dates.is_empty() {
                return Err(Failure::parameter(
                    expression,
                    "Search administrations by _lastUpdated (for example ge2026-03-01T00:00:00Z) or patient, or both.",
                ));
            }
            let (from, to) = date_bounds(&dates, expression)?;
            let (count, page) = paging(get("_count"), get("_page"), "MedicationAdministration")?;
            // A patient parameter that is no Wardbook id matches nothing.
            let patient = patient.map(|p| p.unwrap_or(Uuid::nil()));
            Search::MedicationAdministration(AdministrationSearch { patient, from, to, count, page })
        }
        _ => {
            let patient = patient(false)?;
            let agent = get("agent").map(str::to_owned);
            let dates: Vec<&str> = params.iter().filter(|(n, _)| n == "date").map(|(_, v)| v.as_str()).collect();
            if patient.is_none() && agent.is_none() && dates.is_empty() {
                return Err(Failure::parameter(
                    "AuditEvent",
                    "Search audit events by patient, agent (a Wardbook user id) or date, or several of them.",
                ));
            }
            let (from, to) = date_bounds(&dates, "AuditEvent.recorded")?;
            let (count, page) = paging(get("_count"), get("_page"), "AuditEvent")?;
            // A patient parameter that is no Wardbook id matches nothing:
            // the nil id, which no patient has.
            let patient = patient.map(|p| p.unwrap_or(Uuid::nil()));
            Search::AuditEvent(AuditSearch { patient, agent, from, to, count, page })
        }
    })
}

/// `_count` (1 to 500, default 100) and `_page` (from 1, default 1).
fn paging(count: Option<&str>, page: Option<&str>, expression: &str) -> Result<(u32, u32), Failure> {
    let count =
        match count {
            None => 100,
            Some(n) => n.parse().ok().filter(|n| (1..=MAX_PAGE_SIZE).contains(n)).ok_or_else(|| {
                Failure::parameter(expression, "_count is a number of entries per page, from 1 to 500.")
            })?,
        };
    let page = match page {
        None => 1,
        Some(n) => n
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Failure::parameter(expression, "_page is a page number from 1."))?,
    };
    Ok((count, page))
}

/// The element a search parameter searches, as FHIRPath (for `expression`).
fn expression(resource_type: &str, parameter: &str) -> String {
    let element = match (resource_type, parameter) {
        ("Observation" | "Encounter" | "MedicationRequest" | "MedicationAdministration", "patient") => "subject",
        (_, "_lastUpdated") => "meta.lastUpdated",
        ("AllergyIntolerance", "patient") => "patient",
        ("AuditEvent", "patient") => "entity.what",
        ("AuditEvent", "agent") => "agent.who",
        ("AuditEvent", "date") => "recorded",
        ("Patient", "_id") => "id",
        (_, other) => other,
    };
    format!("{resource_type}.{element}")
}

/// The patient of a reference search value: `Patient/{id}`, `{id}`, or an
/// absolute URL ending so. `None` when it names no Wardbook id (no match).
fn patient_id(value: &str) -> Option<Uuid> {
    let id = value.rsplit_once("Patient/").map_or(value, |(_, id)| id);
    Uuid::try_parse(id).ok()
}

/// `[from, to)`, each bound when there is one.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `[from, to)` of repeated `date` (or `_lastUpdated`) parameters (FHIR R4
/// search.html#date): each a prefix (`eq` when none, `ge`, `gt`, `le`,
/// `lt`) and a date or time whose precision is the range it stands for
/// (`2026-03-01` is the whole day). Dates without a time zone are UTC. A
/// refusal names `expression`, the element searched.
fn date_bounds(values: &[&str], expression: &str) -> Result<Bounds, Failure> {
    let bad = || {
        Failure::parameter(
            expression,
            "date is a prefix (ge, gt, le, lt or eq) and a date (YYYY, YYYY-MM, YYYY-MM-DD) or a time with its zone.",
        )
    };
    let (mut from, mut to): Bounds = (None, None);
    for value in values {
        let (prefix, rest) = match value.get(..2) {
            Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &value[2..]),
            _ => ("eq", *value),
        };
        let (start, end) = date_range(rest).ok_or_else(bad)?;
        let (lower, upper) = match prefix {
            "ge" => (Some(start), None),
            "gt" => (Some(end), None),
            "le" => (None, Some(end)),
            "lt" => (None, Some(start)),
            _ => (Some(start), Some(end)),
        };
        from = from.max(lower);
        to = match (to, upper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok((from, to))
}

/// The instants `[start, end)` a FHIR date or dateTime stands for.
fn date_range(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    // A `+` of a time zone arrives as a space when the client did not
    // percent-encode it.
    let text = text.replace(' ', "+");
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let day = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d);
    match text.len() {
        4 => {
            let year: i32 = text.parse().ok()?;
            Some((midnight(day(year, 1, 1)?)?, midnight(day(year + 1, 1, 1)?)?))
        }
        7 => {
            let (year, month) = text.split_once('-')?;
            let (year, month): (i32, u32) = (year.parse().ok()?, month.parse().ok()?);
            let next = if month == 12 { day(year + 1, 1, 1) } else { day(year, month + 1, 1) };
            Some((midnight(day(year, month, 1)?)?, midnight(next?)?))
        }
        10 => {
            let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()?;
            Some((midnight(date)?, midnight(date.succ_opt()?)?))
        }
        _ => {
            let t = DateTime::parse_from_rfc3339(&text).ok()?.with_timezone(&Utc);
            // To the second, the whole second; with a fraction, that instant.
            let width = if text.contains('.') { Duration::microseconds(1) } else { Duration::seconds(1) };
            Some((t, t + width))
        }
    }
}

/// The search as a URL: the parameters Wardbook used, for `self`, `next`
/// and `previous` links.
fn search_url(base: &str, resource_type: &str, params: &[(String, String)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    if query.is_empty() { format!("{base}/{resource_type}") } else { format!("{base}/{resource_type}?{query}") }
}

/// `GET /{type}?...`: the searches.
async fn search(
    State(state): State<Arc<AppState>>,
    Path(resource_type): Path<String>,
    parts: Parts,
) -> Result<Response, Failure> {
    caller(&state, &parts).await?;
    let params = search_parameters(&parts)?;
    let search = parse_search(&resource_type, &params)?;
    let base = base_url(&state, &parts);
    let self_url = search_url(&base, &resource_type, &params);
    let mrn_system = &state.settings.fhir_mrn_system;
    let keys = state.keys.get().await?;
    let mut db = state.db().await?;
    let resources: Vec<Resource> = match &search {
        Search::AuditEvent(audit) => {
            let (events, total) = store::audit_events(&db, audit).await?;
            let entries = events
                .into_iter()
                .map(|e| BundleEntry::search_result(&base, Resource::AuditEvent(Box::new(e)), SearchMode::Match))
                .collect();
            let mut bundle = Bundle::searchset(&self_url, total, entries);
            bundle.link.extend(page_links(&base, "AuditEvent", &params, (audit.page, audit.count), total));
            return Ok(fhir(StatusCode::OK, &bundle));
        }
        Search::PatientById(id) => {
            let tx = db.transaction().await?;
            match id {
                Some(id) => store::patient_by_id(&tx, &keys, *id, mrn_system).await?,
                None => None,
            }
            .map(|p| Resource::Patient(Box::new(p)))
            .into_iter()
            .collect()
        }
        Search::PatientByIdentifier { system, value } => {
            let tx = db.transaction().await?;
            store::patient_by_identifier(&tx, &keys, system, value, mrn_system)
                .await?
                .map(|p| Resource::Patient(Box::new(p)))
                .into_iter()
                .collect()
        }
        Search::MedicationAdministration(search) => {
            let (administrations, total) = store::administrations(&**db, search).await?;
            let entries = administrations
                .into_iter()
                .map(|a| {
                    BundleEntry::search_result(
                        &base,
                        Resource::MedicationAdministration(Box::new(a)),
                        SearchMode::Match,
                    )
                })
                .collect();
            let mut bundle = Bundle::searchset(&self_url, total, entries);
            let links = page_links(&base, "MedicationAdministration", &params, (search.page, search.count), total);
            bundle.link.extend(links);
            return Ok(fhir(StatusCode::OK, &bundle));
        }
        Search::Observation { patient: None, .. }
        | Search::AllergyIntolerance { patient: None }
        | Search::Encounter { patient: None }
        | Search::MedicationRequest { patient: None } => Vec::new(),
        Search::MedicationRequest { patient: Some(id) } => {
            let tx = db.transaction().await?;
            store::medication_requests_of(&tx, &keys, *id)
                .await?
                .into_iter()
                .map(|o| Resource::MedicationRequest(Box::new(o)))
                .collect()
        }
        Search::Observation { patient: Some(id), filter } => {
            let tx = db.transaction().await?;
            store::observations_of(&tx, &keys, *id, filter)
                .await?
                .into_iter()
                .map(|o| Resource::Observation(Box::new(o)))
                .collect()
        }
        Search::AllergyIntolerance { patient: Some(id) } => {
            let tx = db.transaction().await?;
            store::allergies_of(&tx, &keys, *id)
                .await?
                .into_iter()
                .map(|a| Resource::AllergyIntolerance(Box::new(a)))
                .collect()
        }
        Search::Encounter { patient: Some(id) } => {
            let tx = db.transaction().await?;
            store::encounters_of(&tx, &keys, *id).await?.into_iter().map(|e| Resource::Encounter(Box::new(e))).collect()
        }
    };
    let entries: Vec<BundleEntry> =
        resources.into_iter().map(|r| BundleEntry::search_result(&base, r, SearchMode::Match)).collect();
    let total = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    Ok(fhir(StatusCode::OK, &Bundle::searchset(&self_url, total, entries)))
}

/// `next` and `previous` of a page (`(page, count)`) of a paged search.
fn page_links(
    base: &str,
    resource_type: &str,
    params: &[(String, String)],
    (page, count): (u32, u32),
    total: u32,
) -> Vec<BundleLink> {
    let at = |page: u32| {
        let mut params: Vec<(String, String)> = params.iter().filter(|(n, _)| n != "_page").cloned().collect();
        params.push(("_page".to_owned(), page.to_string()));
        search_url(base, resource_type, &params)
    };
    let link =
        |relation: &str, url: String| BundleLink { relation: relation.to_owned(), url, other: Default::default() };
    let mut links = Vec::new();
    if u64::from(page) * u64::from(count) < u64::from(total) {
        links.push(link("next", at(page + 1)));
    }
    if page > 1 {
        links.push(link("previous", at(page - 1)));
    }
    links
}

async fn unknown_path() -> Failure {
    Failure::of(
        StatusCode::NOT_FOUND,
        IssueType::NotFound,
        "There is no such FHIR endpoint. /fhir/r4/metadata lists the interactions Wardbook supports.",
    )
}

async fn unknown_method() -> Failure {
    Failure::of(
        StatusCode::METHOD_NOT_ALLOWED,
        IssueType::NotSupported,
        "This FHIR endpoint does not take this HTTP method. /fhir/r4/metadata lists the interactions Wardbook supports.",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn params(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    /// The status and, when there is one, the expression of a refusal.
    fn refusal(failure: Failure) -> (StatusCode, Option<String>) {
        match failure {
            Failure::Outcome(status, outcome) => (status, outcome.issue[0].expression.first().cloned()),
            other => panic!("an outcome, not {other:?}"),
        }
    }

    #[test]
    fn searches_parse_into_what_the_store_runs() {
        let id = Uuid::from_u128(7);
        let table: Vec<(&str, String, Search)> = vec![
            ("Patient", format!("_id={id}"), Search::PatientById(Some(id))),
            ("Patient", "_id=not-a-uuid".into(), Search::PatientById(None)),
            (
                "Patient",
                "identifier=urn%3Awardbook%3Amrn|SYN-1".into(),
                Search::PatientByIdentifier { system: "urn:wardbook:mrn".into(), value: "SYN-1".into() },
            ),
            (
                "Observation",
                format!("patient=Patient/{id}&category=vital-signs&code=http://loinc.org|8867-4"),
                Search::Observation {
                    patient: Some(id),
                    filter: ObservationFilter {
                        category: Some(Token { system: None, code: Some("vital-signs".into()) }),
                        code: Some(Token { system: Some("http://loinc.org".into()), code: Some("8867-4".into()) }),
                    },
                },
            ),
            ("AllergyIntolerance", format!("patient={id}"), Search::AllergyIntolerance { patient: Some(id) }),
            (
                "Encounter",
                format!("patient=https://wardbook.example/fhir/r4/Patient/{id}"),
                Search::Encounter { patient: Some(id) },
            ),
            ("Encounter", "patient=Patient/x".into(), Search::Encounter { patient: None }),
            ("MedicationRequest", format!("patient={id}"), Search::MedicationRequest { patient: Some(id) }),
            (
                "MedicationAdministration",
                "_lastUpdated=ge2026-03-01T08:00:00Z&_lastUpdated=lt2026-03-02&_count=5".into(),
                Search::MedicationAdministration(AdministrationSearch {
                    patient: None,
                    from: Some(at("2026-03-01T08:00:00Z")),
                    to: Some(at("2026-03-02T00:00:00Z")),
                    count: 5,
                    page: 1,
                }),
            ),
            (
                "MedicationAdministration",
                "patient=nobody&_page=3".into(),
                Search::MedicationAdministration(AdministrationSearch {
                    patient: Some(Uuid::nil()),
                    from: None,
                    to: None,
                    count: 100,
                    page: 3,
                }),
            ),
            (
                "AuditEvent",
                format!("patient=Patient/{id}&agent=u-1&date=ge2026-03-01&date=lt2026-03-02&_count=10&_page=2"),
                Search::AuditEvent(AuditSearch {
                    patient: Some(id),
                    agent: Some("u-1".into()),
                    from: Some(at("2026-03-01T00:00:00Z")),
                    to: Some(at("2026-03-02T00:00:00Z")),
                    count: 10,
                    page: 2,
                }),
            ),
            (
                "AuditEvent",
                "patient=nobody".into(),
                Search::AuditEvent(AuditSearch {
                    patient: Some(Uuid::nil()),
                    agent: None,
                    from: None,
                    to: None,
                    count: 100,
                    page: 1,
                }),
            ),
        ];
        for (resource_type, query, want) in table {
            assert_eq!(parse_search(resource_type, &params(&query)).unwrap(), want, "{resource_type}?{query}");
        }
    }

    #[test]
    fn wrong_searches_are_refused_by_parameter() {
        let table: Vec<(&str, &str, StatusCode, Option<&str>)> = vec![
            ("Medication", "code=1", StatusCode::NOT_FOUND, None),
            ("Observation", "", StatusCode::BAD_REQUEST, Some("Observation.subject")),
            ("Observation", "patient=a&patient=b", StatusCode::BAD_REQUEST, Some("Observation.subject")),
            ("Observation", "patient=a&value-quantity=5", StatusCode::BAD_REQUEST, None),
            ("Observation", "patient:missing=true", StatusCode::BAD_REQUEST, None),
            ("AllergyIntolerance", "", StatusCode::BAD_REQUEST, Some("AllergyIntolerance.patient")),
            ("Patient", "", StatusCode::BAD_REQUEST, Some("Patient.identifier")),
            ("Patient", "identifier=SYN-1", StatusCode::BAD_REQUEST, Some("Patient.identifier")),
            ("Patient", "_id=a&identifier=b|c", StatusCode::BAD_REQUEST, Some("Patient.identifier")),
            ("AuditEvent", "", StatusCode::BAD_REQUEST, Some("AuditEvent")),
            ("AuditEvent", "date=yesterday", StatusCode::BAD_REQUEST, Some("AuditEvent.recorded")),
            ("AuditEvent", "date=ne2026-03-01", StatusCode::BAD_REQUEST, Some("AuditEvent.recorded")),
            ("AuditEvent", "agent=u&_count=0", StatusCode::BAD_REQUEST, Some("AuditEvent")),
            ("AuditEvent", "agent=u&_count=501", StatusCode::BAD_REQUEST, Some("AuditEvent")),
            ("AuditEvent", "agent=u&_page=0", StatusCode::BAD_REQUEST, Some("AuditEvent")),
            ("MedicationRequest", "", StatusCode::BAD_REQUEST, Some("MedicationRequest.subject")),
            (
                "MedicationAdministration",
                "",
                StatusCode::BAD_REQUEST,
                Some("MedicationAdministration.meta.lastUpdated"),
            ),
            (
                "MedicationAdministration",
                "_lastUpdated=yesterday",
                StatusCode::BAD_REQUEST,
                Some("MedicationAdministration.meta.lastUpdated"),
            ),
            (
                "MedicationAdministration",
                "_lastUpdated=ge2026&_count=0",
                StatusCode::BAD_REQUEST,
                Some("MedicationAdministration"),
            ),
            ("MedicationAdministration", "_lastUpdated=ge2026&code=1", StatusCode::BAD_REQUEST, None),
        ];
        for (resource_type, query, status, expression) in table {
            let failure = parse_search(resource_type, &params(query)).unwrap_err();
            assert_eq!(refusal(failure), (status, expression.map(str::to_owned)), "{resource_type}?{query}");
        }
    }

    #[test]
    fn unknown_parameters_are_named_only_when_shaped_like_one() {
        let details = |name: &str| match unknown_parameter(name) {
            Failure::Outcome(_, outcome) => outcome.issue[0].details.as_ref().and_then(|d| d.text.clone()),
            _ => None,
        };
        assert_eq!(details("value-quantity").as_deref(), Some("value-quantity"));
        assert_eq!(details("Jane Doe"), None);
    }

    /// Each prefix on each precision: the bounds of `[from, to)`.
    #[test]
    fn dates_bound_by_their_precision() {
        let day = (Some(at("2026-03-01T00:00:00Z")), Some(at("2026-03-02T00:00:00Z")));
        let table: Vec<(Vec<&str>, Bounds)> = vec![
            (vec!["2026-03-01"], day),
            (vec!["eq2026-03-01"], day),
            (vec!["ge2026-03-01"], (day.0, None)),
            (vec!["gt2026-03-01"], (day.1, None)),
            (vec!["le2026-03-01"], (None, day.1)),
            (vec!["lt2026-03-01"], (None, day.0)),
            (vec!["ge2026-03-01", "le2026-03-01"], day),
            (vec!["ge2026-02-01", "ge2026-03-01", "lt2026-04-01", "lt2026-03-02"], day),
            (vec!["2026"], (Some(at("2026-01-01T00:00:00Z")), Some(at("2027-01-01T00:00:00Z")))),
            (vec!["2026-12"], (Some(at("2026-12-01T00:00:00Z")), Some(at("2027-01-01T00:00:00Z")))),
            (vec!["ge2026-03-01T08:00:00+01:00"], (Some(at("2026-03-01T07:00:00Z")), None)),
            (vec!["ge2026-03-01T08:00:00 01:00"], (Some(at("2026-03-01T07:00:00Z")), None)),
            (vec!["le2026-03-01T08:00:00Z"], (None, Some(at("2026-03-01T08:00:01Z")))),
            (
                vec!["2026-03-01T08:00:00.5Z"],
                (Some(at("2026-03-01T08:00:00.5Z")), Some(at("2026-03-01T08:00:00.500001Z"))),
            ),
        ];
        for (values, want) in table {
            assert_eq!(date_bounds(&values, "AuditEvent.recorded").unwrap(), want, "{values:?}");
        }
        for bad in ["2026-13", "2026-02-30", "ge", "2026-03-01T08:00", "tomorrow", "ne2026"] {
            assert!(date_bounds(&[bad], "AuditEvent.recorded").is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_link_onwards_and_back() {
        let search =
            |page| AuditSearch { patient: None, agent: Some("u".into()), from: None, to: None, count: 2, page };
        let params = params("agent=u&_count=2&_page=2");
        let relations = |page, total| {
            page_links("http://h/fhir/r4", "AuditEvent", &params, (search(page).page, search(page).count), total)
                .into_iter()
                .map(|l| (l.relation, l.url))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            relations(2, 5),
            [
                ("next".to_owned(), "http://h/fhir/r4/AuditEvent?agent=u&_count=2&_page=3".to_owned()),
                ("previous".to_owned(), "http://h/fhir/r4/AuditEvent?agent=u&_count=2&_page=1".to_owned()),
            ]
        );
        assert_eq!(relations(1, 2), []);
    }
}
