//! From verified claims to a [`DirectoryUser`]: which claim holds what is
//! the configuration's (`username_claim`, `display_name_claim`,
//! `groups_claim`); the ID token's claims come first, the userinfo
//! endpoint's fill what the ID token left out (providers differ: Keycloak
//! puts `preferred_username` and groups in the ID token, oidc-provider keeps
//! them for userinfo when an access token is issued).
//!
//! The refusals name the claim that is wrong, never its value.

use openidconnect::SubjectIdentifier;
use serde_json::{Map, Value};

use super::OidcConfig;
use crate::identity::DirectoryUser;

/// Does the ID token leave out a claim the mapping reads?
pub(super) fn needs_userinfo(config: &OidcConfig, id_token: &Map<String, Value>) -> bool {
    [&config.username_claim, &config.display_name_claim, &config.groups_claim]
        .into_iter()
        .any(|claim| id_token.get(claim).is_none_or(Value::is_null))
}

/// The ID token's `sub` (openidconnect has checked it is there).
pub(super) fn subject(id_token: &Map<String, Value>) -> Result<SubjectIdentifier, &'static str> {
    match id_token.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => Ok(SubjectIdentifier::new(sub.clone())),
        _ => Err("the ID token has no subject"),
    }
}

pub(super) fn directory_user(
    config: &OidcConfig,
    id_token: &Map<String, Value>,
    userinfo: Option<&Map<String, Value>>,
) -> Result<DirectoryUser, &'static str> {
    let claim = |name: &str| {
        id_token
            .get(name)
            .filter(|v| !v.is_null())
            .or_else(|| userinfo.and_then(|u| u.get(name)).filter(|v| !v.is_null()))
    };
    let subject = subject(id_token)?.to_string();
    let username = match claim(&config.username_claim) {
        Some(Value::String(name)) => name.trim().to_lowercase(),
        Some(_) => return Err("the user name claim is not text"),
        None => return Err("the provider sent no user name claim (see username_claim)"),
    };
    if username.is_empty() {
        return Err("the user name claim is empty");
    }
    let display_name = match claim(&config.display_name_claim) {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_owned(),
        _ => username.clone(),
    };
    let groups = match claim(&config.groups_claim) {
        None => Vec::new(),
        // A provider that sends a single group as a string (AD FS does).
        Some(Value::String(group)) => vec![group.clone()],
        Some(Value::Array(groups)) => groups
            .iter()
            .map(|g| g.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or("the groups claim holds something other than names")?,
        Some(_) => return Err("the groups claim is not a list of names"),
    };
    Ok(DirectoryUser { subject, username, display_name, groups })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn config(extra: &str) -> OidcConfig {
        toml::from_str(&format!(
            "id = \"idp\"\nname = \"IdP\"\nissuer = \"https://idp.example\"\nclient_id = \"wardbook\"\n{extra}"
        ))
        .unwrap()
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn claims_map_to_a_directory_user() {
        let defaults = config("");
        let entra = config("username_claim = \"upn\"\ndisplay_name_claim = \"name\"\ngroups_claim = \"roles\"\n");
        type Case<'a> =
            (&'a str, &'a OidcConfig, Value, Option<Value>, Result<(&'a str, &'a str, Vec<&'a str>), &'a str>);
        let cases: Vec<Case> = vec![
            (
                "everything in the ID token, user name trimmed and lower-cased",
                &defaults,
                json!({"sub": "s1", "preferred_username": " Nurse.OIDC ", "name": "Synthetic Nurse", "groups": ["wardbook-clinicians"]}),
                None,
                Ok(("nurse.oidc", "Synthetic Nurse", vec!["wardbook-clinicians"])),
            ),
            (
                "groups from userinfo when the ID token has none",
                &defaults,
                json!({"sub": "s1", "preferred_username": "nurse.oidc"}),
                Some(json!({"sub": "s1", "name": "Synthetic Nurse", "groups": ["a", "b"]})),
                Ok(("nurse.oidc", "Synthetic Nurse", vec!["a", "b"])),
            ),
            (
                "the ID token wins over userinfo",
                &defaults,
                json!({"sub": "s1", "preferred_username": "from.token", "groups": ["t"]}),
                Some(json!({"sub": "s1", "preferred_username": "from.userinfo", "groups": ["u"]})),
                Ok(("from.token", "from.token", vec!["t"])),
            ),
            (
                "no name: the user name is shown; no groups: none",
                &defaults,
                json!({"sub": "s1", "preferred_username": "nobody.oidc", "name": "  "}),
                None,
                Ok(("nobody.oidc", "nobody.oidc", vec![])),
            ),
            (
                "configured claims, a single group as a string",
                &entra,
                json!({"sub": "s1", "upn": "Nurse@Hospital.example", "name": "N", "roles": "Wardbook.Clinician"}),
                None,
                Ok(("nurse@hospital.example", "N", vec!["Wardbook.Clinician"])),
            ),
            ("no user name claim", &defaults, json!({"sub": "s1", "name": "N"}), None, Err("no user name claim")),
            ("an empty user name", &defaults, json!({"sub": "s1", "preferred_username": " "}), None, Err("empty")),
            (
                "a user name that is not text",
                &defaults,
                json!({"sub": "s1", "preferred_username": 7}),
                None,
                Err("not text"),
            ),
            (
                "groups that are not names",
                &defaults,
                json!({"sub": "s1", "preferred_username": "n", "groups": [1, 2]}),
                None,
                Err("other than names"),
            ),
            (
                "groups that are not a list",
                &defaults,
                json!({"sub": "s1", "preferred_username": "n", "groups": {"a": 1}}),
                None,
                Err("not a list"),
            ),
            ("no subject", &defaults, json!({"preferred_username": "n"}), None, Err("no subject")),
        ];
        for (what, config, id_token, userinfo, expected) in cases {
            let userinfo = userinfo.map(map);
            let got = directory_user(config, &map(id_token), userinfo.as_ref());
            match (got, expected) {
                (Ok(user), Ok((username, display_name, groups))) => {
                    assert_eq!(user.subject, "s1", "{what}");
                    assert_eq!(user.username, username, "{what}");
                    assert_eq!(user.display_name, display_name, "{what}");
                    assert_eq!(user.groups, groups, "{what}");
                }
                (Err(why), Err(says)) => assert!(why.contains(says), "{what}: {why}"),
                (got, expected) => panic!("{what}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn userinfo_is_asked_only_when_the_id_token_lacks_a_claim() {
        let c = config("");
        let full = json!({"sub": "s", "preferred_username": "n", "name": "N", "groups": []});
        assert!(!needs_userinfo(&c, &map(full)));
        assert!(needs_userinfo(&c, &map(json!({"sub": "s", "preferred_username": "n", "name": "N"}))));
        assert!(needs_userinfo(&c, &map(json!({"sub": "s", "preferred_username": "n", "name": null, "groups": []}))));
    }
}
