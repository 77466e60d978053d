//! # Leitstand plugin: the 24/7 rota and overflow
//!
//! Decides for every offered call where it goes, by the tenant's calendar and the sites'
//! live capacity:
//!
//! * **Open or closed.** The host answers from the calendar the tenant declares once in
//!   its bundle (its own, or the named one `calendar` gives): weekly hours, the public
//!   holidays of its state, closed days, special days with hours of their own. A closed
//!   line sends the call to the out-of-hours destination — a 24/7 provider or an
//!   announcement — with reason `out-of-hours`, or `holiday` on a holiday, closed or
//!   special day.
//! * **Who is on duty.** Shifts by weekday and local time name the primary site (early
//!   shift Kaiserslautern, late shift Pirmasens, …); outside every shift, the default site.
//! * **Overflow.** `site.status` events report each site's capacity; the plugin keeps the
//!   latest per site. When the primary is full, the call goes to the first partner that is
//!   not, else to `when_all_full` or the primary (reason `all-full`).
//! * **Emergencies** may have a destination of their own.
//!
//! Layout: [`config`] parses and checks the configuration; [`duty`] answers "who is on
//! duty?" from the local wall time; [`capacity`] judges site statuses and picks the
//! overflow site; [`route`] puts the rules together into one decision. This file only
//! connects them to the host: event in, the calendar asked, state read and written,
//! command out.
//!
//! The plugin sees event time only, so a replay decides exactly as the live run did.

pub mod capacity;
pub mod config;
pub mod duty;
pub mod route;

use leitstand_sdk::{
    ConfigError, Context, Error, Event, Kind, Plugin, SiteStatus, log, metrics, plugin, state,
};

use crate::capacity::SiteRecord;
use crate::config::Config;
use crate::route::Line;

/// The plugin. Nothing lasts from one event to the next but what it keeps in [`state`].
pub struct Rota;

impl Plugin for Rota {
    type Config = Config;

    fn check(config: &Config) -> Result<(), ConfigError> {
        config::check(config)?;
        config::check_calendar(config)
    }

    fn handle(ctx: &mut Context, config: &Config, event: &Event) -> Result<(), Error> {
        match &event.kind {
            Kind::CallOffered(call) => {
                if !config.routes(&call.queue) {
                    return Ok(());
                }
                let now = ctx.now();
                let calendar = config.calendar();
                let line = Line {
                    open: calendar.is_open(now)?,
                    day: calendar.day_at(now)?,
                };
                let local = ctx.local_now()?.naive_local();
                let decision = route::decide(config, call, &line, local, now.ms(), |site| {
                    state::get::<SiteRecord>(&status_key(site))
                })?;
                let Some(route) = decision else {
                    return Ok(());
                };
                metrics::count(route.reason.metric(), 1)?;
                log::debug(&format!(
                    "call {} routed to {} ({})",
                    call.call_id,
                    route.target,
                    route.reason.as_str()
                ));
                ctx.emit(route.command(call));
            }
            Kind::SiteStatus(status) => keep_status(config, event, status)?,
            _ => {}
        }
        Ok(())
    }
}

/// The state key of a site's last status.
pub fn status_key(site: &str) -> String {
    format!("site/{site}")
}

/// Keeps `status` as its site's latest, unless the site is not one of the rota's or a
/// later status is already kept (events may arrive out of order; the later event time
/// wins, and of two with the same time the one handled last).
fn keep_status(config: &Config, event: &Event, status: &SiteStatus) -> Result<(), Error> {
    if !config.sites.contains_key(&status.site) {
        log::debug(&format!(
            "status of site {} ignored: not in `sites`",
            status.site
        ));
        return Ok(());
    }
    let key = status_key(&status.site);
    let time_ms = event.time.ms();
    if let Some(kept) = state::get::<SiteRecord>(&key)?
        && kept.time_ms > time_ms
    {
        log::debug(&format!(
            "status {} of site {} ignored: {} is later",
            event.id, status.site, kept.event_id
        ));
        return Ok(());
    }
    state::put(
        &key,
        &SiteRecord {
            agents_staffed: status.agents_staffed,
            agents_available: status.agents_available,
            calls_waiting: status.calls_waiting,
            time_ms,
            event_id: event.id.clone(),
        },
    )
}

plugin!(Rota);
