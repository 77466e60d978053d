//! A scenario beside a baseline as one self-contained HTML page, in the client report's
//! look: per queue and 30-minute interval the service level of both with its 99 %
//! confidence interval (intervals below target marked), then each site and provider, then
//! what the center did (routes, escalations, the share of callers who waited).

use std::fmt::Write as _;

use leitstand_sla::report::{STYLE, esc};

use crate::summary::{Estimate, Figures, IntervalSummary, Summary, clock, show};

/// What the page adds to the client report's style: a baseline's interval below target is
/// marked in its own cell, since the row's mark is the scenario's.
const OWN_STYLE: &str = ".intervals td.below { background: var(--below); color: var(--below-ink); font-weight: 700; }\n";

/// The page: `scenario` beside `baseline` (or alone).
pub fn page(scenario: &Summary, baseline: Option<&Summary>) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let title = match baseline {
        Some(b) => format!(
            "What-if · {} · {} beside {}",
            scenario.tenant, scenario.scenario, b.scenario
        ),
        None => format!("What-if · {} · {}", scenario.tenant, scenario.scenario),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"Leitstand {version}\">\n\
         <title>{title}</title>\n<style>{STYLE}{OWN_STYLE}</style>\n</head>\n<body>\n\
         <header>\n<p class=\"kind\">What-if simulation</p>\n<h1>{tenant}</h1>\n\
         <dl class=\"facts\">\n\
         <div><dt>Scenario</dt><dd data-key=\"scenario\">{name}</dd></div>\n\
         {base}\
         <div><dt>Runs</dt><dd data-key=\"runs\">{runs}</dd></div>\n\
         <div><dt>Seed</dt><dd>{seed}</dd></div>\n\
         <div><dt>Figures</dt><dd>mean ± 99 % confidence interval</dd></div>\n\
         </dl>\n</header>\n",
        version = env!("CARGO_PKG_VERSION"),
        title = esc(&title),
        tenant = esc(&scenario.tenant),
        name = esc(&scenario.scenario),
        base = baseline.map_or_else(String::new, |b| format!(
            "<div><dt>Baseline</dt><dd data-key=\"baseline\">{}</dd></div>\n",
            esc(&b.scenario)
        )),
        runs = scenario.runs,
        seed = scenario.seed,
    );
    for q in &scenario.queues {
        let base = baseline.and_then(|b| b.queue(&q.queue));
        let _ = write!(
            out,
            "<section class=\"queue\" data-queue=\"{id}\">\n<h2>{name} <span class=\"id\">{id}</span></h2>\n\
             <table class=\"summary\"><tbody>\n\
             <tr><th>Target</th><td>{target:.0} % within {t} s</td></tr>\n\
             <tr><th>Service level</th><td data-key=\"service_level\">{sl}{vs}</td></tr>\n\
             <tr><th>Offered</th><td>{offered}</td></tr>\n</tbody></table>\n",
            id = esc(&q.queue),
            name = esc(&q.name),
            target = q.target * 100.0,
            t = q.threshold_seconds,
            sl = esc(&show(&q.figures.service_level, true)),
            vs = base.map_or_else(String::new, |b| format!(
                " <span class=\"vs\">(baseline {})</span>",
                esc(&show(&b.figures.service_level, true))
            )),
            offered = esc(&show(&q.figures.offered, false)),
        );
        interval_table(&mut out, &q.intervals, base.map(|b| &b.intervals[..]));
        out.push_str("</section>\n");
    }
    out.push_str("<section class=\"sites\">\n<h2>Sites</h2>\n<table class=\"intervals scorecard\">\n<thead><tr><th>Site</th><th>Provider</th>");
    out.push_str(if baseline.is_some() {
        "<th>Offered (baseline)</th><th>Offered</th><th>Service level (baseline)</th><th>Service level</th>"
    } else {
        "<th>Offered</th><th>Service level</th>"
    });
    out.push_str("<th>ASA</th><th>Abandoned</th><th>Occupancy</th></tr></thead>\n<tbody>\n");
    let mut names: Vec<&str> = scenario.sites.iter().map(|s| s.site.as_str()).collect();
    for s in baseline.iter().flat_map(|b| &b.sites) {
        if !names.contains(&s.site.as_str()) {
            names.push(&s.site);
        }
    }
    for name in names {
        let s = scenario.site(name);
        let b = baseline.and_then(|b| b.site(name));
        let fig = |x: Option<&Figures>, f: fn(&Figures) -> &Estimate, pct: bool| {
            x.map_or_else(|| "–".to_owned(), |x| show(f(x), pct))
        };
        let sf = s.map(|s| &s.figures);
        let bf = b.map(|b| &b.figures);
        let _ = write!(
            out,
            "<tr data-site=\"{site}\"><th>{label}</th><td>{provider}</td>",
            site = esc(name),
            label = esc(s.or(b).map_or(name, |x| x.name.as_str())),
            provider = esc(s.or(b).and_then(|x| x.provider.as_deref()).unwrap_or("")),
        );
        if baseline.is_some() {
            let _ = write!(
                out,
                "<td>{}</td><td>{}</td><td>{}</td><td data-key=\"service_level\">{}</td>",
                esc(&fig(bf, |f| &f.offered, false)),
                esc(&fig(sf, |f| &f.offered, false)),
                esc(&fig(bf, |f| &f.service_level, true)),
                esc(&fig(sf, |f| &f.service_level, true)),
            );
        } else {
            let _ = write!(
                out,
                "<td>{}</td><td data-key=\"service_level\">{}</td>",
                esc(&fig(sf, |f| &f.offered, false)),
                esc(&fig(sf, |f| &f.service_level, true)),
            );
        }
        let _ = writeln!(
            out,
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&fig(sf, |f| &f.asa_seconds, false)),
            esc(&fig(sf, |f| &f.abandon_rate, true)),
            esc(&s.map_or_else(|| "–".to_owned(), |s| show(&s.occupancy, true))),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
    for s in &scenario.sites {
        if s.intervals.is_empty() {
            continue;
        }
        let base = baseline.and_then(|b| b.site(&s.site));
        let _ = write!(
            out,
            "<section class=\"site\" data-site=\"{id}\">\n<h2>{name} <span class=\"id\">{id}</span></h2>\n",
            id = esc(&s.site),
            name = esc(&s.name),
        );
        interval_table(&mut out, &s.intervals, base.map(|b| &b.intervals[..]));
        out.push_str("</section>\n");
    }
    let c = &scenario.center;
    let _ = write!(
        out,
        "<footer>\n<h2>What the center did</h2>\n<ul>\n\
         <li>Calls offered: {calls}; callers who waited: {waited}; announcements: {ann}; calls moved between sites: {moved}.</li>\n",
        calls = esc(&show(&c.calls, false)),
        waited = esc(&show(&c.probability_of_waiting, true)),
        ann = esc(&show(&c.announcements, false)),
        moved = esc(&show(&c.moved, false)),
    );
    for (target, e) in &c.routes {
        let _ = writeln!(
            out,
            "<li>Routed to {}: {}</li>",
            esc(target),
            esc(&show(e, false))
        );
    }
    for (target, e) in &c.escalations {
        let _ = writeln!(
            out,
            "<li>Escalated to {}: {}</li>",
            esc(target),
            esc(&show(e, false))
        );
    }
    out.push_str(
        "</ul>\n<p class=\"made\">Simulated by Leitstand: the tenant's own plugins decided every \
         route and escalation; the figures are the SLA report of each run, averaged.</p>\n\
         </footer>\n</body>\n</html>\n",
    );
    out
}

fn interval_table(
    out: &mut String,
    intervals: &[IntervalSummary],
    baseline: Option<&[IntervalSummary]>,
) {
    out.push_str("<table class=\"intervals\">\n<thead><tr><th>Interval</th>");
    if baseline.is_some() {
        out.push_str("<th>Offered (baseline)</th><th>Service level (baseline)</th>");
    }
    out.push_str("<th>Offered</th><th>Service level</th><th>ASA</th><th>Abandoned</th></tr></thead>\n<tbody>\n");
    for i in intervals {
        let b = baseline.and_then(|b| b.iter().find(|x| x.start == i.start));
        let _ = write!(
            out,
            "<tr data-start=\"{start}\"{class}><th>{from}–{to}</th>",
            start = esc(&i.start),
            class = if i.below_target == Some(true) {
                " class=\"below\""
            } else {
                ""
            },
            from = esc(clock(&i.start)),
            to = esc(clock(&i.end)),
        );
        if baseline.is_some() {
            let _ = write!(
                out,
                "<td>{}</td><td data-key=\"baseline_service_level\"{}>{}</td>",
                esc(&b.map_or_else(|| "–".to_owned(), |b| show(&b.figures.offered, false))),
                if b.is_some_and(|b| b.below_target == Some(true)) {
                    " class=\"below\""
                } else {
                    ""
                },
                esc(&b.map_or_else(|| "–".to_owned(), |b| show(&b.figures.service_level, true))),
            );
        }
        let _ = writeln!(
            out,
            "<td>{}</td><td data-key=\"service_level\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&show(&i.figures.offered, false)),
            esc(&show(&i.figures.service_level, true)),
            esc(&show(&i.figures.asa_seconds, false)),
            esc(&show(&i.figures.abandon_rate, true)),
        );
    }
    out.push_str("</tbody></table>\n");
}
