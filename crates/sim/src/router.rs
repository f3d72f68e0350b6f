//! Route matching with PVE's rules: `{param}` segments match one segment, except that everything
//! after `.../content/` is one `{volume}`; a path with no route, or a route without that method,
//! is a 501.

use serde_json::Value;

use crate::auth::Principal;
use crate::error::PveResult;
use crate::params::Params;
use crate::state::World;

/// What a handler sees.
#[derive(Debug)]
pub struct Ctx {
    pub method: String,
    pub path: String,
    /// The route template, e.g. `/nodes/{node}/qemu/{vmid}/config`.
    pub template: &'static str,
    pub p: Params,
    pub who: Principal,
    /// Upload file part: (filename attribute, bytes).
    pub file: Option<(String, Vec<u8>)>,
    pub env: std::sync::Arc<Env>,
    /// download-url: the body fetched before the handler ran, or why fetching failed.
    pub fetched: Option<Result<Vec<u8>, String>>,
}

/// Fixed facts about this simulator instance that handlers need.
#[derive(Debug)]
pub struct Env {
    pub auth: crate::auth::AuthDb,
    /// The cluster CA (PEM), as consoles return it.
    pub ca_pem: String,
    /// SHA-256 fingerprint of the node certificate, as `/nodes` reports it.
    pub fingerprint: String,
    /// Each node's own certificate fingerprint, when nodes have their own addresses.
    pub node_fingerprints: std::collections::BTreeMap<String, String>,
}

/// A handler's answer: `data` as JSON text, plus `total` for lists that carry one and
/// `changes` for the node network's pending diff. Typed replies are serialised once, straight
/// to text (large listings stay fast).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub data: String,
    pub total: Option<u64>,
    pub changes: Option<String>,
}

impl Reply {
    pub fn data(v: impl Into<Value>) -> Self {
        Self { data: v.into().to_string(), total: None, changes: None }
    }
    pub fn null() -> Self {
        Self { data: "null".into(), total: None, changes: None }
    }
    pub fn with_total(v: Value, total: u64) -> Self {
        Self { data: v.to_string(), total: Some(total), changes: None }
    }
    pub fn json<T: serde::Serialize>(v: &T) -> Self {
        Self {
            data: serde_json::to_string(v).unwrap_or_else(|_| "null".into()),
            total: None,
            changes: None,
        }
    }
    /// PVE's `changes` beside `data`: the diff of pending network configuration.
    pub fn with_changes(mut self, changes: Option<String>) -> Self {
        self.changes = changes;
        self
    }
}

/// A handler that may change the world; it runs alone.
pub type WriteHandler = fn(&mut Ctx, &mut World) -> PveResult<Reply>;
/// A handler that only reads; any number run at once, beside no writer.
pub type ReadHandler = fn(&mut Ctx, &World) -> PveResult<Reply>;

#[derive(Debug, Clone, Copy)]
pub enum Handler {
    Write(WriteHandler),
    Read(ReadHandler),
}

#[derive(Debug)]
pub struct Route {
    pub method: &'static str,
    pub template: &'static str,
    pub handler: Handler,
    /// Whether the route changes state (auditors are refused; tickets need CSRF).
    pub write: bool,
}

pub enum Match<'a> {
    Found(&'a Route, Vec<(String, String)>),
    NoRoute,
}

fn split(template: &str) -> Vec<&str> {
    template.split('/').filter(|s| !s.is_empty()).collect()
}

/// A matching route, its count of literal segments, and its path parameters.
type Candidate<'a> = (&'a Route, usize, Vec<(String, String)>);

/// Find the route for a decoded path; more literal segments win.
pub fn find<'a>(routes: &'a [Route], method: &str, path: &str) -> Match<'a> {
    let raw: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut best: Option<Candidate<'_>> = None;
    for r in routes.iter().filter(|r| r.method == method) {
        let t = split(r.template);
        let volume_tail =
            t.len() >= 2 && t[t.len() - 1] == "{volume}" && t[t.len() - 2] == "content";
        let segs: Vec<String> = if raw.len() == t.len() {
            raw.iter().map(|s| s.to_string()).collect()
        } else if volume_tail && raw.len() > t.len() {
            let mut v: Vec<String> = raw[..t.len() - 1].iter().map(|s| s.to_string()).collect();
            v.push(raw[t.len() - 1..].join("/"));
            v
        } else {
            continue;
        };
        let mut params = Vec::new();
        let mut literals = 0;
        let ok = t.iter().zip(&segs).all(|(ts, v)| {
            if let Some(name) = ts.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                params.push((name.to_string(), v.clone()));
                true
            } else {
                literals += 1;
                ts == v
            }
        });
        if ok && best.as_ref().is_none_or(|(_, l, _)| literals > *l) {
            best = Some((r, literals, params));
        }
    }
    match best {
        Some((r, _, p)) => Match::Found(r, p),
        None => Match::NoRoute,
    }
}
