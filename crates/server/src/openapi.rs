//! The OpenAPI 3.1 document, generated from the handlers' annotations and the Rust types
//! they take and return (never written by hand). A test checks it lists exactly the routes
//! of the route table.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    act, attention, backups, changes, cluster, declare, guests, inspect, jobs, lifecycle, meta,
    metrics, nodes, notifications, releases, stream, templates, tokens,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "proxctl",
        description = "Proxmox VE clusters, run well: the REST face of proxctl. Every route \
                       but the probes needs `Authorization: Bearer <token>`; errors are RFC 9457 \
                       problem details; long work answers 202 with an operation to follow.",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::mcp::handle,
        changes::list,
        changes::approve,
        changes::reject,
        meta::healthz,
        meta::readyz,
        meta::openapi_json,
        meta::reference_page,
        metrics::all,
        metrics::exporter,
        backups::coverage,
        cluster::remotes,
        cluster::nodes,
        cluster::storage,
        cluster::tasks,
        attention::list,
        cluster::task_log,
        cluster::networks,
        cluster::sdn,
        cluster::ha,
        cluster::cluster_status,
        guests::list,
        guests::detail,
        inspect::describe,
        inspect::rrddata,
        inspect::desired,
        guests::power,
        guests::bulk,
        guests::snapshots,
        act::snapshot_create,
        act::snapshot_delete,
        act::tags,
        act::delete,
        templates::list,
        templates::catalog,
        templates::build,
        templates::rebuild,
        templates::rollback,
        act::sweep,
        backups::create,
        backups::update,
        backups::restore,
        backups::prune,
        nodes::drain,
        nodes::undrain,
        nodes::doctor,
        cluster::tags,
        jobs::list,
        jobs::create,
        jobs::show,
        jobs::change,
        jobs::delete,
        jobs::history,
        jobs::run,
        notifications::targets,
        notifications::add_target,
        notifications::delete_target,
        notifications::matchers,
        notifications::add_matcher,
        notifications::delete_matcher,
        notifications::dead_letters,
        declare::export,
        declare::adopt,
        lifecycle::create,
        lifecycle::clone,
        lifecycle::set,
        lifecycle::resize,
        lifecycle::migrate,
        lifecycle::rollback,
        guests::backups,
        meta::audit,
        stream::events,
        meta::operations,
        meta::operation,
        tokens::list,
        declare::create,
        declare::apply,
        declare::drift,
        declare::history,
        releases::charts,
        releases::chart,
        releases::render,
        releases::list,
        releases::install,
        releases::show,
        releases::uninstall,
        releases::manifest,
        releases::upgrade,
        releases::rollback,
    ),
    modifiers(&BearerAuth),
    security(("token" = [])),
    tags(
        (name = "guests", description = "VMs and containers, by remote and VMID"),
        (name = "lifecycle", description = "Create, clone, change, grow, move and roll back guests"),
        (name = "backups", description = "vzdump backups: take, protect, restore, prune"),
        (name = "templates", description = "Template versions, the image catalog, builds"),
        (name = "jobs", description = "Scheduled jobs and their runs"),
        (name = "notifications", description = "Where notifications go, and which"),
        (name = "cluster", description = "Remotes, nodes, storage and tasks"),
        (name = "operations", description = "Long work started over the API"),
        (name = "declare", description = "Manifests, plans, applies and drift"),
        (name = "charts", description = "Charts and the releases installed from them (docs/charts.md)"),
        (name = "access", description = "API tokens"),
        (name = "meta", description = "Probes and this document"),
        (name = "mcp", description = "The Model Context Protocol endpoint for AI assistants (docs/mcp.md)"),
    )
)]
struct Doc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = matches!(path.as_str(), "/healthz" | "/readyz");
            for (has_body, op) in [
                (false, &mut item.get),
                (true, &mut item.post),
                (true, &mut item.put),
                (true, &mut item.patch),
                (false, &mut item.delete),
            ] {
                if let Some(op) = op {
                    problems(op, public, has_body);
                }
            }
        }
    }
}

/// Every error answer is a problem (`application/problem+json`); the ones any route can give
/// (bad input, no or a weak token, rate, size, a store or remote that is down) are declared on
/// every route, so clients and schema checkers know them all.
fn problems(op: &mut utoipa::openapi::path::Operation, public: bool, has_body: bool) {
    use utoipa::openapi::{Content, Ref, RefOr, Response};
    let content = || Content::new(Some(Ref::from_schema_name("Problem")));
    for r in op.responses.responses.values_mut() {
        if let RefOr::T(resp) = r
            && resp.content.values().any(|c| {
                matches!(&c.schema, Some(RefOr::Ref(x)) if x.ref_location.ends_with("/Problem"))
            })
        {
            resp.content.clear();
            resp.content.insert("application/problem+json".into(), content());
        }
    }
    let mut common: Vec<(&str, &str)> = vec![
        ("400", "Bad input: the problem says which and why"),
        ("500", "Something failed on the server's side"),
    ];
    if !public {
        common.extend([
            ("401", "No token, or not a valid one"),
            ("403", "The token's role does not allow this route"),
            ("404", "No such remote, guest or operation, or outside the token's scope"),
            ("409", "Busy or taken: a lock, a VMID, a changed config, a stale plan"),
            ("429", "The token sends more requests than its rate limit"),
            ("502", "Proxmox said no, or a task failed: the detail carries its message"),
            ("503", "A remote or the state store cannot be reached"),
        ]);
    }
    if has_body {
        common.extend([("413", "The request body is too large"), ("415", "The body is not JSON")]);
    }
    for (status, text) in common {
        op.responses.responses.entry(status.to_string()).or_insert_with(|| {
            let mut resp = Response::new(text);
            resp.content.insert("application/problem+json".into(), content());
            RefOr::T(resp)
        });
    }
}

/// The document, as JSON text.
pub fn document() -> String {
    Doc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".into())
}

/// The document, as a value (for tests and tools).
pub fn value() -> serde_json::Value {
    serde_json::to_value(Doc::openapi()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_exactly_the_routes_of_the_table() {
        let doc = value();
        let mut documented = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in item.as_object().into_iter().flatten().map(|(m, _)| m.to_uppercase()) {
                documented.insert((method, path.clone()));
            }
        }
        let routed: std::collections::BTreeSet<(String, String)> = crate::routes::table()
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        assert_eq!(documented, routed);
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
