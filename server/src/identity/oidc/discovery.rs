//! The provider's discovery document and signing keys, fetched at first use
//! and kept.
//!
//! Providers rotate their signing keys by publishing a new key before they
//! sign with it, so a token whose `kid` is not among the cached keys means
//! the cache is stale: the keys are fetched again, once for that token. A
//! token with a made-up `kid` would do the same, so a refetch that did not
//! find the key holds further refetches back for [`REFETCH_PAUSE`]: a
//! stream of forged tokens costs the provider one request a minute, not one
//! each. The pause does not apply to an ID token the token endpoint has
//! just sent (nobody but the provider could have put a `kid` there), so
//! forged tokens cannot hold a genuine rotation back. Concurrent fetches are serialised: sign-ins arriving together
//! after a rotation cause one refetch.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{DiscoveryError, HttpClientError, JsonWebKeySetUrl};

use super::{Oidc, http};
use crate::identity::ProviderError;

/// How long after a refetch that did not find a token's key the keys are
/// not fetched again for another unknown `kid`.
pub(super) const REFETCH_PAUSE: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(super) struct Cache {
    current: Mutex<Option<Arc<CoreProviderMetadata>>>,
    /// Held while fetching, so that concurrent callers wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
    useless_refetch_at: Mutex<Option<Instant>>,
}

impl Cache {
    fn cached(&self) -> Option<Arc<CoreProviderMetadata>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn store(&self, metadata: CoreProviderMetadata) -> Arc<CoreProviderMetadata> {
        let metadata = Arc::new(metadata);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(metadata.clone());
        metadata
    }

    /// The discovery document with the keys: cached, or fetched now.
    pub(super) async fn metadata(&self, oidc: &Oidc) -> Result<Arc<CoreProviderMetadata>, ProviderError> {
        if let Some(metadata) = self.cached() {
            return Ok(metadata);
        }
        let _fetching = self.fetching.lock().await;
        if let Some(metadata) = self.cached() {
            return Ok(metadata);
        }
        Ok(self.store(discover(oidc).await?))
    }

    /// The discovery document and the keys fetched afresh, kept if good.
    pub(super) async fn refresh(&self, oidc: &Oidc) -> Result<Arc<CoreProviderMetadata>, ProviderError> {
        let _fetching = self.fetching.lock().await;
        Ok(self.store(discover(oidc).await?))
    }

    /// The keys fetched again because a token names a key `stale` does not
    /// have. `None` while refetches are held back (unless `genuine`: the
    /// token came from the provider itself); the current metadata without a
    /// fetch when another caller refetched meanwhile.
    pub(super) async fn refetch_keys(
        &self,
        oidc: &Oidc,
        stale: &Arc<CoreProviderMetadata>,
        genuine: bool,
    ) -> Result<Option<Arc<CoreProviderMetadata>>, ProviderError> {
        let _fetching = self.fetching.lock().await;
        if let Some(current) = self.cached()
            && !Arc::ptr_eq(&current, stale)
        {
            return Ok(Some(current));
        }
        let paused = self
            .useless_refetch_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < REFETCH_PAUSE);
        if paused && !genuine {
            return Ok(None);
        }
        tracing::info!(provider = %oidc.config.id, "a token names an unknown signing key: fetching the provider's keys again");
        let jwks = fetch_keys(oidc, stale.jwks_uri()).await?;
        Ok(Some(self.store(stale.as_ref().clone().set_jwks(jwks))))
    }

    /// A refetch did not bring the key a token named.
    pub(super) fn note_useless_refetch(&self) {
        *self.useless_refetch_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }
}

/// Discovery: the document at `<issuer>/.well-known/openid-configuration`
/// (whose `issuer` must be the configured one, character for character),
/// then the keys at its `jwks_uri`.
async fn discover(oidc: &Oidc) -> Result<CoreProviderMetadata, ProviderError> {
    let place = format!("the discovery document of {}", oidc.issuer.as_str());
    let metadata = CoreProviderMetadata::discover_async(oidc.issuer.clone(), &oidc.http)
        .await
        .map_err(|e| oidc.unreachable(format!("{place}: {}", describe(&e))))?;
    if metadata.jwks().keys().is_empty() {
        return Err(oidc.unreachable(format!(
            "the keys of {} ({}) list no key",
            oidc.issuer.as_str(),
            metadata.jwks_uri().as_str()
        )));
    }
    Ok(metadata)
}

async fn fetch_keys(oidc: &Oidc, url: &JsonWebKeySetUrl) -> Result<CoreJsonWebKeySet, ProviderError> {
    CoreJsonWebKeySet::fetch_async(url, &oidc.http).await.map_err(|e| {
        oidc.unreachable(format!("the keys of {} at {}: {}", oidc.issuer.as_str(), url.as_str(), describe(&e)))
    })
}

/// A discovery or key-set failure in words, without the bodies the provider
/// sent (they could hold anything).
fn describe(e: &DiscoveryError<HttpClientError<reqwest::Error>>) -> String {
    match e {
        DiscoveryError::Request(e) => http::describe(e),
        DiscoveryError::Response(status, ..) => format!("answered {status}"),
        DiscoveryError::Parse(e) => format!("the answer is not what OpenID Connect specifies (at {})", e.path()),
        // openidconnect's own words, naming the issuers it compared.
        DiscoveryError::Validation(why) => why.clone(),
        DiscoveryError::UrlParse(e) => format!("not a URL: {e}"),
        _ => "failed".to_owned(),
    }
}
