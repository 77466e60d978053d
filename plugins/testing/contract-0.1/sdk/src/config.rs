//! The plugin's configuration: the bundle's `[plugins.config]` table, handed over as JSON
//! text, parsed into the plugin's own serde struct.

use serde::de::DeserializeOwned;

use crate::Error;

/// A configuration the plugin cannot use; shown to the operator as `<key>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as a path into the table (`sites[1].name`), or `config` for the whole.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// A configuration error at `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::InvalidConfig(e.to_string())
    }
}

/// Parses the configuration JSON into `T`. A serde error names the path of the offending
/// key (`rules[2].from: invalid type: …`) rather than a position in JSON text the operator
/// never wrote.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." {
            "config".to_owned()
        } else {
            path
        };
        ConfigError::new(key, strip_position(&e.into_inner().to_string()))
    })
}

/// serde_json appends ` at line L column C`; in the host's one-line JSON that only
/// confuses.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A time of day `HH:MM` in a configuration, e.g. opening hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime {
    /// Minutes after midnight, 0..=1440 (`24:00` is the end of the day).
    pub minutes: u16,
}

impl ClockTime {
    /// Parses `HH:MM` (`00:00` to `24:00`).
    pub fn parse(text: &str) -> Option<Self> {
        let (h, m) = text.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return None;
        }
        Some(Self {
            minutes: h * 60 + m,
        })
    }
}

impl std::fmt::Display for ClockTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl<'de> serde::Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a time of day HH:MM")))
    }
}

/// Checks that `value` at `key` is not empty or blank.
pub fn not_empty(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::new(key, "must not be empty"))
    } else {
        Ok(())
    }
}

/// Where calls go that a plugin does not route to one of its own targets (out of hours,
/// on a holiday, when every site is full): a routing target (a provider, a team, another
/// hotline) or an announcement to play. Exactly one of the two keys;
/// [`check`](Self::check) says so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// A routing target.
    #[serde(default)]
    pub target: Option<String>,
    /// An announcement to play.
    #[serde(default)]
    pub announcement: Option<String>,
}

impl Destination {
    /// The route's target and whether it is an announcement.
    pub fn resolve(&self) -> (&str, bool) {
        match (&self.target, &self.announcement) {
            (Some(t), _) => (t, false),
            (None, Some(a)) => (a, true),
            // Refused by `check`.
            (None, None) => ("", false),
        }
    }

    /// Checks that exactly one of the keys is given and not empty; `key` names the
    /// destination in the configuration.
    pub fn check(&self, key: &str) -> Result<(), ConfigError> {
        match (&self.target, &self.announcement) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                key,
                "give either `target` or `announcement`, not both",
            )),
            (None, None) => Err(ConfigError::new(
                key,
                "give `target = \"…\"` (a provider, team or hotline) or `announcement = \"…\"`",
            )),
            (Some(t), None) => not_empty(&format!("{key}.target"), t),
            (None, Some(a)) => not_empty(&format!("{key}.announcement"), a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        target: String,
        #[serde(default)]
        sites: Vec<Site>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Site {
        name: String,
        opens: ClockTime,
    }

    #[test]
    fn errors_name_the_path_of_the_key() {
        let e = parse::<Sample>(r#"{"target":"kl","sites":[{"name":"a","opens":"08:00"},{"name":"b","opens":"25:00"}]}"#)
            .expect_err("bad time");
        assert_eq!(e.key, "sites[1].opens");
        assert!(e.reason.contains("\"25:00\" is not a time of day"), "{e}");
        let e = parse::<Sample>(r#"{"targte":"kl"}"#).expect_err("unknown key");
        assert_eq!(e.key, "targte");
        assert!(e.reason.starts_with("unknown field `targte`"), "{e}");
        let e = parse::<Sample>("{}").expect_err("missing");
        assert_eq!(e.to_string(), "config: missing field `target`");
    }

    #[test]
    fn a_destination_is_a_target_or_an_announcement() {
        let d = |json: &str| parse::<Destination>(json).expect("parses");
        let target = d(r#"{"target": "provider-24-7"}"#);
        assert_eq!(target.check("holiday"), Ok(()));
        assert_eq!(target.resolve(), ("provider-24-7", false));
        let announcement = d(r#"{"announcement": "closed"}"#);
        assert_eq!(announcement.resolve(), ("closed", true));
        let both = d(r#"{"target": "a", "announcement": "b"}"#);
        assert!(
            both.check("holiday")
                .expect_err("both")
                .reason
                .contains("not both")
        );
        let neither = d("{}").check("holiday").expect_err("neither");
        assert_eq!(neither.key, "holiday");
        let blank = d(r#"{"target": " "}"#).check("holiday").expect_err("blank");
        assert_eq!(blank.to_string(), "holiday.target: must not be empty");
        assert!(parse::<Destination>(r#"{"queue": "q"}"#).is_err());
    }

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!(ClockTime::parse("08:30").map(|t| t.minutes), Some(510));
        assert_eq!(ClockTime::parse("24:00").map(|t| t.minutes), Some(1440));
        for bad in ["8:30", "24:01", "12:60", "noon", "12-00"] {
            assert!(ClockTime::parse(bad).is_none(), "{bad}");
        }
    }
}
