//! Matching what the IVR (or an agent) says a caller wants against the tenant's concerns.
//!
//! A concern is found by its id or one of its synonyms, compared in a **normal form**:
//! trimmed, lower case, German umlauts and ß written out (`ä` → `ae`, `ß` → `ss`), and
//! whitespace, hyphens, dashes and underscores left out. So `Kfz-Zulassung`,
//! `kfz zulassung`, ` KFZ_Zulassung ` and `kfzzulassung` are one concern, and
//! `Führerschein` matches `Fuehrerschein`. Two concerns may not claim the same normal form;
//! the configuration check refuses that.

use std::collections::BTreeMap;

use crate::config::Config;

/// The normal form of a concern, an id or a synonym (see the module docs).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            '-' | '_' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' => {}
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// How a concern was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// By its id (in normal form).
    Id,
    /// By one of its synonyms.
    Synonym,
}

impl Match {
    /// The value of the route's `concern_match`.
    pub fn as_str(self) -> &'static str {
        match self {
            Match::Id => "id",
            Match::Synonym => "synonym",
        }
    }
}

/// What a normal form is claimed by: a concern, by its id or by a synonym.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'c> {
    /// The concern's id.
    pub concern: &'c str,
    /// How.
    pub by: Match,
    /// The text as configured (the id, or the synonym).
    pub text: &'c str,
}

/// Every normal form the concerns claim. Built from a checked configuration, where no form
/// is claimed twice, once per prepared instance ([`Config::directory`]).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    claims: BTreeMap<String, Entry>,
}

/// A claim as the directory keeps it.
#[derive(Debug, Clone)]
struct Entry {
    concern: String,
    by: Match,
    text: String,
}

impl Entry {
    fn claim(&self) -> Claim<'_> {
        Claim {
            concern: &self.concern,
            by: self.by,
            text: &self.text,
        }
    }
}

impl Directory {
    /// The directory of `config`'s concerns. Where a form is claimed twice (a configuration
    /// [`crate::config::check`] refuses), the first claim holds: ids before synonyms, in
    /// the order of the ids.
    pub fn new(config: &Config) -> Self {
        let mut d = Self::default();
        for id in config.concerns.keys() {
            d.claim(
                id,
                Claim {
                    concern: id,
                    by: Match::Id,
                    text: id,
                },
            );
        }
        for (id, concern) in &config.concerns {
            for synonym in &concern.synonyms {
                d.claim(
                    synonym,
                    Claim {
                        concern: id,
                        by: Match::Synonym,
                        text: synonym,
                    },
                );
            }
        }
        d
    }

    /// Claims the normal form of `text`; returns the earlier claim when there is one (and
    /// keeps it).
    pub fn claim(&mut self, text: &str, claim: Claim<'_>) -> Option<Claim<'_>> {
        match self.claims.entry(normalize(text)) {
            std::collections::btree_map::Entry::Occupied(e) => Some(e.into_mut().claim()),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(Entry {
                    concern: claim.concern.to_owned(),
                    by: claim.by,
                    text: claim.text.to_owned(),
                });
                None
            }
        }
    }

    /// The concern `text` names, if any.
    pub fn find(&self, text: &str) -> Option<Claim<'_>> {
        self.claims.get(&normalize(text)).map(Entry::claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        leitstand_sdk::config::parse(
            r#"{
            "center": {"name": "Servicecenter", "target": "sc"},
            "departments": {"kfz-stelle": {"name": "Kfz-Zulassungsstelle", "target": "kfz"},
                            "fs": {"name": "Führerscheinstelle", "target": "fs"}},
            "concerns": {"kfz-zulassung": {"department": "kfz-stelle", "synonyms": ["Auto anmelden", "Kennzeichen"]},
                         "fuehrerschein": {"department": "fs", "synonyms": ["Fahrerlaubnis"]}}
        }"#,
        )
        .expect("config")
    }

    #[test]
    fn case_space_hyphen_and_umlauts_do_not_matter() {
        assert_eq!(normalize("  Kfz-Zulassung "), "kfzzulassung");
        assert_eq!(normalize("kfz zulassung"), "kfzzulassung");
        assert_eq!(normalize("KFZ_Zulassung"), "kfzzulassung");
        assert_eq!(normalize("Kfz\u{2013}Zulassung"), "kfzzulassung");
        assert_eq!(normalize("Führerschein"), "fuehrerschein");
        assert_eq!(normalize("Straße"), "strasse");
        assert_eq!(normalize(" - "), "");
    }

    #[test]
    fn ids_and_synonyms_are_found() {
        let c = config();
        let d = Directory::new(&c);
        for text in [
            "kfz-zulassung",
            "Kfz-Zulassung",
            "kfz zulassung",
            "KFZZULASSUNG",
        ] {
            let found = d.find(text).expect(text);
            assert_eq!(
                (found.concern, found.by),
                ("kfz-zulassung", Match::Id),
                "{text}"
            );
        }
        let found = d.find("auto  Anmelden").expect("synonym");
        assert_eq!((found.concern, found.by), ("kfz-zulassung", Match::Synonym));
        assert_eq!(found.text, "Auto anmelden");
        let found = d.find("Führerschein").expect("umlaut");
        assert_eq!(found.concern, "fuehrerschein");
        assert_eq!(d.find("Wohngeld"), None);
        assert_eq!(d.find(""), None);
    }

    #[test]
    fn the_first_claim_holds() {
        let c = config();
        let mut d = Directory::new(&c);
        let earlier = d.claim(
            "Fahr-Erlaubnis",
            Claim {
                concern: "kfz-zulassung",
                by: Match::Synonym,
                text: "Fahr-Erlaubnis",
            },
        );
        assert_eq!(earlier.map(|c| c.concern), Some("fuehrerschein"));
        assert_eq!(
            d.find("fahrerlaubnis").map(|c| c.concern),
            Some("fuehrerschein")
        );
    }
}
