//! The answer for every schema method the simulator has no code for, when a schema is loaded
//! (`--schema`): the parameters validated as for every route, then data of the shape the
//! method's `returns` declares (`proxctl_schema::sample`), or, for a change that returns a
//! string (a UPID in PVE), a task that logs and ends OK. Nothing here changes the world, so
//! what such a call "made" does not read back; the stateful families are the route modules.

use proxctl_schema::{ApiSchema, Violation};

use crate::auth::{Principal, Role};
use crate::error::PveError;
use crate::router::Reply;
use crate::task::Plan;

/// What the generic layer decided for one request.
pub enum Generic {
    /// The schema has no such method: PVE's 501.
    NotInSchema,
    /// The parameters do not fit: PVE's 400, and a violation to record.
    Invalid(PveError, String),
    /// Refused before acting (an auditor asking for a change).
    Refused(PveError),
    /// Answer with this.
    Data(Reply),
    /// Start a task of this type on this node and answer with its UPID.
    Task { node: Option<String>, task_type: String },
}

/// Decide how to answer `method path` with `params` from the schema alone.
pub fn decide(
    schema: &ApiSchema,
    who: &Principal,
    method: &str,
    path: &str,
    params: &[(String, String)],
) -> Generic {
    let Some((template, path_params)) = schema.match_path(path) else {
        return Generic::NotInSchema;
    };
    let Some(info) = schema.method(method, template) else {
        return Generic::NotInSchema;
    };
    match schema.validate(method, path, params) {
        Ok(_) => {}
        Err(Violation::NoRoute { .. }) => return Generic::NotInSchema,
        Err(Violation::Params(e)) => {
            let note = format!("{method} {path}: {e:?}");
            return Generic::Invalid(PveError::params(e), note);
        }
    }
    if method != "GET" && who.role == Role::Auditor {
        return Generic::Refused(PveError::forbidden("/", "Sys.Modify"));
    }
    let returns = info.get("returns").cloned().unwrap_or_default();
    let is_string = returns.get("type").and_then(|t| t.as_str()) == Some("string");
    if method != "GET" && is_string {
        // PVE's long work answers with a UPID; a task that ends OK keeps clients that wait
        // on it working. Its type is the path's last word, as PVE's own are named after it.
        let task_type = template
            .rsplit('/')
            .find(|s| !s.starts_with('{'))
            .unwrap_or("generic")
            .replace(['-', '_'], "");
        return Generic::Task { node: path_params.get("node").cloned(), task_type };
    }
    Generic::Data(Reply::json(&proxctl_schema::sample(&returns)))
}

/// The task a generic change runs.
pub fn plan(method: &str, path: &str) -> Plan {
    Plan::new().log(format!("{method} {path}: done (simulated, nothing changed)")).sleep(200)
}
