//! The workstation's and the browser's parts of an OpenID Connect sign-in,
//! for tests against the real provider of `wardbook_test_support::oidc`:
//! a PKCE pair, the `[[identity_providers]]` TOML for that provider, and a
//! browser that follows an authorization URL, signs in on the provider's
//! login form and stops at the redirect to the loopback `redirect_uri`
//! (not followed: the test reads `code` and `state` from it).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use wardbook_test_support::oidc::{self, OidcProvider, SyntheticAccount};

/// A PKCE verifier (kept by the workstation) and its S256 challenge (sent).
#[derive(Clone, Debug)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce { verifier, challenge }
    }
}

/// Which of the provider's clients Wardbook is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Confidential,
    Public,
}

/// The `[[identity_providers]]` entry for `provider` (TOML). For the
/// confidential client `secret_file` must hold [`oidc::CLIENT_SECRET`];
/// `extra` is appended (more keys, then tables).
pub fn provider_toml(
    provider: &OidcProvider,
    id: &str,
    client: Client,
    secret_file: Option<&Path>,
    extra: &str,
) -> String {
    let (client_id, secret) = match client {
        Client::Confidential => {
            let path = secret_file.expect("the confidential client needs its secret file");
            (oidc::CONFIDENTIAL_CLIENT_ID, format!("client_secret_file = {:?}\n", path.display().to_string()))
        }
        Client::Public => (oidc::PUBLIC_CLIENT_ID, String::new()),
    };
    format!(
        "[[identity_providers]]\nkind = \"oidc\"\nid = \"{id}\"\nname = \"Synthetic OpenID provider\"\nissuer = \"{}\"\nclient_id = \"{client_id}\"\n{secret}scopes = [\"openid\", \"profile\", \"groups\"]\ntimeout_seconds = 5\n{extra}",
        provider.issuer()
    )
}

/// Where the provider sent the browser back to: the loopback redirect URI
/// with the code and the state.
#[derive(Clone, Debug)]
pub struct Callback {
    pub code: String,
    pub state: String,
    pub url: Url,
}

/// Plays the system browser: follows `authorization_url`, posts `account`'s
/// login and password to the provider's form, and follows redirects until
/// one leads to `redirect_uri` (compared without its query), which it
/// returns instead of following. Fails with "refused" when the provider
/// refuses the password, and with the provider's `error` when it sends one
/// to the redirect URI.
pub async fn sign_in(authorization_url: &str, redirect_uri: &str, account: &SyntheticAccount) -> Result<Callback> {
    sign_in_with(authorization_url, redirect_uri, account.login, account.password).await
}

pub async fn sign_in_with(
    authorization_url: &str,
    redirect_uri: &str,
    login: &str,
    password: &str,
) -> Result<Callback> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let target = Url::parse(redirect_uri)?;
    let mut jar = Jar::default();
    let mut url = Url::parse(authorization_url)?;
    let mut form: Option<Vec<(&str, &str)>> = None;
    for _ in 0..20 {
        let mut request = match form.take() {
            Some(fields) => http.post(url.clone()).form(&fields),
            None => http.get(url.clone()),
        };
        if !jar.0.is_empty() {
            request = request.header(COOKIE, jar.header());
        }
        let response = request.send().await.with_context(|| format!("requesting {url}"))?;
        jar.take(&response);
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers().get(LOCATION).context("a redirect without a Location")?.to_str()?;
            let next = url.join(location)?;
            if same_endpoint(&next, &target) {
                let query: BTreeMap<String, String> = next.query_pairs().into_owned().collect();
                if let Some(error) = query.get("error") {
                    bail!(
                        "the provider sent the error {error:?} to the redirect URI: {:?}",
                        query.get("error_description")
                    );
                }
                let code = query.get("code").context("no code in the redirect")?.clone();
                let state = query.get("state").context("no state in the redirect")?.clone();
                return Ok(Callback { code, state, url: next });
            }
            url = next;
            continue;
        }
        let body = response.text().await?;
        match status {
            StatusCode::OK if body.contains("name=\"password\"") => {
                let action = between(&body, "action=\"", "\"").context("a login page without a form action")?;
                url = url.join(action)?;
                form = Some(vec![("login", login), ("password", password)]);
            }
            StatusCode::UNAUTHORIZED => bail!("the provider refused the login and password"),
            _ => bail!("the provider answered {status} at {url}: {body}"),
        }
    }
    bail!("more than 20 redirects from {authorization_url}")
}

fn same_endpoint(a: &Url, b: &Url) -> bool {
    (a.scheme(), a.host_str(), a.port_or_known_default(), a.path())
        == (b.scheme(), b.host_str(), b.port_or_known_default(), b.path())
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// Cookies by name, sent on every request: one provider on one host, whose
/// cookie paths need not be honoured for the flow to work.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let Ok(header) = header.to_str() else { continue };
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { continue };
            let removed = parts
                .map(|p| p.trim().to_ascii_lowercase())
                .any(|p| p == "max-age=0" || (p.starts_with("expires=") && p.contains("1970")));
            if removed || value.is_empty() {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}
