//! What a user name may not do to a filter or a DN: the escaping of values
//! substituted into them, and the reading of a group's `cn` out of its DN.
//!
//! A user name is typed by whoever stands at the sign-in screen. Put into
//! `(uid={username})` as it is, `*)(uid=*` would turn "this person" into
//! "anyone"; put into `uid={username},ou=people,...` as it is, `x,ou=admins`
//! would name another entry. So every substituted value is escaped, for a
//! filter per RFC 4515 section 3 and for a DN per RFC 4514 section 2.4.

/// `value` as a filter assertion value (RFC 4515): `*`, `(`, `)`, `\` and NUL
/// become `\2a`, `\28`, `\29`, `\5c` and `\00`. Other control characters are
/// escaped too (the RFC allows escaping any octet), so that nothing invisible
/// reaches the directory. UTF-8 beyond ASCII passes as it is.
pub fn filter_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '*' | '(' | ')' | '\\') || c.is_ascii_control() {
            escaped.push_str(&format!("\\{:02x}", c as u32));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// `value` as an attribute value in a DN (RFC 4514): `"`, `+`, `,`, `;`, `<`,
/// `=`, `>` and `\` behind a backslash, as are a leading `#` or space and a
/// trailing space; NUL and other control characters as `\XX`.
pub fn dn_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '=' | '>' | '\\' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '#' if i == 0 => escaped.push_str("\\#"),
            ' ' if i == 0 || i == last => escaped.push_str("\\ "),
            c if c.is_ascii_control() => escaped.push_str(&format!("\\{:02x}", c as u32)),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The value of `attribute` (case-insensitive, as `CN` in Active Directory)
/// in the first RDN of `dn`, unescaped (RFC 4514): `cn=Ward 7\2C East,ou=groups`
/// gives `Ward 7, East` for `cn`. `None` when the first RDN has no such
/// attribute, the value is in the `#`-hex (BER) form, or the DN is malformed.
pub fn first_rdn_value(dn: &str, attribute: &str) -> Option<String> {
    let mut rest = dn;
    loop {
        let (name, after) = rest.split_once('=')?;
        let (value, separator, remainder) = read_value(after)?;
        if name.trim().eq_ignore_ascii_case(attribute) {
            return (!after.starts_with('#')).then_some(value);
        }
        // A multi-valued RDN (`uid=x+cn=y`) goes on after `+`; `,` ends the RDN.
        if separator != Some('+') {
            return None;
        }
        rest = remainder;
    }
}

/// The DN of the entry above `dn`: what follows its first unescaped `,`.
/// `None` for a DN of one RDN.
pub(super) fn parent_dn(dn: &str) -> Option<&str> {
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => return Some(dn[i + 1..].trim_start()),
            _ => {}
        }
    }
    None
}

/// The unescaped value at the start of `text`, the separator that ended it
/// (`,` or `+`; `None` at the end of the DN) and what follows that
/// separator. `None` for an escape RFC 4514 does not allow.
fn read_value(text: &str) -> Option<(String, Option<char>, &str)> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut chars = text.char_indices();
    let mut buffer = [0; 4];
    while let Some((i, c)) = chars.next() {
        match c {
            ',' | '+' => return Some((String::from_utf8(bytes).ok()?, Some(c), &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                first if first.is_ascii_hexdigit() => {
                    let second = chars.next()?.1;
                    bytes.push(u8::from_str_radix(&format!("{first}{second}"), 16).ok()?);
                }
                special @ (' ' | '"' | '#' | '+' | ',' | ';' | '<' | '=' | '>' | '\\') => {
                    bytes.push(special as u8);
                }
                _ => return None,
            },
            c => bytes.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes()),
        }
    }
    Some((String::from_utf8(bytes).ok()?, None, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_cannot_widen_or_break_a_filter() {
        let cases = [
            ("alice", "alice"),
            ("*", "\\2a"),
            ("*)(uid=*", "\\2a\\29\\28uid=\\2a"),
            ("a\\b", "a\\5cb"),
            ("nul\0", "nul\\00"),
            ("tab\there", "tab\\09here"),
            ("o'brien", "o'brien"),
            ("zoë", "zoë"),
            ("", ""),
        ];
        for (value, expected) in cases {
            assert_eq!(filter_value(value), expected, "{value:?}");
        }
        // What comes out always parses as one filter with one equality.
        let filter = format!("(uid={})", filter_value("*)(|(uid=*"));
        assert!(ldap3::parse_filter(&filter).is_ok(), "{filter}");
    }

    #[test]
    fn dn_values_cannot_name_another_entry() {
        let cases = [
            ("alice", "alice"),
            ("a,ou=admins", "a\\,ou\\=admins"),
            ("x+cn=y", "x\\+cn\\=y"),
            ("\"q\";<>", "\\\"q\\\"\\;\\<\\>"),
            ("back\\slash", "back\\\\slash"),
            ("#hash", "\\#hash"),
            ("mid#dle", "mid#dle"),
            (" lead", "\\ lead"),
            ("trail ", "trail\\ "),
            (" ", "\\ "),
            ("in side", "in side"),
            ("nul\0", "nul\\00"),
            ("zoë", "zoë"),
            ("", ""),
        ];
        for (value, expected) in cases {
            assert_eq!(dn_value(value), expected, "{value:?}");
        }
    }

    #[test]
    fn dn_values_round_trip_through_the_rdn_reader() {
        for value in ["a,ou=admins", " both ", "#x", "q\"+;<>\\", "zoë", "plain"] {
            let dn = format!("cn={},ou=groups,dc=example", dn_value(value));
            assert_eq!(first_rdn_value(&dn, "cn").as_deref(), Some(value), "{dn}");
        }
    }

    #[test]
    fn the_parent_dn_follows_the_first_unescaped_comma() {
        let cases = [
            ("uid=a,ou=people,dc=example", Some("ou=people,dc=example")),
            ("cn=Ward 7\\, East,ou=groups", Some("ou=groups")),
            ("cn=Ward 7\\2C East,ou=groups", Some("ou=groups")),
            ("cn=back\\\\,ou=groups", Some("ou=groups")),
            ("uid=a, ou=people", Some("ou=people")),
            ("dc=example", None),
        ];
        for (dn, parent) in cases {
            assert_eq!(parent_dn(dn), parent, "{dn}");
        }
    }

    #[test]
    fn the_first_rdn_value_is_read_as_the_directory_wrote_it() {
        let cases = [
            ("cn=wardbook-clinicians,ou=groups,dc=example,dc=org", "cn", Some("wardbook-clinicians")),
            ("CN=Ward 7 Nurses,OU=Groups,DC=hospital,DC=local", "cn", Some("Ward 7 Nurses")),
            ("cn=Ward 7\\2C East,ou=groups", "cn", Some("Ward 7, East")),
            ("cn=Zo\\C3\\AB,ou=groups", "cn", Some("Zoë")),
            ("cn=solo", "cn", Some("solo")),
            ("uid=x+cn=both,ou=groups", "cn", Some("both")),
            ("ou=groups,dc=example", "cn", None),
            ("cn=#04024869,dc=example", "cn", None),
            ("no equals sign", "cn", None),
            ("cn=broken\\", "cn", None),
            ("cn=bad\\zz", "cn", None),
            ("cn=half\\4", "cn", None),
            ("", "cn", None),
        ];
        for (dn, attribute, expected) in cases {
            assert_eq!(first_rdn_value(dn, attribute).as_deref(), expected, "{dn}");
        }
    }
}
