//! The daemon's side of the operators' endpoints under `/admin/` that act on tenants:
//! handlers given the registry. The route, the admin token and its guard are
//! [`crate::http::Admin`]'s.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::routing::{MethodRouter, post};

use leitstand_contract::envelope::TenantId;
use leitstand_engine::registry::Registry;
use leitstand_metrics::Metrics;

/// `POST /admin/plugins/{tenant}/{plugin}/enable`: lifts the plugin's quarantine on this
/// node at once, instead of waiting for its backoff or a changed bundle; its failures in a
/// row and its backoff start again from nothing, and `leitstand_plugin_quarantined` goes to
/// 0. Answers 200 whether it was switched off or not (the text says which), 400 for a
/// tenant id that is not one, 404 for a tenant without bundle or a plugin its bundle does
/// not have. The quarantine is each node's own: in a cluster, ask the nodes that work the
/// tenant.
pub fn enable_plugin_endpoint(registry: Arc<Registry>, metrics: Arc<Metrics>) -> MethodRouter {
    post(move |Path((tenant, plugin)): Path<(String, String)>| {
        let (registry, metrics) = (registry.clone(), metrics.clone());
        async move {
            let (status, text) = enable_plugin(&registry, &metrics, &tenant, &plugin);
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{text}\n"),
            )
        }
    })
}

fn enable_plugin(
    registry: &Registry,
    metrics: &Metrics,
    tenant: &str,
    plugin: &str,
) -> (StatusCode, String) {
    let id = match TenantId::parse(tenant) {
        Ok(id) => id,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("tenant {tenant:?}: {e}")),
    };
    let Some(slot) = registry.slot(&id) else {
        return (
            StatusCode::NOT_FOUND,
            format!("tenant {tenant:?} has no bundle on this node"),
        );
    };
    match slot.runtime().release(plugin) {
        None => (
            StatusCode::NOT_FOUND,
            format!("tenant {tenant:?} has no plugin {plugin:?} in its bundle"),
        ),
        Some(was) => {
            metrics
                .plugin_quarantined
                .with_label_values(&[tenant, plugin])
                .set(0);
            if was {
                tracing::info!(tenant = %tenant, plugin = %plugin, "POST /admin/plugins/…/enable: quarantine lifted");
                (
                    StatusCode::OK,
                    format!("plugin {plugin:?} of tenant {tenant:?} is back in service"),
                )
            } else {
                (
                    StatusCode::OK,
                    format!(
                        "plugin {plugin:?} of tenant {tenant:?} was not quarantined; its failures in a row start again from 0"
                    ),
                )
            }
        }
    }
}
