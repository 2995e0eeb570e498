//! How the service talks to a provider: which issuer URLs are acceptable,
//! the HTTP client (rustls, the provider's CA, a deadline, no redirects) and
//! its failures in words.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use openidconnect::{HttpClientError, IssuerUrl};

/// The configured issuer, if acceptable: `https://`, or `http://` on a
/// loopback address (a provider started by a test); no query, no fragment.
pub(super) fn issuer_url(issuer: &str) -> Result<IssuerUrl, String> {
    let url = reqwest::Url::parse(issuer).map_err(|e| format!("the issuer {issuer:?} is not a URL ({e})"))?;
    let acceptable = match url.scheme() {
        "https" => true,
        "http" => is_loopback(&url),
        _ => false,
    };
    if !acceptable {
        return Err(format!(
            "the issuer {issuer:?} must be an https:// URL (http:// is accepted on a loopback address only, for tests)"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("the issuer {issuer:?} must have no query, fragment or user name"));
    }
    IssuerUrl::new(issuer.to_owned()).map_err(|e| format!("the issuer {issuer:?} is not a URL ({e})"))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(openidconnect::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(openidconnect::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(openidconnect::url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The client for one provider. It follows no redirect (a discovery or
/// token answer that redirects is an error, not a hop to wherever it
/// points), and for an https:// issuer refuses plain http for every
/// endpoint discovery names.
pub(super) fn client(issuer: &IssuerUrl, ca_file: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .https_only(issuer.url().scheme() == "https")
        .user_agent(concat!("wardbook-server/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("the CA file {} cannot be read: {e}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("the CA file {} is not PEM certificates: {e}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!("the CA file {} holds no certificate", path.display()));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|e| format!("the HTTP client cannot be built: {e}"))
}

/// A request that failed, in words: a timeout, a refused connection, a
/// certificate not trusted... The innermost cause says most; reqwest's own
/// message carries the URL, which the caller names already.
pub(super) fn describe(e: &HttpClientError<reqwest::Error>) -> String {
    match e {
        HttpClientError::Reqwest(e) => {
            let what = if e.is_timeout() {
                "no answer in time"
            } else if e.is_connect() {
                "could not connect"
            } else if e.is_redirect() {
                "redirected elsewhere (not followed)"
            } else {
                "the request failed"
            };
            match root_cause(e.as_ref()) {
                Some(cause) => format!("{what} ({cause})"),
                None => what.to_owned(),
            }
        }
        HttpClientError::Io(e) => format!("the request failed ({e})"),
        HttpClientError::Http(e) => format!("the request could not be made ({e})"),
        _ => "the request failed".to_owned(),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = e.source()?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Some(cause.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_issuer_is_https_or_loopback_http() {
        for good in [
            "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0",
            "https://keycloak.hospital.example/realms/wardbook",
            "http://127.0.0.1:8080",
            "http://127.0.0.7:8080/realms/test",
            "http://[::1]:9000",
            "http://localhost:9000",
        ] {
            assert!(issuer_url(good).is_ok(), "{good}");
        }
        for (bad, says) in [
            ("http://idp.hospital.example", "https://"),
            ("http://10.0.0.5", "https://"),
            ("ftp://idp.hospital.example", "https://"),
            ("https://idp.hospital.example/?tenant=1", "no query"),
            ("https://user@idp.hospital.example", "no query"),
            ("idp.hospital.example", "not a URL"),
        ] {
            let e = issuer_url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
