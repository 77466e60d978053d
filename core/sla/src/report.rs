//! The client report: one tenant's reachability on one local day as a self-contained HTML
//! page (inline CSS and SVG, no scripts, no external resources), the page an authority
//! expects from the provider that answers its hotline.
//!
//! Owns the choice of the day's intervals, the day's totals made from their counts, and
//! the page's markup. It takes the SLA report and the tenant's bundle as they are; it
//! neither counts events nor runs plugins (`leitstand report` runs a replay for that).

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use leitstand_calendar::{Day, DayKind};

use crate::books::{
    Counts, FirstContactReport, INTERVAL_MINUTES, IntervalReport, QueueReport, ResolutionLine,
    SERVICE_CENTER, TenantReport, UNKNOWN_CONCERN,
};
use crate::profile::{AbandonPolicy, ServiceProfile, SlaSettings};
use crate::site_figures::{ProviderReport, SiteReport};

/// Why there is no report to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DayError {
    /// The tenant has no call events at all.
    #[error("tenant {tenant} has no call events in this input")]
    NoEvents {
        /// The tenant id.
        tenant: String,
    },
    /// The tenant has call events, but none on the day asked for.
    #[error("tenant {tenant} has no call events on {day} ({timezone}); days with events: {days}")]
    NoEventsThatDay {
        /// The tenant id.
        tenant: String,
        /// The day asked for.
        day: NaiveDate,
        /// The tenant's timezone.
        timezone: String,
        /// The days that have events, comma-separated.
        days: String,
    },
}

/// One queue on the report's day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayQueue {
    /// The day's figures: totals over the day's intervals, and those intervals.
    pub figures: QueueReport,
    /// The queue's SLA settings.
    pub sla: SlaSettings,
}

/// One tenant's figures for one day of its local time.
#[derive(Debug, Clone, PartialEq)]
pub struct DayReport {
    /// The tenant id.
    pub tenant: String,
    /// Its display name.
    pub name: String,
    /// Its timezone; the day and the intervals are in it.
    pub timezone: String,
    /// The day.
    pub day: NaiveDate,
    /// The tenant-wide SLA settings.
    pub sla: SlaSettings,
    /// Every queue of the tenant, sorted by id; a queue without calls that day shows
    /// zeros and no ratios.
    pub queues: Vec<DayQueue>,
    /// First-contact resolution per concern and per department of the calls that ended
    /// that day.
    pub first_contact: FirstContactReport,
    /// What the tenant's calendar says of the day (its opening hours, and the holiday,
    /// closed or special day that set them), when the tenant declares a calendar: the same
    /// calendar its plugins and `leitstand_tenant_open` read.
    pub hours: Option<Day>,
    /// The day's scorecard per provider (CONTRACT §8), when the tenant declares sites.
    pub providers: Vec<ProviderReport>,
    /// The day's figures per site, then the calls that count for no site.
    pub sites: Vec<SiteReport>,
}

/// The local date of an interval (its start is local RFC 3339).
fn local_date(i: &IntervalReport) -> Option<NaiveDate> {
    i.start.get(..10)?.parse().ok()
}

impl DayReport {
    /// The figures of `tenant` (from the SLA report; `bundle` is its bundle) on `day`, by
    /// default the local day of its first call event.
    pub fn new(
        tenant: &TenantReport,
        bundle: &ServiceProfile,
        day: Option<NaiveDate>,
    ) -> Result<Self, DayError> {
        let mut days: Vec<NaiveDate> = tenant
            .queues
            .iter()
            .flat_map(|q| q.intervals.iter().filter_map(local_date))
            .collect();
        days.sort();
        days.dedup();
        let Some(first) = days.first().copied() else {
            return Err(DayError::NoEvents {
                tenant: tenant.tenant.clone(),
            });
        };
        let day = day.unwrap_or(first);
        if !days.contains(&day) {
            return Err(DayError::NoEventsThatDay {
                tenant: tenant.tenant.clone(),
                day,
                timezone: tenant.timezone.clone(),
                days: days
                    .iter()
                    .map(NaiveDate::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let queues = tenant
            .queues
            .iter()
            .map(|q| {
                let sla = bundle.sla_for(&q.queue);
                let intervals: Vec<IntervalReport> = q
                    .intervals
                    .iter()
                    .filter(|i| local_date(i) == Some(day))
                    .cloned()
                    .collect();
                let mut total = Counts::default();
                for i in &intervals {
                    total.merge(&i.counts);
                }
                let mut figures = QueueReport::from_counts(&q.queue, &q.name, &sla, &total);
                figures.intervals = intervals;
                DayQueue { figures, sla }
            })
            .collect();
        let tz: Tz = tenant.timezone.parse().unwrap_or(chrono_tz::UTC);
        let (sites, providers) = tenant.site_books.lines(tz, Some(day));
        Ok(Self {
            tenant: tenant.tenant.clone(),
            name: tenant.name.clone(),
            timezone: tenant.timezone.clone(),
            day,
            sla: bundle.sla,
            queues,
            providers,
            sites,
            first_contact: tenant.first_contact.of_day(day),
            hours: bundle.calendar().map(|c| c.day(day)),
        })
    }

    /// The page: self-contained HTML5.
    pub fn to_html(&self) -> String {
        let mut page = String::with_capacity(64 * 1024);
        self.write_html(&mut page);
        page
    }

    fn write_html(&self, out: &mut String) {
        let title = format!(
            "Reachability report · {} · {}",
            self.name,
            self.day.format("%Y-%m-%d")
        );
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"generator\" content=\"Leitstand {version}\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
            version = env!("CARGO_PKG_VERSION"),
            title = esc(&title),
        );
        self.write_header(out);
        for q in &self.queues {
            self.write_queue(out, q);
        }
        self.write_scorecard(out);
        self.write_first_contact(out);
        self.write_footer(out);
        out.push_str("</body>\n</html>\n");
    }

    fn write_header(&self, out: &mut String) {
        let s = &self.sla;
        let _ = write!(
            out,
            "<header>\n<p class=\"kind\">Reachability report</p>\n<h1>{name}</h1>\n\
             <dl class=\"facts\">\n\
             <div><dt>Day</dt><dd data-key=\"day\">{weekday}, {day}</dd></div>\n\
             <div><dt>Timezone</dt><dd>{tz}</dd></div>\n\
             <div><dt>Target</dt><dd data-key=\"target\">{target}</dd></div>\n\
             <div><dt>Abandoned calls</dt><dd>{policy}</dd></div>\n\
             {hours}\
             {first_contact}\
             <div><dt>Tenant</dt><dd>{tenant}</dd></div>\n\
             </dl>\n</header>\n",
            name = esc(&self.name),
            weekday = weekday(self.day),
            day = self.day.format("%Y-%m-%d"),
            tz = esc(&self.timezone),
            target = esc(&target_text(s)),
            policy = esc(&policy_text(s)),
            hours = self.hours.as_ref().map_or_else(String::new, |d| format!(
                "<div><dt>Opening hours</dt><dd data-key=\"hours\">{}</dd></div>\n",
                esc(&hours_text(d))
            )),
            first_contact = s.first_contact_target.map_or_else(String::new, |t| format!(
                "<div><dt>First-contact target</dt><dd data-key=\"first_contact_target\">{}</dd></div>\n",
                esc(&pct_plain(t))
            )),
            tenant = esc(&self.tenant),
        );
    }

    /// The day's first-contact resolution: the tenant's total against its target, then a
    /// table per concern and one per department. Nothing when no call ended that day.
    fn write_first_contact(&self, out: &mut String) {
        let fc = &self.first_contact;
        if fc.total.ended == 0 {
            return;
        }
        out.push_str(
            "<section class=\"first-contact\" data-section=\"first_contact\">\n\
             <h2>First-contact resolution</h2>\n<table class=\"summary\">\n<tbody>\n",
        );
        let verdict = match fc.total.target_met {
            Some(true) => "<span class=\"met\">target met</span>",
            Some(false) => "<span class=\"missed\">target missed</span>",
            None => "",
        };
        let vs = fc.target.map_or_else(String::new, |t| {
            format!(
                " <span class=\"vs\">vs. target {}</span> {verdict}",
                pct(Some(t))
            )
        });
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">Settled at first contact</th><td data-key=\"first_contact_resolution\" \
             data-value=\"{}\">{}{vs}</td></tr>\n\
             <tr><th scope=\"row\">Calls ended</th>\
             <td data-key=\"ended\" data-value=\"{ended}\">{ended} <span class=\"vs\">\
             ({reported} said whether settled, {handed_on} handed on)</span></td></tr>\n\
             </tbody>\n</table>",
            json_number(fc.total.first_contact_resolution),
            pct(fc.total.first_contact_resolution),
            ended = fc.total.ended,
            reported = fc.total.resolution_reported,
            handed_on = fc.total.handed_on,
        );
        let concerns: Vec<(Option<&str>, String, &ResolutionLine)> = fc
            .by_concern
            .iter()
            .map(|c| {
                let name = c.concern.as_deref();
                (name, name.unwrap_or(UNKNOWN_CONCERN).to_owned(), &c.figures)
            })
            .collect();
        write_resolution_table(out, "concern", "Concern", &concerns);
        let departments: Vec<(Option<&str>, String, &ResolutionLine)> = fc
            .by_department
            .iter()
            .map(|d| {
                let name = d.department.as_deref();
                (name, name.unwrap_or(SERVICE_CENTER).to_owned(), &d.figures)
            })
            .collect();
        write_resolution_table(out, "department", "Department", &departments);
        out.push_str("</section>\n");
    }

    /// The providers' scorecard: per provider its service level against its own target,
    /// the intervals it missed, its share of each queue against the contracted share and
    /// its daily cap used; then the day per site. Nothing for a tenant without sites.
    fn write_scorecard(&self, out: &mut String) {
        if self.providers.is_empty() && self.sites.is_empty() {
            return;
        }
        out.push_str(
            "<section class=\"scorecard\" data-section=\"providers\">\n<h2>Providers</h2>\n\
             <table class=\"intervals scorecard\" data-table=\"providers\">\n<thead><tr>\
             <th scope=\"col\">Provider</th><th scope=\"col\">Offered</th>\
             <th scope=\"col\">Answered</th><th scope=\"col\">Abandoned</th>\
             <th scope=\"col\">Service level</th><th scope=\"col\">Target</th>\
             <th scope=\"col\">Intervals below target</th><th scope=\"col\">ASA</th>\
             <th scope=\"col\">Abandon rate</th><th scope=\"col\">First-contact resolution</th>\
             <th scope=\"col\">Share (actual / contracted)</th><th scope=\"col\">Daily cap used</th>\
             </tr></thead>\n<tbody>\n",
        );
        let cell = |key: &str, value: String, shown: String| {
            format!(
                "<td data-key=\"{key}\" data-value=\"{}\">{shown}</td>",
                esc(&value)
            )
        };
        for p in &self.providers {
            let f = &p.figures;
            let missed = p.target_met == Some(false);
            let shares = p
                .shares
                .iter()
                .map(|s| {
                    format!(
                        "<span data-queue=\"{q}\" data-actual=\"{a}\" data-contracted=\"{c}\">{q}: {ap} / {cp}</span>",
                        q = esc(&s.queue),
                        a = json_number(s.actual),
                        c = json_number(s.contracted),
                        ap = pct(s.actual),
                        cp = pct(s.contracted),
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>");
            let cap = match (p.daily_cap, p.days.first()) {
                (Some(cap), Some(d)) => format!("{} of {cap} ({})", d.offered, pct(d.cap_used)),
                (Some(cap), None) => format!("0 of {cap}"),
                (None, _) => "no cap".to_owned(),
            };
            let cap_value = p.days.first().and_then(|d| d.cap_used);
            let _ = writeln!(
                out,
                "<tr data-provider=\"{id}\"{cls}><th scope=\"row\">{name}<br><span class=\"id\">{sites}</span></th>\
                 {}{}{}{}{}{}{}{}{}<td data-key=\"shares\">{shares}</td>{}</tr>",
                cell("offered", f.offered.to_string(), f.offered.to_string()),
                cell("answered", f.answered.to_string(), f.answered.to_string()),
                cell(
                    "abandoned",
                    f.abandoned.to_string(),
                    f.abandoned.to_string()
                ),
                cell(
                    "service_level",
                    json_number(f.service_level),
                    if missed {
                        format!(
                            "{} <span class=\"flag\">target missed</span>",
                            pct(f.service_level)
                        )
                    } else {
                        pct(f.service_level)
                    }
                ),
                cell("target", json_number(Some(p.target)), pct(Some(p.target))),
                cell(
                    "intervals_below_target",
                    p.intervals_below_target.to_string(),
                    format!("{} of {}", p.intervals_below_target, p.intervals.len())
                ),
                cell(
                    "asa_seconds",
                    json_number(f.asa_seconds),
                    secs(f.asa_seconds)
                ),
                cell(
                    "abandon_rate",
                    json_number(f.abandon_rate),
                    pct(f.abandon_rate)
                ),
                cell(
                    "first_contact_resolution",
                    json_number(f.first_contact_resolution),
                    pct(f.first_contact_resolution)
                ),
                cell("cap_used", json_number(cap_value), cap),
                id = esc(&p.provider),
                cls = if missed { " class=\"below\"" } else { "" },
                name = esc(&p.name),
                sites = esc(&p.sites.join(", ")),
            );
        }
        out.push_str("</tbody>\n</table>\n");
        for p in self
            .providers
            .iter()
            .filter(|p| p.intervals_below_target > 0)
        {
            let missed: Vec<String> = p
                .intervals
                .iter()
                .filter(|i| i.below_target)
                .map(|i| {
                    format!(
                        "<span data-start=\"{}\">{}–{} ({})</span>",
                        esc(&i.start),
                        esc(clock(&i.start)),
                        esc(clock(&i.end)),
                        pct(i.figures.service_level)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "<p class=\"own\" data-missed=\"{id}\">{name} was below its target of {t} in {}.</p>",
                missed.join(", "),
                id = esc(&p.provider),
                name = esc(&p.name),
                t = pct(Some(p.target)),
            );
        }
        out.push_str(
            "<table class=\"intervals\" data-table=\"sites\">\n<thead><tr>\
             <th scope=\"col\">Site</th><th scope=\"col\">Provider</th><th scope=\"col\">Offered</th>\
             <th scope=\"col\">Answered</th><th scope=\"col\">Abandoned</th>\
             <th scope=\"col\">Service level</th><th scope=\"col\">ASA</th>\
             <th scope=\"col\">Abandon rate</th></tr></thead>\n<tbody>\n",
        );
        for site in &self.sites {
            let f = &site.figures;
            let _ = writeln!(
                out,
                "<tr data-site=\"{id}\"><th scope=\"row\">{name}</th><td>{provider}</td>{}{}{}{}{}{}</tr>",
                cell("offered", f.offered.to_string(), f.offered.to_string()),
                cell("answered", f.answered.to_string(), f.answered.to_string()),
                cell(
                    "abandoned",
                    f.abandoned.to_string(),
                    f.abandoned.to_string()
                ),
                cell(
                    "service_level",
                    json_number(f.service_level),
                    pct(f.service_level)
                ),
                cell(
                    "asa_seconds",
                    json_number(f.asa_seconds),
                    secs(f.asa_seconds)
                ),
                cell(
                    "abandon_rate",
                    json_number(f.abandon_rate),
                    pct(f.abandon_rate)
                ),
                id = esc(&site.site),
                name = esc(&site.name),
                provider = esc(site.provider.as_deref().unwrap_or(DASH)),
            );
        }
        out.push_str(
            "</tbody>\n</table>\n<p class=\"own\">Answered calls count for the site that answered \
             them, abandoned calls for the site they waited at; calls routed to an announcement \
             for no site. A provider's share is of the calls answered at all its client's sites.</p>\n\
             </section>\n",
        );
    }

    fn write_queue(&self, out: &mut String, q: &DayQueue) {
        let f = &q.figures;
        let _ = write!(
            out,
            "<section class=\"queue\" data-queue=\"{id}\">\n<h2>{name} <span class=\"id\">{id}</span></h2>\n",
            id = esc(&f.queue),
            name = esc(&f.name),
        );
        if q.sla != self.sla {
            let _ = writeln!(
                out,
                "<p class=\"own\">This queue's own target: {}; abandoned calls: {}.</p>",
                esc(&target_text(&q.sla)),
                esc(&policy_text(&q.sla))
            );
        }
        self.write_summary(out, q);
        if f.intervals.is_empty() {
            out.push_str("<p class=\"none\">No calls on this day.</p>\n</section>\n");
            return;
        }
        out.push_str(&self.chart(q));
        write_intervals(out, q);
        out.push_str("</section>\n");
    }

    fn write_summary(&self, out: &mut String, q: &DayQueue) {
        let f = &q.figures;
        let verdict = match f.target_met {
            Some(true) => "<span class=\"met\">target met</span>",
            Some(false) => "<span class=\"missed\">target missed</span>",
            None => "<span class=\"neutral\">no calls to measure</span>",
        };
        let peak = f.intervals.iter().filter_map(|i| i.agents_required).max();
        let peak_scheduled = f.intervals.iter().filter_map(|i| i.agents_scheduled).max();
        out.push_str("<table class=\"summary\">\n<tbody>\n");
        let mut row = |label: &str, key: &str, value: String, shown: String| {
            let _ = writeln!(
                out,
                "<tr><th scope=\"row\">{label}</th><td data-key=\"{key}\" data-value=\"{value}\">{}</td></tr>",
                shown
            );
        };
        let counts = [
            ("Calls offered".to_owned(), "offered", f.offered),
            ("Answered".to_owned(), "answered", f.answered),
            (
                format!("Answered within {} s", f.threshold_seconds),
                "answered_within",
                f.answered_within,
            ),
            ("Abandoned".to_owned(), "abandoned", f.abandoned),
            (
                format!("of which within {} s (short)", f.short_abandon_seconds),
                "short_abandoned",
                f.short_abandoned,
            ),
        ];
        for (label, key, v) in counts {
            row(&label, key, v.to_string(), v.to_string());
        }
        row(
            "Service level",
            "service_level",
            json_number(f.service_level),
            format!(
                "{} <span class=\"vs\">vs. target {}</span> {verdict}",
                pct(f.service_level),
                pct(Some(f.target))
            ),
        );
        row(
            "Average speed of answer (ASA)",
            "asa_seconds",
            json_number(f.asa_seconds),
            secs(f.asa_seconds),
        );
        row(
            "Abandon rate",
            "abandon_rate",
            json_number(f.abandon_rate),
            pct(f.abandon_rate),
        );
        row(
            "Average handling time (AHT)",
            "aht_seconds",
            json_number(f.aht_seconds),
            secs(f.aht_seconds),
        );
        row(
            "First-contact resolution",
            "first_contact_resolution",
            json_number(f.first_contact_resolution),
            match (f.first_contact_target, f.first_contact_target_met) {
                (Some(t), met) => format!(
                    "{} <span class=\"vs\">vs. target {}</span>{}",
                    pct(f.first_contact_resolution),
                    pct(Some(t)),
                    match met {
                        Some(true) => " <span class=\"met\">target met</span>",
                        Some(false) => " <span class=\"missed\">target missed</span>",
                        None => "",
                    }
                ),
                (None, _) => pct(f.first_contact_resolution),
            },
        );
        row(
            "Peak agents required (scheduled)",
            "peak_agents_required",
            peak.map(|p| p.to_string()).unwrap_or_default(),
            match (peak, peak_scheduled) {
                (Some(p), Some(s)) => format!("{p} ({s})"),
                _ => DASH.to_owned(),
            },
        );
        out.push_str("</tbody>\n</table>\n");
    }

    /// Offered calls as bars and the service level as a line per interval, with the
    /// target as a dashed line; the time axis spans the tenant's first to last interval
    /// of the day, so that every queue's chart lines up.
    fn chart(&self, q: &DayQueue) -> String {
        let tz: Tz = self.timezone.parse().unwrap_or(Tz::UTC);
        let starts: Vec<DateTime<Utc>> = self
            .queues
            .iter()
            .flat_map(|q| q.figures.intervals.iter())
            .filter_map(|i| DateTime::parse_from_rfc3339(&i.start).ok())
            .map(|t| t.with_timezone(&Utc))
            .collect();
        let (Some(first), Some(last)) = (starts.iter().min(), starts.iter().max()) else {
            return String::new();
        };
        let step = chrono::Duration::minutes(INTERVAL_MINUTES);
        let slots = ((*last - *first).num_minutes() / INTERVAL_MINUTES + 1).max(1) as usize;
        let slot_of = |i: &IntervalReport| {
            DateTime::parse_from_rfc3339(&i.start).ok().map(|t| {
                ((t.with_timezone(&Utc) - *first).num_minutes() / INTERVAL_MINUTES) as usize
            })
        };

        let (w, h) = (960.0_f64, 300.0_f64);
        let (left, right, top, bottom) = (56.0, 56.0, 36.0, 44.0);
        let plot_w = w - left - right;
        let plot_h = h - top - bottom;
        let slot_w = plot_w / slots as f64;
        let max_offered = q
            .figures
            .intervals
            .iter()
            .map(|i| i.offered)
            .max()
            .unwrap_or(0);
        let y_max = nice_ceiling(max_offered).max(5);
        let y_count = |v: f64| top + plot_h * (1.0 - v / y_max as f64);
        let y_level = |v: f64| top + plot_h * (1.0 - v);
        let x_center = |slot: usize| left + slot_w * (slot as f64 + 0.5);

        let mut svg = String::new();
        let _ = write!(
            svg,
            "<figure class=\"chart\">\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" \
             width=\"100%\" role=\"img\" aria-label=\"Offered calls and service level per 30 minutes, {name}\">\n",
            name = esc(&q.figures.name)
        );
        // Grid and axes: counts on the left, service level on the right.
        // 2·10ⁿ divides into quarters, 1·10ⁿ and 5·10ⁿ into fifths: whole steps both sides.
        let divisions: u32 = if y_max.to_string().starts_with('2') {
            4
        } else {
            5
        };
        for k in 0..=divisions {
            let frac = f64::from(k) / f64::from(divisions);
            let y = top + plot_h * (1.0 - frac);
            let _ = writeln!(
                svg,
                "<line class=\"grid\" x1=\"{left}\" y1=\"{y:.1}\" x2=\"{x2}\" y2=\"{y:.1}\"/>\
                 <text class=\"axis\" x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{count}</text>\
                 <text class=\"axis\" x=\"{rx}\" y=\"{ty:.1}\">{level} %</text>",
                x2 = left + plot_w,
                lx = left - 6.0,
                rx = left + plot_w + 6.0,
                ty = y + 4.0,
                count = num(y_max as f64 * frac),
                level = (frac * 100.0).round(),
            );
        }
        // Time labels on full hours, at most about a dozen.
        let every_hours = (slots / 2).div_ceil(12).max(1) as u32;
        for s in 0..=slots {
            let t = (*first + step * s as i32).with_timezone(&tz);
            if t.minute() != 0 || !t.hour().is_multiple_of(every_hours) {
                continue;
            }
            let label = t.format("%H:%M").to_string();
            let x = left + slot_w * s as f64;
            let _ = writeln!(
                svg,
                "<line class=\"tick\" x1=\"{x:.1}\" y1=\"{y1}\" x2=\"{x:.1}\" y2=\"{y2}\"/>\
                 <text class=\"axis\" x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"middle\">{label}</text>",
                y1 = top + plot_h,
                y2 = top + plot_h + 5.0,
                ty = top + plot_h + 18.0,
            );
        }
        // Bars.
        for i in &q.figures.intervals {
            let Some(slot) = slot_of(i) else { continue };
            let y = y_count(i.offered as f64);
            let below = i.service_level.is_some_and(|l| l < q.figures.target);
            let _ = writeln!(
                svg,
                "<rect class=\"bar{cls}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\">\
                 <title>{from}: {offered} offered, service level {sl}</title></rect>",
                cls = if below { " below" } else { "" },
                x = left + slot_w * slot as f64 + slot_w * 0.15,
                bw = slot_w * 0.7,
                bh = top + plot_h - y,
                from = esc(clock(&i.start)),
                offered = i.offered,
                sl = pct(i.service_level),
            );
        }
        // Target line.
        let ty = y_level(q.figures.target);
        let _ = writeln!(
            svg,
            "<line class=\"target\" x1=\"{left}\" y1=\"{ty:.1}\" x2=\"{x2}\" y2=\"{ty:.1}\"/>",
            x2 = left + plot_w
        );
        // Service level: a line through the intervals that have one, broken at gaps.
        let mut points: Vec<(usize, f64)> = q
            .figures
            .intervals
            .iter()
            .filter_map(|i| Some((slot_of(i)?, i.service_level?)))
            .collect();
        points.sort_by_key(|p| p.0);
        let mut runs: Vec<Vec<(usize, f64)>> = Vec::new();
        for p in points {
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|l| l.0 + 1 == p.0) => run.push(p),
                _ => runs.push(vec![p]),
            }
        }
        for run in &runs {
            let coords: Vec<String> = run
                .iter()
                .map(|(s, v)| format!("{:.1},{:.1}", x_center(*s), y_level(*v)))
                .collect();
            let _ = writeln!(
                svg,
                "<polyline class=\"level\" points=\"{}\"/>",
                coords.join(" ")
            );
            for (s, v) in run {
                let _ = writeln!(
                    svg,
                    "<circle class=\"dot{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"/>",
                    if *v < q.figures.target { " below" } else { "" },
                    x_center(*s),
                    y_level(*v)
                );
            }
        }
        // Legend.
        let _ = write!(
            svg,
            "<g class=\"legend\" transform=\"translate({left},14)\">\
             <rect class=\"bar\" x=\"0\" y=\"-9\" width=\"12\" height=\"10\"/><text x=\"18\" y=\"0\">calls offered (left axis)</text>\
             <line class=\"level\" x1=\"190\" y1=\"-4\" x2=\"214\" y2=\"-4\"/><text x=\"220\" y=\"0\">service level (right axis)</text>\
             <line class=\"target\" x1=\"410\" y1=\"-4\" x2=\"434\" y2=\"-4\"/><text x=\"440\" y=\"0\">target {target}</text>\
             <rect class=\"bar below\" x=\"560\" y=\"-9\" width=\"12\" height=\"10\"/><text x=\"578\" y=\"0\">interval below target</text>\
             </g>\n</svg>\n</figure>\n",
            target = pct(Some(q.figures.target)),
        );
        svg
    }

    fn write_footer(&self, out: &mut String) {
        let mut policies: Vec<&SlaSettings> = vec![&self.sla];
        for q in &self.queues {
            if !policies
                .iter()
                .any(|p| p.abandon_policy == q.sla.abandon_policy)
            {
                policies.push(&q.sla);
            }
        }
        out.push_str("<footer>\n<h2>How the figures are defined</h2>\n<ul>\n");
        let _ = writeln!(
            out,
            "<li>Intervals are 30 minutes of local time ({}). Offered, answered and abandoned \
             count the calls that entered a queue, that an agent took, and whose caller hung up \
             before an answer; a wait is the time in the queue as the call-center system reports it.</li>",
            esc(&self.timezone)
        );
        for p in policies {
            let _ = writeln!(out, "<li>{}</li>", esc(&policy_definition(p)));
        }
        out.push_str(
            "<li>Average speed of answer (ASA): the mean wait of answered calls.</li>\n\
             <li>Abandon rate: (abandoned − short abandons) / (answered + abandoned − short abandons).</li>\n\
             <li>Average handling time (AHT): the mean talk time of ended calls. \
             First-contact resolution: ended calls settled at first contact / ended calls that \
             reported whether they were. A call's concern is the one named when it was \
             offered (“(unknown)” when none was); a call handed on names the department it \
             went to, the others stay with the service center.</li>\n\
             <li>“–” means there were no calls to compute a figure from; it is not zero.</li>\n\
             <li>Agents required: the least number of agents on the phones that meets the target \
             for the interval's offered calls and handling time by Erlang C \
             (service level = 1 − P(wait) · e^(−(agents − traffic) · threshold / AHT), \
             traffic = calls × AHT / 30 min), within the maximum occupancy where one is set. \
             Agents scheduled: ⌈agents required / (1 − shrinkage)⌉.</li>\n",
        );
        let _ = write!(
            out,
            "</ul>\n<p class=\"made\">Generated by Leitstand {} from the day's call events.</p>\n</footer>\n",
            env!("CARGO_PKG_VERSION")
        );
    }
}

/// A table of first-contact figures, one row per concern or department (`kind`); a row
/// carries its key as `data-<kind>` (empty for unknown or the service center) and its
/// figures as `data-key` / `data-value` cells, as the JSON report writes them.
fn write_resolution_table(
    out: &mut String,
    kind: &str,
    heading: &str,
    rows: &[(Option<&str>, String, &ResolutionLine)],
) {
    let _ = writeln!(
        out,
        "<table class=\"intervals resolution\" data-table=\"by_{kind}\">\n<thead><tr>\
         <th scope=\"col\">{heading}</th><th scope=\"col\">Ended</th>\
         <th scope=\"col\">Reported</th><th scope=\"col\">Settled</th>\
         <th scope=\"col\">Handed on</th><th scope=\"col\">First-contact resolution</th>\
         </tr></thead>\n<tbody>"
    );
    for (key, shown, l) in rows {
        let below = l.target_met == Some(false);
        let cell = |key: &str, value: String, shown: String| {
            format!("<td data-key=\"{key}\" data-value=\"{value}\">{shown}</td>")
        };
        let n = |key: &str, v: u64| cell(key, v.to_string(), v.to_string());
        let _ = writeln!(
            out,
            "<tr data-{kind}=\"{}\"{}><th scope=\"row\">{}</th>{}{}{}{}{}</tr>",
            esc(key.unwrap_or_default()),
            if below { " class=\"below\"" } else { "" },
            esc(shown),
            n("ended", l.ended),
            n("resolution_reported", l.resolution_reported),
            n("resolved", l.resolved),
            n("handed_on", l.handed_on),
            cell(
                "first_contact_resolution",
                json_number(l.first_contact_resolution),
                if below {
                    format!(
                        "{} <span class=\"flag\">below target</span>",
                        pct(l.first_contact_resolution)
                    )
                } else {
                    pct(l.first_contact_resolution)
                }
            ),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn write_intervals(out: &mut String, q: &DayQueue) {
    let f = &q.figures;
    out.push_str(
        "<table class=\"intervals\">\n<thead><tr><th scope=\"col\">Interval</th>\
         <th scope=\"col\">Offered</th><th scope=\"col\">Answered</th>\
         <th scope=\"col\">Abandoned</th><th scope=\"col\">Service level</th>\
         <th scope=\"col\">ASA</th><th scope=\"col\">Abandon rate</th>\
         <th scope=\"col\">Agents required</th><th scope=\"col\">Agents scheduled</th></tr></thead>\n<tbody>\n",
    );
    for i in &f.intervals {
        let below = i.service_level.is_some_and(|l| l < f.target);
        let cell = |key: &str, value: String, shown: String| {
            format!("<td data-key=\"{key}\" data-value=\"{value}\">{shown}</td>")
        };
        let _ = writeln!(
            out,
            "<tr data-start=\"{start}\"{cls}><th scope=\"row\">{from}–{to}</th>{}{}{}{}{}{}{}{}</tr>",
            cell("offered", i.offered.to_string(), i.offered.to_string()),
            cell("answered", i.answered.to_string(), i.answered.to_string()),
            cell(
                "abandoned",
                i.abandoned.to_string(),
                i.abandoned.to_string()
            ),
            cell(
                "service_level",
                json_number(i.service_level),
                if below {
                    format!(
                        "{} <span class=\"flag\">below target</span>",
                        pct(i.service_level)
                    )
                } else {
                    pct(i.service_level)
                }
            ),
            cell(
                "asa_seconds",
                json_number(i.asa_seconds),
                secs(i.asa_seconds)
            ),
            cell(
                "abandon_rate",
                json_number(i.abandon_rate),
                pct(i.abandon_rate)
            ),
            cell(
                "agents_required",
                i.agents_required.map(|a| a.to_string()).unwrap_or_default(),
                count(i.agents_required)
            ),
            cell(
                "agents_scheduled",
                i.agents_scheduled
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                count(i.agents_scheduled)
            ),
            start = esc(&i.start),
            cls = if below { " class=\"below\"" } else { "" },
            from = esc(clock(&i.start)),
            to = esc(clock(&i.end)),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

const DASH: &str = "–";

/// The client report's style sheet, shared by the pages that look like it.
pub const STYLE: &str = "
:root { --ink: #1d2733; --muted: #5b6675; --line: #d5dbe3; --bar: #7d9bc1; --level: #1f5f99;
  --target: #c2410c; --below: #fde2e1; --below-ink: #b42318; --met: #1a7f37; }
* { box-sizing: border-box; }
body { font-family: 'Segoe UI', 'Helvetica Neue', Arial, sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 1100px; padding: 32px 40px; line-height: 1.4; background: #fff; }
header { border-bottom: 3px solid var(--level); padding-bottom: 12px; margin-bottom: 24px; }
.kind { text-transform: uppercase; letter-spacing: .08em; color: var(--muted); margin: 0; font-size: 13px; }
h1 { margin: 4px 0 12px; font-size: 28px; }
h2 { font-size: 20px; margin: 32px 0 8px; }
h2 .id { font-weight: normal; color: var(--muted); font-size: 14px; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 32px; margin: 0; }
.facts div { min-width: 140px; }
.facts dt { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .05em; }
.facts dd { margin: 0; font-weight: 600; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.summary th { text-align: left; font-weight: normal; color: var(--muted); padding: 3px 24px 3px 0; }
.summary td { font-weight: 600; padding: 3px 0; }
.vs { font-weight: normal; color: var(--muted); }
.met, .missed, .neutral { display: inline-block; margin-left: 8px; padding: 1px 8px; border-radius: 10px;
  font-size: 12px; font-weight: 600; }
.met { background: #dcf5e3; color: var(--met); }
.missed { background: var(--below); color: var(--below-ink); }
.neutral { background: #eef1f5; color: var(--muted); }
.intervals { width: 100%; margin-top: 8px; font-size: 14px; }
.intervals th, .intervals td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; }
.intervals thead th { color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); }
.intervals tbody th { text-align: left; font-weight: normal; white-space: nowrap; }
.intervals tr.below td, .intervals tr.below th { background: var(--below); }
.intervals tr.below td[data-key=service_level] { color: var(--below-ink); font-weight: 700; }
.resolution { margin-bottom: 20px; }
.resolution thead th:first-child { text-align: left; }
.resolution tr.below td[data-key=first_contact_resolution] { color: var(--below-ink); font-weight: 700; }
.scorecard tr.below td[data-key=service_level] { color: var(--below-ink); font-weight: 700; }
.scorecard { font-size: 13px; }
.flag { font-size: 11px; font-weight: 600; text-transform: uppercase; }
.chart { margin: 16px 0 8px; }
.chart svg { display: block; font-size: 11px; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .tick { stroke: var(--muted); }
.chart .axis, .chart .legend text { fill: var(--muted); }
.chart .bar { fill: var(--bar); }
.chart .bar.below { fill: #e8918a; }
.chart .level { fill: none; stroke: var(--level); stroke-width: 2.5; }
.chart .dot { fill: var(--level); }
.chart .dot.below { fill: var(--below-ink); }
.chart .target { stroke: var(--target); stroke-width: 1.5; stroke-dasharray: 6 4; }
.own, .none { color: var(--muted); }
footer { margin-top: 40px; border-top: 1px solid var(--line); font-size: 13px; color: var(--muted); }
footer h2 { font-size: 15px; color: var(--ink); }
footer li { margin: 4px 0; }
.made { margin-top: 16px; }
@media print { body { padding: 0; } section.queue { break-inside: avoid-page; } }
";

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value as the JSON report writes it, or empty for `null`.
fn json_number(v: Option<f64>) -> String {
    v.and_then(|v| serde_json::Number::from_f64(v).map(|n| n.to_string()))
        .unwrap_or_default()
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| DASH.to_owned(), |v| format!("{:.1} %", v * 100.0))
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| DASH.to_owned(), |v| format!("{v:.1} s"))
}

fn count(v: Option<u32>) -> String {
    v.map_or_else(|| DASH.to_owned(), |v| v.to_string())
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn clock(rfc3339: &str) -> &str {
    rfc3339.get(11..16).unwrap_or(rfc3339)
}

/// A day's opening hours as the client reads them: `08:00–18:00`, `closed (Karfreitag,
/// public holiday)`, `08:00–12:00 (Heiligabend, special hours)`.
fn hours_text(day: &Day) -> String {
    let spans = day
        .spans
        .iter()
        .map(|s| format!("{}–{}", s.open(), s.close()))
        .collect::<Vec<_>>()
        .join(", ");
    let shown = if spans.is_empty() { "closed" } else { &spans };
    let why = match &day.kind {
        DayKind::Regular => None,
        DayKind::Holiday(h) => Some(format!("{}, public holiday", h.label)),
        DayKind::Closed { label } => Some(label.clone().unwrap_or_else(|| "closed day".into())),
        DayKind::Special { label } => Some(match label {
            Some(l) => format!("{l}, special hours"),
            None => "special hours".to_owned(),
        }),
    };
    match why {
        Some(why) => format!("{shown} ({why})"),
        None => shown.to_owned(),
    }
}

fn weekday(day: NaiveDate) -> &'static str {
    match day.weekday() {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
}

/// The least of 1, 2, 5 × 10ⁿ that is at least `v`, so that the count axis ends round.
fn nice_ceiling(v: u64) -> u64 {
    let mut base = 1u64;
    loop {
        for m in [1, 2, 5] {
            let n = base.saturating_mul(m);
            if n >= v {
                return n;
            }
        }
        base = base.saturating_mul(10);
        if base == u64::MAX {
            return v;
        }
    }
}

/// "75 % in 30 s".
fn target_text(s: &SlaSettings) -> String {
    format!("{} in {} s", pct_plain(s.target), s.threshold_seconds)
}

fn pct_plain(v: f64) -> String {
    let p = v * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{} %", p.round())
    } else {
        format!("{p:.1} %")
    }
}

/// How abandoned calls count, in a few words.
fn policy_text(s: &SlaSettings) -> String {
    match s.abandon_policy {
        AbandonPolicy::ExcludeShort => format!(
            "count against the target, except within {} s (exclude-short)",
            s.short_abandon_seconds
        ),
        AbandonPolicy::Count => "all count against the target (count)".to_owned(),
        AbandonPolicy::Exclude => "left out (exclude)".to_owned(),
        AbandonPolicy::SuccessWithin => format!(
            "within {} s count as reached (success-within)",
            s.threshold_seconds
        ),
    }
}

/// CONTRACT §5's definition of the service level under `s`'s policy.
fn policy_definition(s: &SlaSettings) -> String {
    let t = s.threshold_seconds;
    let short = s.short_abandon_seconds;
    match s.abandon_policy {
        AbandonPolicy::ExcludeShort => format!(
            "Service level (exclude-short): calls answered within {t} s / (answered + abandoned \
             − abandoned within {short} s). A caller who hangs up within {short} s is not held \
             against the service level."
        ),
        AbandonPolicy::Count => {
            format!("Service level (count): calls answered within {t} s / (answered + abandoned).")
        }
        AbandonPolicy::Exclude => {
            format!("Service level (exclude): calls answered within {t} s / answered.")
        }
        AbandonPolicy::SuccessWithin => format!(
            "Service level (success-within): (calls answered within {t} s + abandoned within \
             {t} s) / (answered + abandoned)."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sla() -> SlaSettings {
        SlaSettings {
            threshold_seconds: 30,
            target: 0.75,
            short_abandon_seconds: 5,
            abandon_policy: AbandonPolicy::ExcludeShort,
            max_occupancy: None,
            shrinkage: 0.0,
            first_contact_target: None,
        }
    }

    fn interval(start: &str, offered: u64, within: u64, answered: u64) -> IntervalReport {
        let counts = Counts {
            offered,
            answered,
            answered_within: within,
            answered_wait_seconds: 10.0 * answered as f64,
            ended: answered,
            talk_seconds: 180.0 * answered as f64,
            ..Counts::default()
        };
        let s = sla();
        let staffing = crate::books::interval_staffing(&counts, &counts, &s);
        IntervalReport {
            start: format!("2026-11-19T{start}:00+01:00"),
            end: String::new(),
            offered,
            answered,
            answered_within: within,
            abandoned: 0,
            short_abandoned: 0,
            service_level: counts.service_level(s.abandon_policy),
            asa_seconds: counts.asa_seconds(),
            abandon_rate: counts.abandon_rate(),
            aht_seconds: counts.aht_seconds(),
            agents_required: staffing.map(|s| s.agents_required),
            agents_scheduled: staffing.map(|s| s.agents_scheduled),
            service_level_planned: staffing.map(|s| s.service_level),
            counts,
        }
    }

    fn page(name: &str, queue_name: &str, intervals: Vec<IntervalReport>) -> DayReport {
        let s = sla();
        let mut total = Counts::default();
        for i in &intervals {
            total.merge(&i.counts);
        }
        let mut figures = QueueReport::from_counts("q", queue_name, &s, &total);
        figures.intervals = intervals;
        DayReport {
            tenant: "t".into(),
            name: name.into(),
            timezone: "Europe/Berlin".into(),
            day: NaiveDate::from_ymd_opt(2026, 11, 19).expect("date"),
            sla: s,
            queues: vec![DayQueue { figures, sla: s }],
            first_contact: FirstContactReport::default(),
            hours: None,
            providers: Vec::new(),
            sites: Vec::new(),
        }
    }

    #[test]
    fn the_days_hours_come_from_the_tenants_calendar() {
        let file: leitstand_calendar::CalendarsFile = toml::from_str(
            r#"
            [calendar]
            hours = { thu = ["08:00-18:00"], fri = ["08:00-13:00"] }
            holidays = "DE-NW"
            closed = [{ date = "2026-11-27", label = "Personalversammlung" }]
            [calendar.special.2026-12-24]
            hours = ["08:00-12:00"]
            label = "Heiligabend"
            "#,
        )
        .expect("TOML");
        let calendars = leitstand_calendar::Calendars::from_file(file, chrono_tz::Europe::Berlin)
            .expect("valid");
        let c = calendars.tenant();
        let text = |d: &str| hours_text(&c.day(d.parse().expect("date")));
        assert_eq!(text("2026-11-19"), "08:00–18:00");
        assert_eq!(text("2027-03-26"), "closed (Karfreitag, public holiday)");
        assert_eq!(text("2026-11-27"), "closed (Personalversammlung)");
        assert_eq!(
            text("2026-12-24"),
            "08:00–12:00 (Heiligabend, special hours)"
        );
        assert_eq!(text("2026-11-21"), "closed");
        let mut day = page("T", "Q", vec![interval("09:00", 4, 4, 4)]);
        assert!(!day.to_html().contains("data-key=\"hours\""));
        day.hours = Some(c.day("2026-11-19".parse().expect("date")));
        assert!(
            day.to_html()
                .contains("data-key=\"hours\">08:00–18:00</dd>")
        );
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            esc("<b>\"A&B\"</b> 'x'"),
            "&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt; &#39;x&#39;"
        );
        let html = page(
            "Amt <script>alert(1)</script> & Co",
            "Q\"><img src=x>",
            vec![interval("09:00", 4, 4, 4)],
        )
        .to_html();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x>"), "{html}");
        assert!(html.contains("Amt &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"));
        assert!(html.contains("Q&quot;&gt;&lt;img src=x&gt;"));
    }

    #[test]
    fn missing_ratios_show_a_dash_never_zero() {
        // Offered but nobody answered or hung up yet: no service level, no ASA.
        let html = page("T", "Q", vec![interval("09:00", 3, 0, 0)]).to_html();
        let row = html
            .lines()
            .find(|l| l.contains("data-start=\"2026-11-19T09:00:00+01:00\""))
            .expect("row");
        assert!(
            row.contains("data-key=\"service_level\" data-value=\"\">–</td>"),
            "{row}"
        );
        assert!(
            row.contains("data-key=\"asa_seconds\" data-value=\"\">–</td>"),
            "{row}"
        );
        assert!(!row.contains("0.0 %"), "{row}");
        assert!(html.contains("no calls to measure"));
        // The chart draws no service-level point for it.
        assert!(!html.contains("<polyline"), "no line without a level");
    }

    #[test]
    fn intervals_below_target_are_highlighted() {
        let html = page(
            "T",
            "Q",
            vec![interval("09:00", 10, 9, 10), interval("09:30", 10, 5, 10)],
        )
        .to_html();
        let row = |start: &str| {
            html.lines()
                .find(|l| l.contains(&format!("data-start=\"2026-11-19T{start}:00+01:00\"")))
                .expect("row")
                .to_owned()
        };
        assert!(!row("09:00").contains("class=\"below\""), "90 % meets 75 %");
        assert!(row("09:30").contains("class=\"below\""), "50 % misses 75 %");
        assert!(row("09:30").contains("below target"));
        assert!(
            html.contains("class=\"bar below\" x="),
            "the chart marks it too"
        );
        assert!(
            html.contains("<span class=\"missed\">target missed</span>"),
            "70 % for the day"
        );
        assert!(html.contains("data-key=\"target\">75 % in 30 s"));
    }

    #[test]
    fn the_page_needs_nothing_from_outside() {
        let html = page("T", "Q", vec![interval("09:00", 10, 9, 10)]).to_html();
        for outside in [
            "<script", "<link", "src=", "@import", "url(", "http://", "https://",
        ] {
            let outside_svg = html.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_svg.contains(outside), "{outside}");
        }
        assert!(html.contains("<svg"));
        assert!(html.contains("Generated by Leitstand"));
        assert!(html.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn the_count_axis_ends_round() {
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(17), 20);
        assert_eq!(nice_ceiling(51), 100);
        assert_eq!(nice_ceiling(200), 200);
    }

    #[test]
    fn the_first_contact_section_shows_concerns_and_departments_against_the_target() {
        use crate::books::{EndedCall, FirstContactRows};
        use std::sync::Arc;
        let mut rows = FirstContactRows::default();
        let call =
            |concern: Option<&str>, department: Option<&str>, resolved: Option<bool>| EndedCall {
                concern: concern.map(Arc::from),
                department: department.map(Arc::from),
                resolved,
            };
        rows.add(&call(Some("abfall"), None, Some(true)));
        rows.add(&call(Some("abfall"), None, Some(true)));
        rows.add(&call(Some("wohngeld"), Some("sozialamt"), Some(false)));
        rows.add(&call(None, None, None));
        let mut day = page("T", "Q", vec![interval("09:00", 4, 4, 4)]);
        day.sla.first_contact_target = Some(0.65);
        day.first_contact = FirstContactReport::from_rows(Some(0.65), &rows, 0);
        let html = day.to_html();
        assert!(
            html.contains("data-key=\"first_contact_target\">65 %"),
            "{html}"
        );
        let section = &html[html
            .find("data-section=\"first_contact\"")
            .expect("a first-contact section")..];
        let row = |attr: &str| {
            section
                .lines()
                .find(|l| l.starts_with(&format!("<tr {attr}")))
                .unwrap_or_else(|| panic!("{attr} row"))
                .to_owned()
        };
        let abfall = row("data-concern=\"abfall\"");
        assert!(
            abfall.contains("data-key=\"first_contact_resolution\" data-value=\"1.0\">100.0 %"),
            "{abfall}"
        );
        assert!(!abfall.contains("below"), "{abfall}");
        let wohngeld = row("data-concern=\"wohngeld\"");
        assert!(wohngeld.contains("class=\"below\""), "{wohngeld}");
        assert!(
            wohngeld.contains("data-key=\"handed_on\" data-value=\"1\""),
            "{wohngeld}"
        );
        // Unknown concern: nothing reported, so no figure, a dash, never 0.
        let unknown = row("data-concern=\"\"");
        assert!(unknown.contains(UNKNOWN_CONCERN), "{unknown}");
        assert!(
            unknown.contains("data-key=\"first_contact_resolution\" data-value=\"\">–</td>"),
            "{unknown}"
        );
        let center = row("data-department=\"\"");
        assert!(center.contains(SERVICE_CENTER), "{center}");
        assert!(
            center.contains("data-key=\"first_contact_resolution\" data-value=\"1.0\">100.0 %"),
            "{center}"
        );
        assert!(row("data-department=\"sozialamt\"").contains("class=\"below\""));
        // 2 of 3 reported: 66.7 % meets 65 %.
        assert!(section.contains("66.7 % <span class=\"vs\">vs. target 65.0 %</span> <span class=\"met\">target met</span>"));
        // A day without ended calls has no such section.
        let quiet = page("T", "Q", vec![interval("09:00", 4, 4, 4)]).to_html();
        assert!(!quiet.contains("data-section=\"first_contact\""));
        assert!(!quiet.contains("first_contact_target"));
    }
}
