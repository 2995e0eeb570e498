//! Reading values out of a parsed HL7 v2 message (HL7 v2.5.1 chapter 2):
//! the field, repetition and component of a segment, with escape sequences
//! decoded, and the difference between an empty field (nothing sent: leave
//! what we have) and `""` (the explicit null: clear what we have).
//!
//! `hl7-parser` finds the structure; what a value means is decided here.

use hl7_parser::message::{Segment, Separators};

/// One value as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Empty or not present: the receiver keeps what it has.
    Absent,
    /// `""`: the sender says the value is now unknown; the receiver clears it.
    Null,
    Text(String),
}

impl Value {
    pub fn text(self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s),
            Value::Absent | Value::Null => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Value::Text(s) => s,
            Value::Absent | Value::Null => "",
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Value::Absent)
    }

    /// For an update: `None` keeps the stored value, `Some(None)` clears
    /// it, `Some(Some(v))` sets it.
    pub fn change(self) -> Option<Option<String>> {
        match self {
            Value::Absent => None,
            Value::Null => Some(None),
            Value::Text(s) => Some(Some(s)),
        }
    }
}

impl From<Value> for crate::ingest::Change<String> {
    fn from(v: Value) -> Self {
        match v {
            Value::Absent => crate::ingest::Change::Keep,
            Value::Null => crate::ingest::Change::Clear,
            Value::Text(s) => crate::ingest::Change::Set(s),
        }
    }
}

/// Where in the message a value is (ERR-2, and what an AE names):
/// `PID-3`, `OBX-5`, with the segment's position among its kind.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub segment: String,
    /// 1 for the first segment of its kind.
    pub sequence: usize,
    pub field: usize,
}

impl Location {
    pub fn new(segment: &str, sequence: usize, field: usize) -> Location {
        Location { segment: segment.to_owned(), sequence, field }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.segment, self.field)
    }
}

/// A segment and the separators to decode it with.
#[derive(Clone, Copy, Debug)]
pub struct Seg<'a, 'm> {
    pub segment: &'a Segment<'m>,
    pub separators: &'a Separators,
    /// 1 for the first segment of its kind.
    pub sequence: usize,
}

impl<'a, 'm> Seg<'a, 'm> {
    pub fn name(&self) -> &str {
        self.segment.name
    }

    pub fn location(&self, field: usize) -> Location {
        Location::new(self.segment.name, self.sequence, field)
    }

    /// The raw text of a field (all repetitions), escapes not decoded.
    pub fn raw(&self, field: usize) -> &'m str {
        self.segment.field(field).map(|f| f.raw_value()).unwrap_or_default()
    }

    /// How many repetitions the field has (0 when empty).
    pub fn repetitions(&self, field: usize) -> usize {
        match self.segment.field(field) {
            Some(f) if !f.raw_value().is_empty() => f.repeats().count(),
            _ => 0,
        }
    }

    /// Component `component` (1-based) of repetition `repetition` (1-based)
    /// of field `field`, decoded. Subcomponents are joined as sent.
    pub fn value(&self, field: usize, repetition: usize, component: usize) -> Value {
        let raw = self
            .segment
            .field(field)
            .and_then(|f| f.repeat(repetition))
            .and_then(|r| r.component(component))
            .map(|c| c.raw_value())
            .unwrap_or_default();
        decode(raw, self.separators)
    }

    /// The first component of the first repetition.
    pub fn first(&self, field: usize) -> Value {
        self.value(field, 1, 1)
    }

    /// Subcomponent `sub` of a component, decoded (e.g. PID-3.4.1).
    pub fn sub(&self, field: usize, repetition: usize, component: usize, sub: usize) -> Value {
        let raw = self
            .segment
            .field(field)
            .and_then(|f| f.repeat(repetition))
            .and_then(|r| r.component(component))
            .and_then(|c| c.subcomponent(sub))
            .map(|s| s.raw_value())
            .unwrap_or_default();
        decode(raw, self.separators)
    }

    /// A whole field with its escapes decoded and its structure flattened
    /// (components joined by spaces): for text fields such as an address.
    pub fn flat(&self, field: usize, repetition: usize) -> Value {
        let Some(rep) = self.segment.field(field).and_then(|f| f.repeat(repetition)) else {
            return Value::Absent;
        };
        if rep.raw_value() == "\"\"" {
            return Value::Null;
        }
        let parts: Vec<String> = rep
            .components()
            .filter_map(|c| decode(c.raw_value(), self.separators).text())
            .filter(|s| !s.trim().is_empty())
            .collect();
        if parts.is_empty() { Value::Absent } else { Value::Text(parts.join(" ")) }
    }
}

/// Decodes one primitive value (HL7 v2.5.1 section 2.7): `\F\ \S\ \T\ \R\
/// \E\` to the separator they stand for, `\Xhh..\` to those bytes (as
/// UTF-8, or Latin-1 when they are not UTF-8), `\.br\` to a line break; the
/// highlighting and other formatting escapes (`\H\ \N\ \.sp\ \Zxx\ \Cxx\
/// \Mxx\`) are dropped. `""` is [`Value::Null`]; empty or blank is
/// [`Value::Absent`].
pub fn decode(raw: &str, separators: &Separators) -> Value {
    if raw.is_empty() {
        return Value::Absent;
    }
    if raw == "\"\"" {
        return Value::Null;
    }
    let escape = separators.escape;
    if !raw.contains(escape) {
        let trimmed = raw.trim();
        return if trimmed.is_empty() { Value::Absent } else { Value::Text(trimmed.to_owned()) };
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(escape) {
        out.push_str(&rest[..start]);
        let after = &rest[start + escape.len_utf8()..];
        let Some(end) = after.find(escape) else {
            // An unterminated escape: kept as sent.
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let sequence = &after[..end];
        match sequence {
            "F" => out.push(separators.field),
            "S" => out.push(separators.component),
            "T" => out.push(separators.subcomponent),
            "R" => out.push(separators.repetition),
            "E" => out.push(escape),
            ".br" => out.push('\n'),
            s if s.starts_with('X') => out.push_str(&hex_text(&s[1..])),
            _ => {}
        }
        rest = &after[end + escape.len_utf8()..];
    }
    out.push_str(rest);
    let trimmed = out.trim();
    if trimmed.is_empty() { Value::Absent } else { Value::Text(trimmed.to_owned()) }
}

/// `\Xhh..\`: hexadecimal bytes. Invalid hex is dropped.
fn hex_text(hex_digits: &str) -> String {
    let bytes: Vec<u8> = hex::decode(hex_digits).unwrap_or_default();
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

/// Escapes text for a field we send (an ACK's text): the separators and
/// the escape character become their escape sequences.
pub fn encode(text: &str, separators: &Separators) -> String {
    separators.encode(text).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(raw: &str) -> Value {
        decode(raw, &Separators::default())
    }

    #[test]
    fn escapes_decode_to_what_they_stand_for() {
        assert_eq!(d(r"O\S\Brien \T\ Sons\F\\R\\E\"), Value::Text(r"O^Brien & Sons|~\".into()));
        assert_eq!(d(r"line\.br\two"), Value::Text("line\ntwo".into()));
        assert_eq!(d(r"\H\bold\N\ text"), Value::Text("bold text".into()));
        assert_eq!(d(r"caf\XC3A9\"), Value::Text("café".into()));
        assert_eq!(d(r"caf\XE9\"), Value::Text("café".into()));
    }

    #[test]
    fn empty_is_absent_and_two_quotes_are_null() {
        assert_eq!(d(""), Value::Absent);
        assert_eq!(d("   "), Value::Absent);
        assert_eq!(d("\"\""), Value::Null);
        assert_eq!(d("\"\"").change(), Some(None));
        assert_eq!(d("").change(), None);
    }

    #[test]
    fn components_and_repetitions_are_addressed_from_one() {
        let msg = hl7_parser::Message::parse(
            "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\rPID|||123^^^HOSP^MR~456^^^NHS^NH||DOE^JANE^Q||19800101|F",
        )
        .unwrap();
        let pid = Seg { segment: msg.segment("PID").unwrap(), separators: &msg.separators, sequence: 1 };
        assert_eq!(pid.repetitions(3), 2);
        assert_eq!(pid.value(3, 2, 1), Value::Text("456".into()));
        assert_eq!(pid.value(3, 2, 4), Value::Text("NHS".into()));
        assert_eq!(pid.value(5, 1, 2), Value::Text("JANE".into()));
        assert_eq!(pid.value(5, 1, 9), Value::Absent);
        assert_eq!(pid.first(30), Value::Absent);
        assert_eq!(pid.location(3).to_string(), "PID-3");
    }
}
