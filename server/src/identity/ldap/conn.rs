//! Reaching the directory: the URL checked once at start-up, a connection
//! over TLS (LDAPS, or StartTLS before anything else is sent), searches
//! whose entries come back as plain maps, and failures described by host and
//! cause, never by what was sent.

use std::net::IpAddr;
use std::sync::Arc;

use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transport {
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` and the StartTLS operation before any bind.
    StartTls,
    /// `ldap://` in clear: only to this machine (see [`Endpoint::parse`]).
    Plain,
}

/// Where the directory is, parsed from the configured URL.
#[derive(Clone, Debug)]
pub(super) struct Endpoint {
    /// `scheme://host:port`, as ldap3 is given it.
    pub(super) url: String,
    /// `host:port`, for messages.
    pub(super) address: String,
    pub(super) transport: Transport,
}

impl Endpoint {
    /// Accepts `ldaps://host[:port][/]` and `ldap://host[:port][/]`; the
    /// latter needs `starttls`, except to a loopback host (a directory on
    /// the same machine, or a test). Bind passwords never cross a network
    /// in clear.
    pub(super) fn parse(url: &str, starttls: bool) -> Result<Endpoint, String> {
        let (scheme, rest) = url.split_once("://").ok_or("url must start with ldaps:// or ldap://")?;
        let (scheme, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "ldaps" => ("ldaps", 636),
            "ldap" => ("ldap", 389),
            _ => return Err(format!("url must start with ldaps:// or ldap://, not {scheme}://")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return Err("url must be scheme://host[:port] with nothing after the port \
                        (the search bases are user_base and group_base)"
                .to_owned());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') && !port.contains(']') => {
                (host, port.parse::<u16>().map_err(|_| format!("the port in url ({port}) is not a port number"))?)
            }
            _ => (authority, default_port),
        };
        if host.contains(':') && !host.starts_with('[') {
            return Err(format!("an IPv6 address in url goes in brackets: {scheme}://[{host}]:{default_port}"));
        }
        let transport = match (scheme, starttls) {
            ("ldaps", true) => {
                return Err("starttls = true is for ldap:// URLs; ldaps:// is TLS already".to_owned());
            }
            ("ldaps", false) => Transport::Ldaps,
            (_, true) => Transport::StartTls,
            (_, false) if is_loopback(host) => Transport::Plain,
            (_, false) => {
                return Err(format!(
                    "ldap://{host} without starttls = true would send passwords in clear: \
                     use ldaps:// or set starttls = true"
                ));
            }
        };
        Ok(Endpoint { url: format!("{scheme}://{host}:{port}"), address: format!("{host}:{port}"), transport })
    }
}

/// `localhost`, or an address in 127.0.0.0/8 or `::1`.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.eq_ignore_ascii_case("localhost")
        || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Opens a connection (TLS verified against `tls`, as the transport says)
/// and starts the task that drives it; the connection closes when the
/// returned handle is dropped.
pub(super) async fn connect(endpoint: &Endpoint, tls: &Arc<rustls::ClientConfig>) -> Result<ldap3::Ldap, LdapError> {
    let settings =
        LdapConnSettings::new().set_config(Arc::clone(tls)).set_starttls(endpoint.transport == Transport::StartTls);
    let (conn, ldap) = LdapConnAsync::with_settings(settings, &endpoint.url).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(error = %e, "an LDAP connection ended with an error");
        }
    });
    Ok(ldap)
}

/// The entries (not the referrals) a search found. Fails on any result code
/// but success, which callers sort out (`noSuchObject` and friends).
pub(super) async fn search(
    ldap: &mut ldap3::Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attributes: &[&str],
) -> Result<Vec<SearchEntry>, LdapError> {
    let (entries, _) = ldap.search(base, scope, filter, attributes.to_vec()).await?.success()?;
    Ok(entries.into_iter().filter(|e| !e.is_ref() && !e.is_intermediate()).map(SearchEntry::construct).collect())
}

/// The values of `attribute` in `entry`, matched case-insensitively (a
/// server answers `memberOf` to a request for `memberof`).
pub(super) fn values<'a>(entry: &'a SearchEntry, attribute: &str) -> &'a [String] {
    entry.attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(attribute)).map_or(&[], |(_, v)| v.as_slice())
}

/// The LDAP result code of a failure, when the server answered one.
pub(super) fn result_code(error: &LdapError) -> Option<u32> {
    match error {
        LdapError::LdapResult { result } => Some(result.rc),
        _ => None,
    }
}

/// What went wrong, for a message: the result code and its name with the
/// server's diagnostic text, or the transport failure (a TLS one said to be
/// one). Never the request: no DN, no password.
pub(super) fn describe(error: &LdapError) -> String {
    match error {
        LdapError::LdapResult { result } => {
            let text = result.text.trim();
            let name = result_name(result.rc);
            if text.is_empty() {
                format!("result {} ({name})", result.rc)
            } else {
                format!("result {} ({name}: {text})", result.rc)
            }
        }
        LdapError::Io { source } => match source.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(tls) => format!(
                "the TLS handshake failed ({tls}); check that ca_file holds the CA that issued the \
                 directory's certificate and that the certificate names the host of url"
            ),
            None => source.to_string(),
        },
        LdapError::Rustls { source } => format!("the TLS handshake failed ({source})"),
        LdapError::DNSName { .. } => "the host of url cannot be checked against a certificate".to_owned(),
        LdapError::FilterParsing => "a filter of the configuration is not a valid LDAP filter".to_owned(),
        other => other.to_string(),
    }
}

/// Whether a failure is the transport's (network, TLS, timeout): not an
/// answer of the directory.
pub(super) fn is_transport(error: &LdapError) -> bool {
    !matches!(error, LdapError::LdapResult { .. } | LdapError::FilterParsing)
}

/// RFC 4511 appendix A names of the result codes a sign-in may meet.
fn result_name(rc: u32) -> &'static str {
    match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "see RFC 4511",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_clear_text_is_loopback_only() {
        let ok = [
            ("ldaps://dc1.hospital.local", false, "ldaps://dc1.hospital.local:636", Transport::Ldaps),
            ("LDAPS://dc1.hospital.local:3269/", false, "ldaps://dc1.hospital.local:3269", Transport::Ldaps),
            ("ldap://ldap.hospital.local", true, "ldap://ldap.hospital.local:389", Transport::StartTls),
            ("ldap://127.0.0.1:3890", false, "ldap://127.0.0.1:3890", Transport::Plain),
            ("ldap://localhost", false, "ldap://localhost:389", Transport::Plain),
            ("ldap://[::1]:3890", false, "ldap://[::1]:3890", Transport::Plain),
        ];
        for (url, starttls, expected, transport) in ok {
            let endpoint = Endpoint::parse(url, starttls).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!((endpoint.url.as_str(), endpoint.transport), (expected, transport), "{url}");
        }
        let refused = [
            ("ldap://ldap.hospital.local", false, "in clear"),
            ("ldap://10.1.2.3:389", false, "in clear"),
            ("ldaps://dc1", true, "TLS already"),
            ("https://dc1", false, "ldaps://"),
            ("dc1.hospital.local", false, "ldaps://"),
            ("ldaps://", false, "nothing after"),
            ("ldaps://dc1/dc=hospital,dc=local", false, "nothing after"),
            ("ldaps://user:pw@dc1", false, "nothing after"),
            ("ldaps://dc1:ldaps", false, "port number"),
            ("ldap://::1", false, "brackets"),
        ];
        for (url, starttls, needle) in refused {
            let e = Endpoint::parse(url, starttls).expect_err(url);
            assert!(e.contains(needle), "{url}: {e}");
        }
    }
}
