//! Staffing by Erlang C (CONTRACT §5): how many agents a queue needs so that a share of
//! its calls is answered within a threshold, and how many to schedule once shrinkage
//! (breaks, training, absence) is allowed for.
//!
//! Owns the queueing arithmetic only: traffic, the probability of waiting, the service
//! level it implies and the least number of agents that meets a goal. It knows neither
//! events, bundles nor reports; `sla` feeds it an interval's counts and the
//! `leitstand staffing` command feeds it what an operator types.

use serde::Serialize;

/// The largest traffic, in Erlangs, [`recommend`] staffs. A million agents busy at once
/// is beyond any contact center; larger figures are typing errors.
pub const MAX_TRAFFIC_ERLANGS: f64 = 1_000_000.0;

/// The calls to staff for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Calls offered in the interval.
    pub calls: f64,
    /// The interval's length, seconds.
    pub interval_seconds: f64,
    /// Average handling time per call, seconds.
    pub aht_seconds: f64,
}

impl Load {
    /// The offered traffic A in Erlangs: calls × AHT / interval (agents busy on average).
    pub fn traffic_erlangs(&self) -> f64 {
        self.calls * self.aht_seconds / self.interval_seconds
    }
}

/// What the staffing must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Goal {
    /// The share of calls to answer within `within_seconds`, a fraction (0.8 for 80 %).
    pub level: f64,
    /// The threshold, seconds (20 in "80/20").
    pub within_seconds: f64,
    /// The highest share of time agents may be busy (A / agents), a fraction in (0, 1];
    /// `None` for no limit.
    pub max_occupancy: Option<f64>,
}

/// The least staffing that meets a [`Goal`], before shrinkage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Recommendation {
    /// Agents taking calls at the same time.
    pub agents: u32,
    /// The service level they reach: the share answered within the threshold.
    pub service_level: f64,
    /// The share of their time they are busy (traffic / agents).
    pub occupancy: f64,
}

/// The least number of agents, more than the traffic, that meets `goal` for `load`.
///
/// A goal level above 1 is read as 1 (reached once the probability of waiting rounds to
/// 0). `None` when there is no traffic to staff (calls == 0 or aht == 0 or interval <= 0),
/// when an input is not a finite number, or when the traffic exceeds
/// [`MAX_TRAFFIC_ERLANGS`].
pub fn recommend(load: &Load, goal: &Goal) -> Option<Recommendation> {
    let inputs = [load.calls, load.interval_seconds, load.aht_seconds];
    if inputs.iter().any(|v| !v.is_finite())
        || load.calls <= 0.0
        || load.aht_seconds <= 0.0
        || load.interval_seconds <= 0.0
    {
        return None;
    }
    let a = load.traffic_erlangs();
    if !(a > 0.0 && a <= MAX_TRAFFIC_ERLANGS) {
        return None;
    }
    let level = if goal.level.is_nan() {
        1.0
    } else {
        goal.level.min(1.0)
    };
    let within = goal.within_seconds.max(0.0);
    // A cap at or below 0 (or NaN) cannot be met by any staffing; it is read as no cap
    // rather than looping: callers validate it.
    let max_occupancy = goal.max_occupancy.filter(|m| *m > 0.0);

    // Erlang B by its recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)): every term is
    // in [0, 1], so neither factorials nor powers of A overflow.
    let mut b = 1.0_f64;
    let mut c: u32 = 0;
    loop {
        c = c.checked_add(1)?;
        let k = f64::from(c);
        b = a * b / (k + a * b);
        if k <= a {
            continue;
        }
        if max_occupancy.is_some_and(|m| a / k > m) {
            continue;
        }
        let sl = level_from_erlang_b(a, c, b, within, load.aht_seconds);
        if sl >= level || b == 0.0 {
            return Some(Recommendation {
                agents: c,
                service_level: sl,
                occupancy: a / k,
            });
        }
    }
}

/// The agents to schedule so that `agents` are on the phones: ⌈agents / (1 − shrinkage)⌉.
///
/// `shrinkage` is the share of paid time agents are not available for calls, in [0, 1).
/// A negative or NaN shrinkage is read as 0; a shrinkage of 1 or more gives `u32::MAX`
/// (no finite roster suffices).
pub fn scheduled(agents: u32, shrinkage: f64) -> u32 {
    if shrinkage.is_nan() || shrinkage <= 0.0 {
        return agents;
    }
    if shrinkage >= 1.0 {
        return u32::MAX;
    }
    let exact = f64::from(agents) / (1.0 - shrinkage);
    // 14 / (1 − 0.3) is 20.000000000000004 in binary floating point: a hair above a
    // whole number is that number, not the next.
    let rounded = (exact - 1e-9).ceil().max(f64::from(agents));
    if rounded >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        rounded as u32
    }
}

/// The service level `agents` reach on `traffic_erlangs`: the share of calls answered
/// within `within_seconds`, SL = 1 − Pw · e^(−(c − A) · t / AHT) with Pw the Erlang C
/// probability of waiting. 0 when `agents` <= traffic (the queue grows without bound).
pub fn service_level(
    traffic_erlangs: f64,
    agents: u32,
    within_seconds: f64,
    aht_seconds: f64,
) -> f64 {
    let a = traffic_erlangs;
    if a.is_nan() || f64::from(agents) <= a {
        return 0.0;
    }
    if a <= 0.0 {
        return 1.0;
    }
    level_from_erlang_b(a, agents, erlang_b(a, agents), within_seconds, aht_seconds)
}

/// The Erlang C probability that a call waits, with `traffic_erlangs` on `agents`;
/// 1 when `agents` <= traffic.
pub fn probability_of_wait(traffic_erlangs: f64, agents: u32) -> f64 {
    let a = traffic_erlangs;
    if a.is_nan() || f64::from(agents) <= a {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    erlang_c_from_b(a, agents, erlang_b(a, agents))
}

/// A staffing question and its answer, as `leitstand staffing` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Plan {
    /// Calls offered in the interval.
    #[serde(serialize_with = "whole_when_integral")]
    pub calls: f64,
    /// The interval's length, seconds.
    #[serde(serialize_with = "whole_when_integral")]
    pub interval_seconds: f64,
    /// Average handling time, seconds.
    #[serde(serialize_with = "whole_when_integral")]
    pub aht_seconds: f64,
    /// The service level to reach, a fraction.
    pub target_level: f64,
    /// Its threshold, seconds.
    #[serde(serialize_with = "whole_when_integral")]
    pub target_seconds: f64,
    /// The occupancy cap, when one is set.
    pub max_occupancy: Option<f64>,
    /// The shrinkage allowed for, a fraction.
    pub shrinkage: f64,
    /// The offered traffic A, Erlangs.
    pub traffic_erlangs: f64,
    /// Agents on the phones, before shrinkage.
    pub agents_required: u32,
    /// The service level they reach.
    pub service_level: f64,
    /// Their occupancy.
    pub occupancy: f64,
    /// Agents to schedule after shrinkage.
    pub agents_scheduled: u32,
}

impl Plan {
    /// Answers `load` and `goal` with `shrinkage`; `None` as [`recommend`].
    pub fn new(load: &Load, goal: &Goal, shrinkage: f64) -> Option<Self> {
        let r = recommend(load, goal)?;
        Some(Self {
            calls: load.calls,
            interval_seconds: load.interval_seconds,
            aht_seconds: load.aht_seconds,
            target_level: goal.level,
            target_seconds: goal.within_seconds,
            max_occupancy: goal.max_occupancy,
            shrinkage,
            traffic_erlangs: load.traffic_erlangs(),
            agents_required: r.agents,
            service_level: r.service_level,
            occupancy: r.occupancy,
            agents_scheduled: scheduled(r.agents, shrinkage),
        })
    }
}

/// Writes 5000 rather than 5000.0 for the figures operators type as whole numbers.
fn whole_when_integral<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// A number without needless decimals: `5000`, `0.85`, `111.11`.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// A length of time the way it was probably typed: `3 h`, `30 min`, `90 s`.
fn span(seconds: f64) -> String {
    if seconds >= 3600.0 && seconds % 3600.0 == 0.0 {
        format!("{} h", num(seconds / 3600.0))
    } else if seconds >= 60.0 && seconds % 60.0 == 0.0 {
        format!("{} min", num(seconds / 60.0))
    } else {
        format!("{} s", num(seconds))
    }
}

impl std::fmt::Display for Plan {
    /// A readable answer, one figure per line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |v: f64| format!("{} %", num(v * 100.0));
        writeln!(
            f,
            "load              {} calls in {}, AHT {} s",
            num(self.calls),
            span(self.interval_seconds),
            num(self.aht_seconds)
        )?;
        writeln!(
            f,
            "target            {} answered within {}{}",
            pct(self.target_level),
            span(self.target_seconds),
            self.max_occupancy
                .map(|m| format!(", occupancy at most {}", pct(m)))
                .unwrap_or_default()
        )?;
        writeln!(f, "traffic           {:.2} Erlangs", self.traffic_erlangs)?;
        writeln!(
            f,
            "agents required   {} (on the phones at once, before shrinkage)",
            self.agents_required
        )?;
        writeln!(
            f,
            "service level     {:.1} % answered within {}",
            self.service_level * 100.0,
            span(self.target_seconds)
        )?;
        writeln!(f, "occupancy         {:.1} %", self.occupancy * 100.0)?;
        writeln!(
            f,
            "agents scheduled  {} (with {} shrinkage)",
            self.agents_scheduled,
            pct(self.shrinkage)
        )
    }
}

/// Reads a duration as operators type it: `30m`, `3h`, `1800s` or `180` (seconds); also
/// `min`, `sec` and fractions (`1.5h`). Must be more than zero.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} (write seconds as `180` or `180s`, minutes as `30m`, hours as `3h`)"
            ));
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. `30m`, `3h`, `1800s`, `180`)"))?;
    let seconds = value * factor;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("{text:?} is not a duration of more than zero"));
    }
    Ok(seconds)
}

/// Reads a share typed as a fraction (`0.85`) or a percentage (`85%`).
fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (t, 1.0),
    };
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !v.is_finite() {
        return Err(format!("{text:?} is not a finite number"));
    }
    Ok(v / scale)
}

/// Reads a maximum occupancy: a fraction in (0, 1] (`0.85`) or a percentage (`85%`).
pub fn parse_max_occupancy(text: &str) -> Result<f64, String> {
    let v = parse_share(text)?;
    if !(v > 0.0 && v <= 1.0) {
        return Err(format!(
            "{text:?} is not an occupancy in (0, 1] (85 % is 0.85)"
        ));
    }
    Ok(v)
}

/// Reads a shrinkage: a fraction in [0, 1) (`0.3`) or a percentage (`30%`).
pub fn parse_shrinkage(text: &str) -> Result<f64, String> {
    let v = parse_share(text)?;
    if !(0.0..1.0).contains(&v) {
        return Err(format!(
            "{text:?} is not a shrinkage in [0, 1) (30 % is 0.3)"
        ));
    }
    Ok(v)
}

/// Reads a number of calls: a finite number more than zero (a forecast may be fractional).
pub fn parse_calls(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{text:?} is not a number of calls"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{text:?} is not a number of calls above zero"));
    }
    Ok(v)
}

/// A service-level target `LEVEL/SECONDS` as operators type it: `80/20`, `0.8/20`,
/// `75%/30s`. A level above 1 is a percentage, up to 1 a fraction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// The share to answer in time, a fraction in (0, 1].
    pub level: f64,
    /// The threshold, seconds.
    pub within_seconds: f64,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((level, within)) = text.split_once('/') else {
            return Err(format!(
                "{text:?} is not LEVEL/SECONDS (e.g. `80/20`: 80 % within 20 s)"
            ));
        };
        let explicit_percent = level.trim().ends_with('%');
        let mut level = parse_share(level).map_err(|e| format!("level: {e}"))?;
        if !explicit_percent && level > 1.0 {
            level /= 100.0;
        }
        if !(level > 0.0 && level <= 1.0) {
            return Err(format!(
                "{text:?}: the level is not in (0, 100] % (write 80 or 0.8 for 80 %)"
            ));
        }
        let within_seconds =
            parse_duration(within).map_err(|e| format!("{text:?}: seconds: {e}"))?;
        Ok(Self {
            level,
            within_seconds,
        })
    }
}

/// Erlang B: the blocking probability of `c` servers offered `a` Erlangs.
fn erlang_b(a: f64, c: u32) -> f64 {
    let mut b = 1.0_f64;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    b
}

/// Erlang C from Erlang B: C = c·B / (c − A·(1 − B)), for c > A.
fn erlang_c_from_b(a: f64, c: u32, b: f64) -> f64 {
    let c = f64::from(c);
    (c * b / (c - a * (1.0 - b))).clamp(0.0, 1.0)
}

fn level_from_erlang_b(a: f64, c: u32, b: f64, within_seconds: f64, aht_seconds: f64) -> f64 {
    let pw = erlang_c_from_b(a, c, b);
    let decay = if within_seconds <= 0.0 {
        1.0
    } else if aht_seconds <= 0.0 {
        0.0
    } else {
        (-(f64::from(c) - a) * within_seconds / aht_seconds).exp()
    };
    (1.0 - pw * decay).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(calls: f64, interval_seconds: f64, aht_seconds: f64) -> Load {
        Load {
            calls,
            interval_seconds,
            aht_seconds,
        }
    }

    fn goal(max_occupancy: Option<f64>) -> Goal {
        Goal {
            level: 0.8,
            within_seconds: 20.0,
            max_occupancy,
        }
    }

    /// The textbook formula with factorials, good for small c.
    fn textbook_pw(a: f64, c: u32) -> f64 {
        let fact = |n: u32| (1..=n).map(f64::from).product::<f64>();
        let c_f = f64::from(c);
        let top = a.powi(c as i32) / fact(c) * c_f / (c_f - a);
        let sum: f64 = (0..c).map(|k| a.powi(k as i32) / fact(k)).sum();
        top / (sum + top)
    }

    /// CONTRACT §5's check: 100 calls in 30 min, AHT 180 s, 80/20, max occupancy 0.85 →
    /// 14 agents (SL 0.888); with shrinkage 0.30 → 20.
    #[test]
    fn the_contract_check() {
        let l = load(100.0, 1800.0, 180.0);
        assert!((l.traffic_erlangs() - 10.0).abs() < 1e-12);
        let r = recommend(&l, &goal(Some(0.85))).expect("traffic");
        assert_eq!(r.agents, 14);
        assert_eq!(format!("{:.3}", r.service_level), "0.888");
        assert!((r.occupancy - 10.0 / 14.0).abs() < 1e-12);
        assert_eq!(
            format!("{:.3}", service_level(10.0, 13, 20.0, 180.0)),
            "0.796"
        );
        assert_eq!(scheduled(r.agents, 0.3), 20);
    }

    #[test]
    fn an_occupancy_cap_can_ask_for_more_than_the_level() {
        let r = recommend(&load(100.0, 1800.0, 180.0), &goal(Some(0.70))).expect("traffic");
        assert_eq!(r.agents, 15, "14 agents would be 71 % busy");
        assert!(r.occupancy <= 0.70);
        assert_eq!(scheduled(r.agents, 0.3), 22);
        // Without a cap the level alone decides.
        let free = recommend(&load(100.0, 1800.0, 180.0), &goal(None)).expect("traffic");
        assert_eq!(free.agents, 14);
    }

    /// Pw for A = 10 Erlangs, c = 11..15, against the textbook formula and the
    /// published table values (rounded to 4 places).
    #[test]
    fn probability_of_wait_matches_the_textbook() {
        let published = [
            (11, 0.6821),
            (12, 0.4494),
            (13, 0.2853),
            (14, 0.1741),
            (15, 0.1020),
        ];
        for (c, table) in published {
            let pw = probability_of_wait(10.0, c);
            assert!((pw - textbook_pw(10.0, c)).abs() < 1e-12, "c = {c}: {pw}");
            assert!((pw - table).abs() < 5e-5, "c = {c}: {pw} vs {table}");
        }
        for (a, c) in [(0.5, 1), (2.0, 3), (7.3, 9), (20.0, 25), (42.0, 50)] {
            let pw = probability_of_wait(a, c);
            assert!((pw - textbook_pw(a, c)).abs() < 1e-10, "A = {a}, c = {c}");
        }
    }

    #[test]
    fn no_traffic_is_nothing_to_staff() {
        let g = goal(None);
        assert_eq!(recommend(&load(0.0, 1800.0, 180.0), &g), None);
        assert_eq!(recommend(&load(100.0, 1800.0, 0.0), &g), None);
        assert_eq!(recommend(&load(100.0, 0.0, 180.0), &g), None);
        assert_eq!(recommend(&load(100.0, -5.0, 180.0), &g), None);
        assert_eq!(recommend(&load(f64::NAN, 1800.0, 180.0), &g), None);
        assert_eq!(
            recommend(&load(1e12, 1.0, 180.0), &g),
            None,
            "beyond the cap"
        );
    }

    #[test]
    fn too_few_agents_answer_nobody_in_time() {
        assert_eq!(service_level(10.0, 10, 20.0, 180.0), 0.0);
        assert_eq!(service_level(10.0, 3, 20.0, 180.0), 0.0);
        assert_eq!(probability_of_wait(10.0, 10), 1.0);
    }

    /// 5,000 calls in 3 h at 240 s: A ≈ 111 Erlangs; and traffic in the thousands.
    #[test]
    fn large_traffic_stays_finite_and_monotone() {
        let press = load(5000.0, 3.0 * 3600.0, 240.0);
        assert!((press.traffic_erlangs() - 111.111).abs() < 1e-3);
        let r = recommend(&press, &goal(Some(0.85))).expect("traffic");
        assert!(r.agents > 111 && r.agents < 140, "{r:?}");
        assert!(r.service_level >= 0.8 && r.occupancy <= 0.85);
        let a = press.traffic_erlangs();
        let fewer = r.agents - 1;
        assert!(service_level(a, fewer, 20.0, 240.0) < 0.8 || a / f64::from(fewer) > 0.85);

        for a in [111.1_f64, 1_000.0, 5_432.1] {
            let first = a.floor() as u32 + 1;
            let mut last = -1.0;
            for c in first..first + 400 {
                let sl = service_level(a, c, 20.0, 240.0);
                let pw = probability_of_wait(a, c);
                assert!(sl.is_finite() && pw.is_finite(), "A = {a}, c = {c}");
                assert!((0.0..=1.0).contains(&sl) && (0.0..=1.0).contains(&pw));
                assert!(sl >= last, "A = {a}: SL falls from c = {} to {c}", c - 1);
                last = sl;
            }
            let g = Goal {
                level: 0.9,
                within_seconds: 20.0,
                max_occupancy: None,
            };
            let r = recommend(&load(a * 1800.0 / 180.0, 1800.0, 180.0), &g).expect("traffic");
            assert!(r.service_level >= 0.9);
            assert!(service_level(a, r.agents - 1, 20.0, 180.0) < 0.9);
        }
    }

    #[test]
    fn the_recommendation_is_the_least_that_meets_the_goal() {
        for (calls, aht) in [(1.0, 60.0), (12.0, 300.0), (250.0, 200.0), (900.0, 90.0)] {
            let l = load(calls, 1800.0, aht);
            let g = goal(Some(0.85));
            let r = recommend(&l, &g).expect("traffic");
            let a = l.traffic_erlangs();
            assert!(r.service_level >= 0.8 && a / f64::from(r.agents) <= 0.85);
            let fewer = r.agents - 1;
            let fewer_ok = f64::from(fewer) > a
                && service_level(a, fewer, 20.0, aht) >= 0.8
                && a / f64::from(fewer) <= 0.85;
            assert!(!fewer_ok, "{calls} calls, AHT {aht}: {fewer} would do");
        }
    }

    #[test]
    fn a_goal_of_everyone_at_once_still_ends() {
        let g = Goal {
            level: 1.0,
            within_seconds: 0.0,
            max_occupancy: None,
        };
        let r = recommend(&load(100.0, 1800.0, 180.0), &g).expect("traffic");
        assert_eq!(r.service_level, 1.0);
    }

    #[test]
    fn durations_and_targets_read_as_typed() {
        assert_eq!(parse_duration("30m"), Ok(1800.0));
        assert_eq!(parse_duration("3h"), Ok(10_800.0));
        assert_eq!(parse_duration("1800s"), Ok(1800.0));
        assert_eq!(parse_duration("180"), Ok(180.0));
        assert_eq!(parse_duration("1.5h"), Ok(5400.0));
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("").is_err());
        let t = |s: &str| s.parse::<Target>();
        let eighty = Target {
            level: 0.8,
            within_seconds: 20.0,
        };
        assert_eq!(t("80/20"), Ok(eighty));
        assert_eq!(t("0.8/20"), Ok(eighty));
        assert_eq!(t("80%/20s"), Ok(eighty));
        assert_eq!(t("100/10").map(|t| t.level), Ok(1.0));
        for bad in [
            "80",
            "80/",
            "/20",
            "120/20",
            "0/20",
            "80/x",
            "eighty/20",
            "-80/20",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_max_occupancy("0.85"), Ok(0.85));
        assert_eq!(parse_max_occupancy("85%"), Ok(0.85));
        assert!(parse_max_occupancy("85").is_err());
        assert!(parse_max_occupancy("0").is_err());
        assert_eq!(parse_shrinkage("0"), Ok(0.0));
        assert_eq!(parse_shrinkage("30%"), Ok(0.3));
        assert!(parse_shrinkage("1").is_err());
        assert_eq!(parse_calls("5_000"), Ok(5000.0));
        assert!(parse_calls("0").is_err());
        assert!(parse_calls("many").is_err());
    }

    #[test]
    fn a_plan_prints_every_figure() {
        let plan = Plan::new(&load(100.0, 1800.0, 180.0), &goal(Some(0.85)), 0.3).expect("plan");
        let text = plan.to_string();
        for expected in [
            "100 calls in 30 min, AHT 180 s",
            "80 % answered within 20 s, occupancy at most 85 %",
            "traffic           10.00 Erlangs",
            "agents required   14",
            "service level     88.8 %",
            "occupancy         71.4 %",
            "agents scheduled  20 (with 30 % shrinkage)",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
    }

    #[test]
    fn shrinkage_rounds_up_but_not_past_whole_numbers() {
        assert_eq!(scheduled(14, 0.0), 14);
        assert_eq!(scheduled(14, 0.3), 20);
        assert_eq!(scheduled(15, 0.3), 22);
        assert_eq!(scheduled(10, 0.5), 20);
        assert_eq!(scheduled(7, 0.3), 10);
        assert_eq!(scheduled(0, 0.3), 0);
        assert_eq!(scheduled(14, -0.1), 14);
        assert_eq!(scheduled(14, 1.0), u32::MAX);
    }
}
