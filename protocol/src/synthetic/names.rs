//! Synthetic demographics: names, contact details and addresses that look
//! real enough to exercise the UI (accents, apostrophes, hyphens, spaces) but
//! are unmistakably fake: `SYN-` MRNs, 555-01xx phone numbers (reserved for
//! fiction in the North American numbering plan), `synthetic.test` emails
//! (`.test` is reserved by RFC 2606) and streets named "Synthetic ...".

use chrono::{Days, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{SOURCE_SYSTEM, SyntheticConfig, new_id, pick};
use crate::{Patient, Sex};

#[rustfmt::skip]
pub(super) const MALE_GIVEN: &[&str] = &[
    "James", "Mohammed", "Wei", "Oluwaseun", "Carlos", "Hiroshi", "Liam", "Noah", "Arjun", "Mateo",
    "Dmitri", "Kwame", "Jamal", "Ethan", "Luca", "Omar", "Santiago", "Jin", "Raj", "Thomas",
    "Samuel", "Ahmed", "Diego", "Kenji", "Tariq", "Benjamin", "Felipe", "Andrei", "Kofi", "Nikolai",
    "Ravi", "Daniel", "Hassan", "Ivan", "Jorge", "Minh", "Patrick", "Rafael", "Sione", "Tomasz",
    "Yusuf", "Aarav", "Elijah", "Finn", "Gabriel", "Hamza", "Isaac", "Javier", "Kai", "Lars",
    "Marcus", "Nathaniel", "Olusegun", "Pedro", "Quentin", "Rashid", "Sebastián", "Tiago", "Viktor",
    "Jean-Luc",
];

#[rustfmt::skip]
pub(super) const FEMALE_GIVEN: &[&str] = &[
    "Mary", "Fatima", "Mei", "Aisha", "Sofia", "Yuki", "Olivia", "Emma", "Priya", "Valentina",
    "Anastasia", "Ama", "Keisha", "Chloe", "Giulia", "Layla", "Camila", "Seo-yeon", "Ananya",
    "Grace", "Sarah", "Amira", "Lucía", "Hana", "Zainab", "Charlotte", "Isabela", "Elena", "Abena",
    "Katarzyna", "Lakshmi", "Hannah", "Nour", "Olga", "Carmen", "Linh", "Siobhan", "Gabriela",
    "Mele", "Agnieszka", "Maryam", "Aditi", "Ava", "Freya", "Ingrid", "Jasmine", "Kalani",
    "Leilani", "Maya", "Nadia", "Oksana", "Paloma", "Rania", "Saanvi", "Tamar", "Ximena", "Yasmin",
    "Zoë", "Beatriz", "Chiamaka",
];

#[rustfmt::skip]
pub(super) const FAMILY: &[&str] = &[
    "Smith", "Nguyen", "Garcia", "Okafor", "Kim", "Patel", "Müller", "Rossi", "Kowalski", "Cohen",
    "O'Brien", "Hernández", "Tanaka", "Mensah", "Chen", "Wang", "Singh", "Ali", "Khan", "Johnson",
    "Williams", "Brown", "Jones", "Davis", "Martinez", "Lopez", "Gonzalez", "Rodriguez", "Wilson",
    "Anderson", "Taylor", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker",
    "Young", "Wright", "Scott", "Torres", "Adeyemi", "Mwangi", "Haddad", "Nakamura", "Sato", "Park",
    "Choi", "Tran", "Pham", "Sharma", "Gupta", "Reddy", "Hussain", "Rahman", "Silva", "Santos",
    "Pereira", "Oliveira", "Schmidt", "Fischer", "Dubois", "Lefebvre", "Bianchi", "Romano", "Novak",
    "Horvat", "Nowak", "Larsen", "Johansson", "Virtanen", "Murphy", "Byrne", "Dlamini", "Tuilagi",
    "Kealoha", "Begay", "Al-Sayed", "da Silva",
];

/// Area codes of large US cities; with 555-01xx the whole number is fictional.
const AREA_CODES: &[u32] = &[212, 312, 415, 617, 206, 303, 404, 512, 602, 713];
const STREET_NAMES: &[&str] =
    &["Maple", "Oak", "Cedar", "Willow", "Harbor", "River", "Hill", "Lake", "Meadow", "Station"];
const STREET_KINDS: &[&str] = &["Street", "Avenue", "Road", "Lane", "Way", "Drive"];
const CITIES: &[&str] = &["Springfield", "Riverton", "Lakeside", "Fairview", "Greenville", "Kingsport"];
/// BCP 47 tags with cumulative weights (percent): mostly English.
const LANGUAGES: &[(&str, u32)] = &[
    ("en", 70),
    ("es", 80),
    ("zh", 84),
    ("vi", 87),
    ("ar", 90),
    ("fr", 92),
    ("pl", 94),
    ("pt", 96),
    ("hi", 98),
    ("so", 100),
];

/// Birth dates are spread over these years (ages about 18 to 95).
const BIRTH_FROM: NaiveDate = match NaiveDate::from_ymd_opt(1930, 1, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};
const BIRTH_TO: NaiveDate = match NaiveDate::from_ymd_opt(2008, 12, 31) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// Patient `index`, with MRN `SYN-{mrn:06}`.
pub(super) fn patient(rng: &mut ChaCha8Rng, cfg: &SyntheticConfig, index: usize, mrn: u32) -> Patient {
    let sex = match rng.random_range(0..100u32) {
        0..47 => Sex::Male,
        47..94 => Sex::Female,
        94..97 => Sex::Other,
        _ => Sex::Unknown,
    };
    let given = match sex {
        Sex::Male => pick(rng, MALE_GIVEN),
        Sex::Female => pick(rng, FEMALE_GIVEN),
        Sex::Other | Sex::Unknown if rng.random_bool(0.5) => pick(rng, MALE_GIVEN),
        Sex::Other | Sex::Unknown => pick(rng, FEMALE_GIVEN),
    };
    let family = pick(rng, FAMILY);
    let phone = rng.random_bool(0.9).then(|| phone(rng));
    let email =
        rng.random_bool(0.75).then(|| format!("{}.{}.{index}@synthetic.test", email_part(given), email_part(family)));
    let address = format!(
        "{} Synthetic {} {}, {}",
        rng.random_range(1..=999u32),
        pick(rng, STREET_NAMES),
        pick(rng, STREET_KINDS),
        pick(rng, CITIES)
    );
    let roll = rng.random_range(0..100u32);
    let language = LANGUAGES.iter().find(|(_, cum)| roll < *cum).map(|(tag, _)| (*tag).to_owned());
    let (location, bed) = match cfg.locations.len() {
        0 => (None, None),
        n => (Some(cfg.locations[index % n].clone()), Some(bed(index / n))),
    };
    Patient {
        id: new_id(rng, cfg.anchor),
        version: 1,
        updated_at: cfg.anchor,
        deleted: false,
        synthetic: true,
        mrn: format!("SYN-{mrn:06}"),
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        birth_date: birth_date(rng, cfg.anchor.date_naive()),
        sex,
        phone,
        email,
        address: Some(address),
        preferred_language: language,
        location,
        bed,
        source_system: SOURCE_SYSTEM.to_owned(),
    }
}

/// The bed of the `nth` patient (from 0) placed on a location: "01", "02",
/// ... as many wards label them, then "100" and on for the benchmarks' big
/// ward. Drawn from no RNG, so adding beds changed no other generated value.
fn bed(nth: usize) -> String {
    format!("{:02}", nth + 1)
}

/// A date in 1930..=2008, never after `today` (an anchor in the past would
/// otherwise produce patients born in the future).
fn birth_date(rng: &mut ChaCha8Rng, today: NaiveDate) -> NaiveDate {
    let to = BIRTH_TO.min(today);
    let from = BIRTH_FROM.min(to);
    let span = u64::try_from((to - from).num_days()).unwrap_or(0);
    from.checked_add_days(Days::new(rng.random_range(0..=span))).unwrap_or(from)
}

/// 555-01xx in one of three common spellings, 12 to 15 characters.
fn phone(rng: &mut ChaCha8Rng) -> String {
    let area = pick(rng, AREA_CODES);
    let line = rng.random_range(0..100u32);
    match rng.random_range(0..3u32) {
        0 => format!("+1 {area} 555 01{line:02}"),
        1 => format!("({area}) 555-01{line:02}"),
        _ => format!("{area}-555-01{line:02}"),
    }
}

/// A name as an email local-part word: lower case ASCII letters only
/// ("Müller" -> "muller", "O'Brien" -> "obrien", "da Silva" -> "dasilva").
fn email_part(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            other => other,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists_are_diverse_and_distinct() {
        for (list, min) in [(MALE_GIVEN, 60), (FEMALE_GIVEN, 60), (FAMILY, 80)] {
            assert!(list.len() >= min, "{}", list.len());
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len(), "duplicate name");
            assert!(list.iter().all(|n| (1..=50).contains(&n.chars().count())));
        }
    }

    #[test]
    fn email_parts_are_plain_ascii() {
        assert_eq!(email_part("Müller"), "muller");
        assert_eq!(email_part("O'Brien"), "obrien");
        assert_eq!(email_part("da Silva"), "dasilva");
        assert_eq!(email_part("Seo-yeon"), "seoyeon");
        assert_eq!(email_part("Zoë"), "zoe");
        for n in MALE_GIVEN.iter().chain(FEMALE_GIVEN).chain(FAMILY) {
            assert!(!email_part(n).is_empty(), "{n}");
        }
    }
}
