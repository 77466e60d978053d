//! Public holidays of the German states for any year: the fixed feasts, the movable ones
//! reckoned from Easter, the ones a state added in a given year, and the one-off days its
//! parliament declared. Owns the law as it stands; knows nothing of opening hours.
//!
//! The rules are those in force since reunification, with the years each change took
//! effect: Buß- und Bettag everywhere until 1994 and only in Sachsen since 1995;
//! Reformationstag everywhere in 2017 and in Bremen, Hamburg, Niedersachsen and
//! Schleswig-Holstein since 2018; Frauentag in Berlin since 2019 and in
//! Mecklenburg-Vorpommern since 2023; Weltkindertag in Thüringen since 2019. Years before
//! 1991 are reckoned by the same rules, since a calendar only ever asks about the present
//! and the years ahead. A law passed after this crate was written needs a new entry here.
//!
//! Some holidays hold in part of a state only; they are [`LocalHoliday`]s, which a tenant
//! there adds to its state's list (see [`PublicHolidays::with_local`]).

use std::fmt;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use crate::state::State;

/// A public holiday: its date and its German name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Holiday {
    /// The day, in the tenant's local calendar.
    pub date: NaiveDate,
    /// The German name, e.g. `"Karfreitag"`.
    pub label: &'static str,
}

/// The public holidays of `state` in `year` that hold in the whole state, by date. Holidays
/// on a Sunday are listed too: Brandenburg's Easter Sunday is one, and a Sunday holiday still
/// closes a line that is open on Sundays.
pub fn holidays(state: State, year: i32) -> Vec<Holiday> {
    PublicHolidays::new(state).in_year(year)
}

/// The public holiday of `state` on `date`, if there is one. When two fall on the same day
/// (Christi Himmelfahrt on 1 May 2008), the one [`holidays`] lists first.
pub fn holiday(state: State, date: NaiveDate) -> Option<Holiday> {
    PublicHolidays::new(state).on(date)
}

/// Easter Sunday of `year` in the Gregorian calendar, by the anonymous Gregorian computus
/// (Meeus/Jones/Butcher); `None` only for years outside chrono's range.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    // The algorithm's divisions assume non-negative years; the Gregorian cycle of 5,700,000
    // years brings any year chrono can hold into that range without changing the date.
    let y = i64::from(year).rem_euclid(5_700_000);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// A holiday that the law keeps in part of a state only, so that no state-wide list can
/// hold it; a tenant there names it in its calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LocalHoliday {
    /// Mariä Himmelfahrt (15 August) in Bayern's municipalities with a mainly Catholic
    /// population (Art. 1 Abs. 1 Nr. 2 BayFTG; the state statistics office lists them).
    Assumption,
    /// Augsburger Hohes Friedensfest (8 August) in the city of Augsburg (Art. 1 Abs. 2
    /// BayFTG).
    AugsburgPeaceFestival,
    /// Fronleichnam in the Catholic municipalities of the Sorbian area in Sachsen that the
    /// state's ordinance names (§ 1 Abs. 2 SächsSFG), and in Thüringen's mainly Catholic
    /// municipalities, most in the Eichsfeld (§ 2 Abs. 2 ThürFtG).
    CorpusChristi,
}

impl LocalHoliday {
    /// The German name, as a tenant writes it in `holidays.local`.
    pub fn label(self) -> &'static str {
        self.feast().label()
    }

    /// The local holidays the law provides in `state` (empty for most states).
    pub fn of(state: State) -> &'static [LocalHoliday] {
        match state {
            State::Bayern => &[
                LocalHoliday::Assumption,
                LocalHoliday::AugsburgPeaceFestival,
            ],
            State::Sachsen | State::Thueringen => &[LocalHoliday::CorpusChristi],
            _ => &[],
        }
    }

    /// The local holiday of `state` called `label` (its German name, e.g.
    /// `"Mariä Himmelfahrt"`).
    pub fn parse(state: State, label: &str) -> Result<LocalHoliday, LocalHolidayError> {
        LocalHoliday::of(state)
            .iter()
            .copied()
            .find(|local| local.label() == label)
            .ok_or_else(|| LocalHolidayError {
                state,
                label: label.to_owned(),
            })
    }

    fn feast(self) -> Feast {
        match self {
            LocalHoliday::Assumption => Feast::Assumption,
            LocalHoliday::AugsburgPeaceFestival => Feast::AugsburgPeaceFestival,
            LocalHoliday::CorpusChristi => Feast::CorpusChristi,
        }
    }
}

/// A name that is no local holiday of the state; the message lists the ones that are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{label:?} is not a local public holiday in {state} ({})", LocalList(*state))]
pub struct LocalHolidayError {
    state: State,
    label: String,
}

struct LocalList(State);

impl fmt::Display for LocalList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let locals = LocalHoliday::of(self.0);
        if locals.is_empty() {
            return f.write_str("it has none");
        }
        f.write_str("one of ")?;
        for (i, local) in locals.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{:?}", local.label())?;
        }
        Ok(())
    }
}

/// The public holidays a tenant keeps: its state's, plus the local ones of its municipality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicHolidays {
    state: State,
    local: Vec<LocalHoliday>,
}

impl PublicHolidays {
    /// The holidays that hold in the whole of `state`.
    pub fn new(state: State) -> Self {
        PublicHolidays {
            state,
            local: Vec::new(),
        }
    }

    /// Adds a local holiday; refused unless the law provides it in this state.
    pub fn with_local(mut self, local: LocalHoliday) -> Result<Self, LocalHolidayError> {
        if !LocalHoliday::of(self.state).contains(&local) {
            return Err(LocalHolidayError {
                state: self.state,
                label: local.label().to_owned(),
            });
        }
        if !self.local.contains(&local) {
            self.local.push(local);
            self.local.sort();
        }
        Ok(self)
    }

    /// The state whose law applies.
    pub fn state(&self) -> State {
        self.state
    }

    /// The local holidays added to the state's.
    pub fn local(&self) -> &[LocalHoliday] {
        &self.local
    }

    /// The holidays in `year`, by date.
    pub fn in_year(&self, year: i32) -> Vec<Holiday> {
        let mut list: Vec<Holiday> = self.in_law_order(year).collect();
        // Stable: two holidays on one date keep the order of the law's list.
        list.sort_by_key(|holiday| holiday.date);
        list
    }

    /// The holiday on `date`, if there is one (the first, should two coincide).
    pub fn on(&self, date: NaiveDate) -> Option<Holiday> {
        // The year's list is sorted stably, so its first holiday on a date is the first in
        // the law's order: no list to build and sort.
        self.in_law_order(date.year())
            .find(|holiday| holiday.date == date)
    }

    /// The holidays in `year` in the order of the law's list (the state's, the local ones,
    /// then the one-off days); none for a year without an Easter date.
    fn in_law_order(&self, year: i32) -> impl Iterator<Item = Holiday> + '_ {
        easter_sunday(year).into_iter().flat_map(move |easter| {
            statewide(self.state, year)
                .into_iter()
                .chain(self.local.iter().map(|local| local.feast()))
                .filter_map(move |feast| {
                    Some(Holiday {
                        date: feast.date(year, easter)?,
                        label: feast.label(),
                    })
                })
                .chain(
                    ONE_OFF
                        .iter()
                        .filter(move |day| day.state == self.state && day.year == year)
                        .filter_map(|day| {
                            Some(Holiday {
                                date: NaiveDate::from_ymd_opt(day.year, day.month, day.day)?,
                                label: day.label,
                            })
                        }),
                )
        })
    }
}

/// A recurring holiday, named in English in the code and in German for the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feast {
    NewYear,
    Epiphany,
    WomensDay,
    GoodFriday,
    EasterSunday,
    EasterMonday,
    LabourDay,
    Ascension,
    WhitSunday,
    WhitMonday,
    CorpusChristi,
    AugsburgPeaceFestival,
    Assumption,
    ChildrensDay,
    GermanUnity,
    Reformation,
    AllSaints,
    RepentanceAndPrayer,
    Christmas,
    SecondChristmas,
}

impl Feast {
    /// The names follow the reference the tests compare with (see tests/reference.rs), so
    /// that both the dates and the names are checked; they are the names in common use.
    fn label(self) -> &'static str {
        match self {
            Feast::NewYear => "Neujahr",
            Feast::Epiphany => "Heilige Drei Könige",
            Feast::WomensDay => "Frauentag",
            Feast::GoodFriday => "Karfreitag",
            Feast::EasterSunday => "Ostersonntag",
            Feast::EasterMonday => "Ostermontag",
            Feast::LabourDay => "Erster Mai",
            Feast::Ascension => "Christi Himmelfahrt",
            Feast::WhitSunday => "Pfingstsonntag",
            Feast::WhitMonday => "Pfingstmontag",
            Feast::CorpusChristi => "Fronleichnam",
            Feast::AugsburgPeaceFestival => "Augsburger Hohes Friedensfest",
            Feast::Assumption => "Mariä Himmelfahrt",
            Feast::ChildrensDay => "Weltkindertag",
            Feast::GermanUnity => "Tag der Deutschen Einheit",
            Feast::Reformation => "Reformationstag",
            Feast::AllSaints => "Allerheiligen",
            Feast::RepentanceAndPrayer => "Buß- und Bettag",
            Feast::Christmas => "Erster Weihnachtstag",
            Feast::SecondChristmas => "Zweiter Weihnachtstag",
        }
    }

    fn date(self, year: i32, easter: NaiveDate) -> Option<NaiveDate> {
        let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day);
        let from_easter = |days: i64| easter.checked_add_signed(chrono::TimeDelta::days(days));
        match self {
            Feast::NewYear => fixed(1, 1),
            Feast::Epiphany => fixed(1, 6),
            Feast::WomensDay => fixed(3, 8),
            Feast::GoodFriday => from_easter(-2),
            Feast::EasterSunday => Some(easter),
            Feast::EasterMonday => from_easter(1),
            Feast::LabourDay => fixed(5, 1),
            Feast::Ascension => from_easter(39),
            Feast::WhitSunday => from_easter(49),
            Feast::WhitMonday => from_easter(50),
            Feast::CorpusChristi => from_easter(60),
            Feast::AugsburgPeaceFestival => fixed(8, 8),
            Feast::Assumption => fixed(8, 15),
            Feast::ChildrensDay => fixed(9, 20),
            Feast::GermanUnity => fixed(10, 3),
            Feast::Reformation => fixed(10, 31),
            Feast::AllSaints => fixed(11, 1),
            // The Wednesday before 23 November, the last Sunday of the church year but one.
            Feast::RepentanceAndPrayer => {
                let nov22 = fixed(11, 22)?;
                let back = (nov22.weekday().num_days_from_monday() + 7
                    - Weekday::Wed.num_days_from_monday())
                    % 7;
                nov22.checked_sub_days(Days::new(u64::from(back)))
            }
            Feast::Christmas => fixed(12, 25),
            Feast::SecondChristmas => fixed(12, 26),
        }
    }
}

/// The recurring holidays of the whole of `state` in `year`, in the order of the year.
fn statewide(state: State, year: i32) -> Vec<Feast> {
    use State::*;
    let mut feasts = vec![Feast::NewYear];
    if matches!(state, BadenWuerttemberg | Bayern | SachsenAnhalt) {
        feasts.push(Feast::Epiphany);
    }
    if (state == Berlin && year >= 2019) || (state == MecklenburgVorpommern && year >= 2023) {
        feasts.push(Feast::WomensDay);
    }
    feasts.push(Feast::GoodFriday);
    if state == Brandenburg {
        feasts.push(Feast::EasterSunday);
    }
    feasts.extend([Feast::EasterMonday, Feast::LabourDay, Feast::Ascension]);
    if state == Brandenburg {
        feasts.push(Feast::WhitSunday);
    }
    feasts.push(Feast::WhitMonday);
    if matches!(
        state,
        BadenWuerttemberg | Bayern | Hessen | NordrheinWestfalen | RheinlandPfalz | Saarland
    ) {
        feasts.push(Feast::CorpusChristi);
    }
    if state == Saarland {
        feasts.push(Feast::Assumption);
    }
    if state == Thueringen && year >= 2019 {
        feasts.push(Feast::ChildrensDay);
    }
    feasts.push(Feast::GermanUnity);
    let reformation = match state {
        Brandenburg | MecklenburgVorpommern | Sachsen | SachsenAnhalt | Thueringen => true,
        Bremen | Hamburg | Niedersachsen | SchleswigHolstein => year >= 2018,
        _ => false,
    };
    // The 500th anniversary of the Reformation was a holiday in every state.
    if reformation || year == 2017 {
        feasts.push(Feast::Reformation);
    }
    if matches!(
        state,
        BadenWuerttemberg | Bayern | NordrheinWestfalen | RheinlandPfalz | Saarland
    ) {
        feasts.push(Feast::AllSaints);
    }
    // Abolished in 1995 to fund the long-term care insurance; Sachsen kept it (and its
    // employees pay a larger share of that insurance instead).
    if state == Sachsen || year <= 1994 {
        feasts.push(Feast::RepentanceAndPrayer);
    }
    feasts.extend([Feast::Christmas, Feast::SecondChristmas]);
    feasts
}

/// A holiday a state's parliament declared for one year only.
struct OneOff {
    state: State,
    year: i32,
    month: u32,
    day: u32,
    label: &'static str,
}

/// Berlin's Feiertagsgesetz (§ 1, amended for each of these days, most recently by the law
/// in GVBl. 2024 p. 460).
const ONE_OFF: &[OneOff] = &[
    OneOff {
        state: State::Berlin,
        year: 2020,
        month: 5,
        day: 8,
        label: "75. Jahrestag der Befreiung vom Nationalsozialismus und der Beendigung des Zweiten Weltkriegs in Europa",
    },
    OneOff {
        state: State::Berlin,
        year: 2025,
        month: 5,
        day: 8,
        label: "80. Jahrestag der Befreiung vom Nationalsozialismus und der Beendigung des Zweiten Weltkriegs in Europa",
    },
    OneOff {
        state: State::Berlin,
        year: 2028,
        month: 6,
        day: 17,
        label: "75. Jahrestag des Aufstandes vom 17. Juni 1953",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
    }

    #[test]
    fn easter_falls_on_the_known_dates() {
        for (year, expected) in [
            (1818, "1818-03-22"), // the earliest possible
            // The two years in which Gauss's formula needs its exceptions.
            (1954, "1954-04-18"),
            (1981, "1981-04-19"),
            (2000, "2000-04-23"),
            (2008, "2008-03-23"),
            (2011, "2011-04-24"),
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2028, "2028-04-16"),
            (2038, "2038-04-25"), // the latest possible
            (2049, "2049-04-18"),
            (2285, "2285-03-22"),
        ] {
            assert_eq!(easter_sunday(year), Some(date(expected)), "{year}");
        }
    }

    #[test]
    fn repentance_day_is_the_wednesday_before_the_23rd_of_november() {
        for (year, expected) in [
            (2024, "2024-11-20"),
            (2025, "2025-11-19"),
            (2026, "2026-11-18"),
            // 22 November itself is a Wednesday.
            (2028, "2028-11-22"),
            (2029, "2029-11-21"),
        ] {
            assert_eq!(
                holiday(State::Sachsen, date(expected)).map(|h| h.label),
                Some("Buß- und Bettag"),
                "{year}"
            );
        }
    }

    /// Every state's list for 2026, written out by hand from the state laws.
    /// Easter is on 5 April 2026; Buß- und Bettag on 18 November.
    #[test]
    fn every_state_keeps_its_own_holidays_in_2026() {
        let nationwide = [
            ("01-01", "Neujahr"),
            ("04-03", "Karfreitag"),
            ("04-06", "Ostermontag"),
            ("05-01", "Erster Mai"),
            ("05-14", "Christi Himmelfahrt"),
            ("05-25", "Pfingstmontag"),
            ("10-03", "Tag der Deutschen Einheit"),
            ("12-25", "Erster Weihnachtstag"),
            ("12-26", "Zweiter Weihnachtstag"),
        ];
        let epiphany = ("01-06", "Heilige Drei Könige");
        let womens_day = ("03-08", "Frauentag");
        let corpus_christi = ("06-04", "Fronleichnam");
        let reformation = ("10-31", "Reformationstag");
        let all_saints = ("11-01", "Allerheiligen");
        let own: [(State, Vec<(&str, &str)>); 16] = [
            (
                State::BadenWuerttemberg,
                vec![epiphany, corpus_christi, all_saints],
            ),
            (State::Bayern, vec![epiphany, corpus_christi, all_saints]),
            (State::Berlin, vec![womens_day]),
            (
                State::Brandenburg,
                vec![
                    ("04-05", "Ostersonntag"),
                    ("05-24", "Pfingstsonntag"),
                    reformation,
                ],
            ),
            (State::Bremen, vec![reformation]),
            (State::Hamburg, vec![reformation]),
            (State::Hessen, vec![corpus_christi]),
            (State::MecklenburgVorpommern, vec![womens_day, reformation]),
            (State::Niedersachsen, vec![reformation]),
            (State::NordrheinWestfalen, vec![corpus_christi, all_saints]),
            (State::RheinlandPfalz, vec![corpus_christi, all_saints]),
            (
                State::Saarland,
                vec![corpus_christi, ("08-15", "Mariä Himmelfahrt"), all_saints],
            ),
            (
                State::Sachsen,
                vec![reformation, ("11-18", "Buß- und Bettag")],
            ),
            (State::SachsenAnhalt, vec![epiphany, reformation]),
            (State::SchleswigHolstein, vec![reformation]),
            (
                State::Thueringen,
                vec![("09-20", "Weltkindertag"), reformation],
            ),
        ];
        for (state, extra) in own {
            let mut expected: Vec<Holiday> = nationwide
                .iter()
                .chain(&extra)
                .map(|(day, label)| Holiday {
                    date: date(&format!("2026-{day}")),
                    label,
                })
                .collect();
            expected.sort();
            assert_eq!(holidays(state, 2026), expected, "{state}");
        }
    }

    #[test]
    fn holidays_hold_from_the_year_their_law_took_effect() {
        let has = |state, day: &str| holiday(state, date(day)).is_some();
        assert!(!has(State::Berlin, "2018-03-08"));
        assert!(has(State::Berlin, "2019-03-08"));
        assert!(!has(State::MecklenburgVorpommern, "2022-03-08"));
        assert!(has(State::MecklenburgVorpommern, "2023-03-08"));
        assert!(!has(State::Thueringen, "2018-09-20"));
        assert!(has(State::Thueringen, "2019-09-20"));
        assert!(!has(State::Hamburg, "2016-10-31"));
        assert!(has(State::Hamburg, "2018-10-31"));
        // 2017 in every state, once.
        for state in State::ALL {
            let list = holidays(state, 2017);
            let reformation = list.iter().filter(|h| h.label == "Reformationstag");
            assert_eq!(reformation.count(), 1, "{state}");
        }
        assert!(!has(State::Bayern, "2018-10-31"));
        assert!(has(State::Bayern, "1994-11-16"));
        assert!(!has(State::Bayern, "1995-11-22"));
    }

    #[test]
    fn one_off_days_hold_in_their_year_only() {
        let berlin = |day: &str| holiday(State::Berlin, date(day)).map(|h| h.label);
        assert!(berlin("2025-05-08").is_some_and(|l| l.starts_with("80. Jahrestag")));
        assert!(berlin("2020-05-08").is_some_and(|l| l.starts_with("75. Jahrestag")));
        assert_eq!(berlin("2026-05-08"), None);
        assert!(berlin("2028-06-17").is_some());
        assert_eq!(berlin("2029-06-17"), None);
        assert_eq!(holiday(State::Brandenburg, date("2025-05-08")), None);
    }

    /// Bavaria's holidays with Augsburg's two local ones.
    fn augsburg() -> PublicHolidays {
        PublicHolidays::new(State::Bayern)
            .with_local(LocalHoliday::AugsburgPeaceFestival)
            .and_then(|h| h.with_local(LocalHoliday::Assumption))
            .expect("both are Bavarian")
    }

    #[test]
    fn local_holidays_are_added_only_where_the_law_provides_them() {
        let augsburg = augsburg();
        assert_eq!(
            augsburg.on(date("2026-08-08")).map(|h| h.label),
            Some("Augsburger Hohes Friedensfest")
        );
        assert_eq!(
            augsburg.on(date("2026-08-15")).map(|h| h.label),
            Some("Mariä Himmelfahrt")
        );
        assert_eq!(holiday(State::Bayern, date("2026-08-15")), None);

        let err = PublicHolidays::new(State::Bayern)
            .with_local(LocalHoliday::CorpusChristi)
            .expect_err("state-wide in Bayern already");
        assert_eq!(
            err.to_string(),
            "\"Fronleichnam\" is not a local public holiday in DE-BY \
             (one of \"Mariä Himmelfahrt\", \"Augsburger Hohes Friedensfest\")"
        );
        assert_eq!(
            LocalHoliday::parse(State::Thueringen, "Fronleichnam"),
            Ok(LocalHoliday::CorpusChristi)
        );
        let err = LocalHoliday::parse(State::Berlin, "Fronleichnam").expect_err("none");
        assert_eq!(
            err.to_string(),
            "\"Fronleichnam\" is not a local public holiday in DE-BE (it has none)"
        );
    }

    #[test]
    fn the_holiday_on_a_date_is_the_first_the_years_list_has_on_it() {
        let calendars = State::ALL
            .into_iter()
            .map(PublicHolidays::new)
            .chain([augsburg()]);
        let mut found = 0;
        for holidays in calendars {
            for year in 2000..=2030 {
                let list = holidays.in_year(year);
                let mut day = NaiveDate::from_ymd_opt(year, 1, 1).expect("a date");
                while day.year() == year {
                    let first = list.iter().find(|h| h.date == day).cloned();
                    found += usize::from(first.is_some());
                    assert_eq!(holidays.on(day), first, "{:?} {day}", holidays.state());
                    day = day.succ_opt().expect("a next day");
                }
            }
        }
        assert!(found > 16 * 31 * 9, "only {found} holidays seen");
    }

    #[test]
    fn coinciding_holidays_are_both_listed() {
        // Easter on 23 March 2008 put Christi Himmelfahrt on 1 May.
        let list = holidays(State::Berlin, 2008);
        let may_day: Vec<_> = list
            .iter()
            .filter(|h| h.date == date("2008-05-01"))
            .map(|h| h.label)
            .collect();
        assert_eq!(may_day, ["Erster Mai", "Christi Himmelfahrt"]);
        assert_eq!(
            holiday(State::Berlin, date("2008-05-01")).map(|h| h.label),
            Some("Erster Mai")
        );
    }
}
