//! The sixteen German states, named by their ISO 3166-2 codes, because each has its own law
//! of public holidays. Owns the codes and their parsing; what each state keeps as a holiday
//! is `holiday`'s.

use std::fmt;
use std::str::FromStr;

/// A German state (Land), whose holiday law a tenant's calendar follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Baden-Württemberg, `DE-BW`.
    BadenWuerttemberg,
    /// Bayern, `DE-BY`.
    Bayern,
    /// Berlin, `DE-BE`.
    Berlin,
    /// Brandenburg, `DE-BB`.
    Brandenburg,
    /// Bremen, `DE-HB`.
    Bremen,
    /// Hamburg, `DE-HH`.
    Hamburg,
    /// Hessen, `DE-HE`.
    Hessen,
    /// Mecklenburg-Vorpommern, `DE-MV`.
    MecklenburgVorpommern,
    /// Niedersachsen, `DE-NI`.
    Niedersachsen,
    /// Nordrhein-Westfalen, `DE-NW`.
    NordrheinWestfalen,
    /// Rheinland-Pfalz, `DE-RP`.
    RheinlandPfalz,
    /// Saarland, `DE-SL`.
    Saarland,
    /// Sachsen, `DE-SN`.
    Sachsen,
    /// Sachsen-Anhalt, `DE-ST`.
    SachsenAnhalt,
    /// Schleswig-Holstein, `DE-SH`.
    SchleswigHolstein,
    /// Thüringen, `DE-TH`.
    Thueringen,
}

impl State {
    /// Every state, in the order of ISO 3166-2:DE (the order error messages list them in).
    pub const ALL: [State; 16] = [
        State::BadenWuerttemberg,
        State::Bayern,
        State::Berlin,
        State::Brandenburg,
        State::Bremen,
        State::Hamburg,
        State::Hessen,
        State::MecklenburgVorpommern,
        State::Niedersachsen,
        State::NordrheinWestfalen,
        State::RheinlandPfalz,
        State::Saarland,
        State::Sachsen,
        State::SachsenAnhalt,
        State::SchleswigHolstein,
        State::Thueringen,
    ];

    /// The state for an ISO 3166-2 code such as `"DE-NW"`; case does not matter.
    pub fn parse(code: &str) -> Result<State, ParseStateError> {
        State::ALL
            .into_iter()
            .find(|state| state.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| ParseStateError {
                code: code.to_owned(),
            })
    }

    /// The ISO 3166-2 code, e.g. `"DE-NW"`.
    pub fn code(self) -> &'static str {
        match self {
            State::BadenWuerttemberg => "DE-BW",
            State::Bayern => "DE-BY",
            State::Berlin => "DE-BE",
            State::Brandenburg => "DE-BB",
            State::Bremen => "DE-HB",
            State::Hamburg => "DE-HH",
            State::Hessen => "DE-HE",
            State::MecklenburgVorpommern => "DE-MV",
            State::Niedersachsen => "DE-NI",
            State::NordrheinWestfalen => "DE-NW",
            State::RheinlandPfalz => "DE-RP",
            State::Saarland => "DE-SL",
            State::Sachsen => "DE-SN",
            State::SachsenAnhalt => "DE-ST",
            State::SchleswigHolstein => "DE-SH",
            State::Thueringen => "DE-TH",
        }
    }

    /// The state's German name, e.g. `"Nordrhein-Westfalen"`.
    pub fn name(self) -> &'static str {
        match self {
            State::BadenWuerttemberg => "Baden-Württemberg",
            State::Bayern => "Bayern",
            State::Berlin => "Berlin",
            State::Brandenburg => "Brandenburg",
            State::Bremen => "Bremen",
            State::Hamburg => "Hamburg",
            State::Hessen => "Hessen",
            State::MecklenburgVorpommern => "Mecklenburg-Vorpommern",
            State::Niedersachsen => "Niedersachsen",
            State::NordrheinWestfalen => "Nordrhein-Westfalen",
            State::RheinlandPfalz => "Rheinland-Pfalz",
            State::Saarland => "Saarland",
            State::Sachsen => "Sachsen",
            State::SachsenAnhalt => "Sachsen-Anhalt",
            State::SchleswigHolstein => "Schleswig-Holstein",
            State::Thueringen => "Thüringen",
        }
    }
}

impl fmt::Display for State {
    /// The ISO 3166-2 code, as a tenant writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for State {
    type Err = ParseStateError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        State::parse(code)
    }
}

/// A code that names no German state; the message lists the codes that do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?} is not a German state (one of {})", codes())]
pub struct ParseStateError {
    code: String,
}

impl ParseStateError {
    /// The code as it was given.
    pub fn code(&self) -> &str {
        &self.code
    }
}

fn codes() -> String {
    State::ALL.map(State::code).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_its_state() {
        for state in State::ALL {
            assert_eq!(State::parse(state.code()), Ok(state));
            assert_eq!(state.to_string().parse::<State>(), Ok(state));
        }
        assert_eq!(State::parse("de-nw"), Ok(State::NordrheinWestfalen));
    }

    #[test]
    fn an_unknown_code_is_refused_with_the_valid_ones() {
        let err = State::parse("DE-XX").expect_err("no such state");
        assert_eq!(err.code(), "DE-XX");
        assert_eq!(
            err.to_string(),
            "\"DE-XX\" is not a German state (one of DE-BW, DE-BY, DE-BE, DE-BB, DE-HB, \
             DE-HH, DE-HE, DE-MV, DE-NI, DE-NW, DE-RP, DE-SL, DE-SN, DE-ST, DE-SH, DE-TH)"
        );
        // A state's name is not its code: tenants write the code.
        assert!(State::parse("Bayern").is_err());
    }
}
