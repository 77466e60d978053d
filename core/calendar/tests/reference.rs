//! Leitstand's public holidays against an independent source: the Python package
//! `holidays` (version pinned in core/calendar/requirements-test.txt), for every German
//! state and every year from 2024 to 2035, dates and names both.
//!
//! The package runs in the interpreter named by `LEITSTAND_PYTHON`, or else in
//! `target/python-venv/bin/python` of the repository. Without it, or without the pinned
//! package, this test fails and says how to install it: a calendar that closes a public
//! hotline on the wrong day must not pass unchecked.
//!
//! What the package's default lists for Germany's states hold (its default category,
//! `public`, checked below): the holidays of the whole state. Holidays the law keeps in part
//! of a state only are in its `catholic` category — Mariä Himmelfahrt in Bayern (not in
//! Bayern's default list), Fronleichnam in Sachsen and Thüringen — or in its subdivision
//! `Augsburg` (Bayern's list, Mariä Himmelfahrt and the Augsburger Hohes Friedensfest).
//! Leitstand's state lists match the defaults; its [`LocalHoliday`]s are compared with
//! those other lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use leitstand_calendar::{LocalHoliday, PublicHolidays, State};
use serde::Deserialize;

const FIRST_YEAR: i32 = 2024;
const LAST_YEAR: i32 = 2035;

/// A deliberate difference from the reference: a holiday only one side lists, with the
/// provision of law that justifies Leitstand's side.
struct Deliberate {
    list: &'static str,
    date: &'static str,
    label: &'static str,
    /// Whether Leitstand lists it and the reference does not (else the other way round).
    ours: bool,
}

/// There are none: for 2024–2035 the reference agrees with the state laws as Leitstand
/// reads them (including Berlin's one-off days on 8 May 2025 and 17 June 2028, GVBl. Berlin
/// 2024 p. 460). Should a law change or the reference err, the difference goes here with a
/// comment citing the provision, e.g.
/// `Deliberate { list: "BE", date: "2030-05-08", label: "…", ours: true }, // § 1 FeiertG Bln`.
const DELIBERATE: &[Deliberate] = &[];

/// The reference's lists and the holidays Leitstand should give for each.
fn lists() -> Vec<(String, PublicHolidays)> {
    let mut lists: Vec<(String, PublicHolidays)> = State::ALL
        .into_iter()
        .map(|state| {
            let subdiv = state.code().trim_start_matches("DE-").to_owned();
            (subdiv, PublicHolidays::new(state))
        })
        .collect();
    let local = |state: State, locals: &[LocalHoliday]| {
        locals
            .iter()
            .try_fold(PublicHolidays::new(state), |h, l| h.with_local(*l))
            .expect("local holidays of their state")
    };
    lists.extend([
        (
            "BY:public,catholic".to_owned(),
            local(State::Bayern, &[LocalHoliday::Assumption]),
        ),
        (
            "SN:public,catholic".to_owned(),
            local(State::Sachsen, &[LocalHoliday::CorpusChristi]),
        ),
        (
            "TH:public,catholic".to_owned(),
            local(State::Thueringen, &[LocalHoliday::CorpusChristi]),
        ),
        (
            "Augsburg".to_owned(),
            local(
                State::Bayern,
                &[
                    LocalHoliday::Assumption,
                    LocalHoliday::AugsburgPeaceFestival,
                ],
            ),
        ),
    ]);
    lists
}

#[derive(Deserialize)]
struct Reference {
    version: String,
    lists: BTreeMap<String, List>,
}

#[derive(Deserialize)]
struct List {
    categories: Vec<String>,
    years: BTreeMap<String, Vec<(String, String)>>,
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn install_hint() -> String {
    format!(
        "the reference test needs Python with the package pinned in \
         core/calendar/requirements-test.txt ({}). From the repository root:\n\
         \x20   python3 -m venv target/python-venv\n\
         \x20   target/python-venv/bin/pip install -r core/calendar/requirements-test.txt\n\
         or install it into another interpreter with \
         `pip install -r core/calendar/requirements-test.txt` and name that interpreter in \
         LEITSTAND_PYTHON",
        pinned_requirement()
    )
}

/// `holidays==X` from requirements-test.txt.
fn pinned_requirement() -> String {
    let path = crate_dir().join("requirements-test.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    text.lines()
        .map(str::trim)
        .find(|line| line.starts_with("holidays=="))
        .unwrap_or_else(|| panic!("{} pins no holidays==<version>", path.display()))
        .to_owned()
}

fn python() -> PathBuf {
    if let Some(named) = std::env::var_os("LEITSTAND_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(named);
    }
    let venv = crate_dir().join("../../target/python-venv/bin/python");
    if !venv.exists() {
        panic!(
            "LEITSTAND_PYTHON is not set and {} does not exist; {}",
            venv.display(),
            install_hint()
        );
    }
    venv
}

fn reference(python: &Path, specs: &[String]) -> Reference {
    let script = crate_dir().join("tests/reference.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(FIRST_YEAR.to_string())
        .arg(LAST_YEAR.to_string())
        .args(specs)
        .output()
        .unwrap_or_else(|err| panic!("running {}: {err}; {}", python.display(), install_hint()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => {}
        Some(3) => panic!("{}: {stderr}{}", python.display(), install_hint()),
        _ => panic!(
            "{} {} failed ({}): {stderr}",
            python.display(),
            script.display(),
            output.status
        ),
    }
    let reference: Reference =
        serde_json::from_slice(&output.stdout).expect("reference.py prints its JSON");
    let pinned = pinned_requirement();
    assert_eq!(
        format!("holidays=={}", reference.version),
        pinned,
        "{} has another version of `holidays` than the pinned one; {}",
        python.display(),
        install_hint()
    );
    reference
}

#[test]
fn public_holidays_agree_with_the_reference() {
    let lists = lists();
    let specs: Vec<String> = lists.iter().map(|(spec, _)| spec.clone()).collect();
    let reference = reference(&python(), &specs);

    let mut differences = Vec::new();
    for (spec, holidays) in &lists {
        let list = reference
            .lists
            .get(spec)
            .unwrap_or_else(|| panic!("the reference printed no list {spec}"));
        // Without categories asked for, the package's default applies: `public` only.
        if !spec.contains(':') {
            assert_eq!(list.categories, ["public"], "default categories of {spec}");
        }
        for year in FIRST_YEAR..=LAST_YEAR {
            let mut ours: Vec<(String, String)> = holidays
                .in_year(year)
                .into_iter()
                .map(|h| (h.date.to_string(), h.label.to_owned()))
                .collect();
            let mut theirs = list
                .years
                .get(&year.to_string())
                .cloned()
                .unwrap_or_default();
            for deliberate in DELIBERATE.iter().filter(|d| d.list == spec) {
                let entry = (deliberate.date.to_owned(), deliberate.label.to_owned());
                let side = if deliberate.ours {
                    &mut ours
                } else {
                    &mut theirs
                };
                if let Some(at) = side.iter().position(|e| *e == entry) {
                    side.remove(at);
                } else if entry.0.starts_with(&year.to_string()) {
                    differences.push(format!(
                        "{spec}: the deliberate difference {} {} is gone",
                        entry.0, entry.1
                    ));
                }
            }
            ours.sort();
            theirs.sort();
            for entry in ours.iter().filter(|e| !theirs.contains(e)) {
                differences.push(format!(
                    "{spec}: only Leitstand has {} {}",
                    entry.0, entry.1
                ));
            }
            for entry in theirs.iter().filter(|e| !ours.contains(e)) {
                differences.push(format!(
                    "{spec}: only the reference has {} {}",
                    entry.0, entry.1
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} difference(s) from holidays {}:\n{}",
        differences.len(),
        reference.version,
        differences.join("\n")
    );

    // The comparison saw every list and every year.
    let years: usize = reference.lists.values().map(|l| l.years.len()).sum();
    let per_list = usize::try_from(LAST_YEAR - FIRST_YEAR + 1).expect("a range of years");
    assert_eq!(years, lists.len() * per_list);
}
