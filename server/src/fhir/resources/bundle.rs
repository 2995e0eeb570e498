//! FHIR R4 Bundle (<https://hl7.org/fhir/R4/bundle.html>): transactions and
//! batches coming in, their responses and search results going out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Meta, OperationOutcome, Resource, ResourceType, elements, opaque_debug};

/// A Bundle of the types Wardbook reads (`transaction`, `batch`) or writes
/// (their responses, `searchset`, `collection`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub resource_type: ResourceType<Bundle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(rename = "type")]
    pub type_: BundleType,
    /// Matches in all pages of a search (`searchset` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link: Vec<BundleLink>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `Bundle.type` (<http://hl7.org/fhir/bundle-type>), all of R4's codes so
/// that a `document` or `message` is recognised and refused by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BundleType {
    Document,
    Message,
    Transaction,
    TransactionResponse,
    Batch,
    BatchResponse,
    History,
    Searchset,
    Collection,
}

/// A link about the Bundle, e.g. `self` or `next` of a search page (whose
/// URL may hold search values, hence no derived `Debug`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleLink {
    pub relation: String,
    pub url: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One entry: a resource, and the request or response it belongs to.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    /// The resource's absolute URL, or a `urn:uuid:` that other entries of
    /// a transaction use to refer to a resource not yet created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<BundleEntrySearch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<BundleRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<BundleResponse>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Why an entry is in a search result (`match` or `include`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntrySearch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The interaction an entry of a transaction or batch asks for.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRequest {
    pub method: HttpVerb,
    /// Relative to the base, e.g. `Patient` or `Observation/{id}`.
    pub url: String,
    /// A conditional create's search (`identifier=system|value`), which
    /// makes a repeated transaction create nothing twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_none_exist: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `Bundle.entry.request.method` (<http://hl7.org/fhir/http-verb>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpVerb {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
}

/// The outcome of one entry of a transaction or batch.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleResponse {
    /// The HTTP status line's code and text, e.g. `201 Created`.
    pub status: String,
    /// Where a created or updated resource is (`Patient/{id}/_history/{version}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Box<OperationOutcome>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Bundle {
    /// An empty Bundle of `type_`.
    pub fn new(type_: BundleType) -> Bundle {
        Bundle {
            resource_type: ResourceType::default(),
            id: None,
            meta: None,
            type_,
            total: None,
            link: Vec::new(),
            entry: Vec::new(),
            other: Map::new(),
        }
    }

    /// One page of search results: `self_url` is the search as the server
    /// understood it (FHIR R4 search.html#selflink), `total` the matches in
    /// all pages, `entries` those of this page.
    pub fn searchset(self_url: &str, total: u32, entries: Vec<BundleEntry>) -> Bundle {
        Bundle {
            total: Some(total),
            link: vec![BundleLink { relation: "self".to_owned(), url: self_url.to_owned(), other: Map::new() }],
            entry: entries,
            ..Bundle::new(BundleType::Searchset)
        }
    }

    /// The response to a transaction: one entry per request entry, in order.
    pub fn transaction_response(entries: Vec<BundleEntry>) -> Bundle {
        Bundle { entry: entries, ..Bundle::new(BundleType::TransactionResponse) }
    }

    /// The response to a batch: one entry per request entry, in order.
    pub fn batch_response(entries: Vec<BundleEntry>) -> Bundle {
        Bundle { entry: entries, ..Bundle::new(BundleType::BatchResponse) }
    }
}

impl BundleEntry {
    /// A search result: `resource` at `{base_url}/{type}/{id}`, with `mode`
    /// `match` (it matched the search) or `include` (it came with one, as
    /// `$everything` brings a patient's observations).
    pub fn search_result(base_url: &str, resource: Resource, mode: SearchMode) -> BundleEntry {
        BundleEntry {
            full_url: full_url(base_url, &resource),
            resource: Some(resource),
            search: Some(BundleEntrySearch { mode: Some(mode.as_str().to_owned()), other: Map::new() }),
            ..BundleEntry::default()
        }
    }

    /// A response entry: `status` such as `201 Created`, where the resource
    /// now is, and an outcome (warnings, or why the entry failed).
    pub fn response(status: &str, location: Option<String>, outcome: Option<OperationOutcome>) -> BundleEntry {
        BundleEntry {
            response: Some(BundleResponse {
                status: status.to_owned(),
                location,
                outcome: outcome.map(Box::new),
                other: Map::new(),
            }),
            ..BundleEntry::default()
        }
    }
}

/// Why a resource is in a search result (`Bundle.entry.search.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchMode {
    Match,
    Include,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Match => "match",
            SearchMode::Include => "include",
        }
    }
}

/// `{base}/{type}/{id}`, when the resource has both.
fn full_url(base_url: &str, resource: &Resource) -> Option<String> {
    let base = base_url.trim_end_matches('/');
    Some(format!("{base}/{}/{}", resource.resource_type()?, resource.id()?))
}

/// Type, id and the number of entries: the entries may hold patient data.
impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("id", &self.id)
            .field("type", &self.type_)
            .field("entries", &self.entry.len())
            .finish_non_exhaustive()
    }
}

elements!(Bundle, meta = "meta", link = "link", entry = "entry");
elements!(BundleLink);
elements!(BundleEntry, resource = "resource", search = "search", request = "request", response = "response");
elements!(BundleEntrySearch);
elements!(BundleRequest);
elements!(BundleResponse, outcome = "outcome");

opaque_debug!(BundleLink, BundleEntry, BundleRequest, BundleResponse);

super::fhir_resources!(Bundle);
