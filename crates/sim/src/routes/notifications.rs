//! Notifications (`/cluster/notifications`): sendmail, SMTP, Gotify and webhook endpoints and
//! matchers, made, read back (secrets never), changed and deleted with PVE's checks; test
//! sends, and the matcher fields and values the GUI offers. What the cluster sent is kept in
//! the world (`GET /_sim/notifications`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::common::user;
use super::ha::sha1_hex;
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::{NotifyEntry, World};

/// What one kind of entry takes.
struct Kind {
    name: &'static str,
    required: &'static [&'static str],
    strings: &'static [&'static str],
    arrays: &'static [&'static str],
    bools: &'static [&'static str],
    ints: &'static [&'static str],
    secrets: &'static [&'static str],
    enums: &'static [(&'static str, &'static [&'static str])],
}

const KINDS: &[Kind] = &[
    Kind {
        name: "sendmail",
        required: &[],
        strings: &["author", "comment", "from-address"],
        arrays: &["mailto", "mailto-user"],
        bools: &["disable"],
        ints: &[],
        secrets: &[],
        enums: &[],
    },
    Kind {
        name: "smtp",
        required: &["server", "from-address"],
        strings: &["author", "comment", "from-address", "server", "username"],
        arrays: &["mailto", "mailto-user"],
        bools: &["disable"],
        ints: &["port"],
        secrets: &["password"],
        enums: &[("mode", &["insecure", "starttls", "tls"])],
    },
    Kind {
        name: "gotify",
        required: &["server", "token"],
        strings: &["comment", "server"],
        arrays: &[],
        bools: &["disable"],
        ints: &[],
        secrets: &["token"],
        enums: &[],
    },
    Kind {
        name: "webhook",
        required: &["url", "method"],
        strings: &["body", "comment", "url"],
        arrays: &["header", "secret"],
        bools: &["disable"],
        ints: &[],
        secrets: &[],
        enums: &[("method", &["post", "put", "get"])],
    },
    Kind {
        name: "matcher",
        required: &[],
        strings: &["comment"],
        arrays: &["match-calendar", "match-field", "match-severity", "target"],
        bools: &["disable", "invert-match"],
        ints: &[],
        secrets: &[],
        enums: &[("mode", &["all", "any"])],
    },
];

const SEVERITIES: &[&str] = &["info", "notice", "warning", "error", "unknown"];

/// The kind a path names: `/cluster/notifications/endpoints/smtp/...` or `.../matchers/...`.
fn kind_of(path: &str) -> &'static Kind {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let name = match segs.get(2) {
        Some(&"matchers") => "matcher",
        _ => segs.get(3).copied().unwrap_or("sendmail"),
    };
    KINDS.iter().find(|k| k.name == name).unwrap_or(&KINDS[0])
}

fn entries<'a>(w: &'a World, kind: &Kind) -> Box<dyn Iterator<Item = &'a NotifyEntry> + 'a> {
    let name = kind.name;
    if name == "matcher" {
        Box::new(w.notifications.matchers.iter())
    } else {
        Box::new(w.notifications.endpoints.iter().filter(move |e| e.kind == name))
    }
}

fn entries_mut<'a>(w: &'a mut World, kind: &Kind) -> &'a mut Vec<NotifyEntry> {
    if kind.name == "matcher" {
        &mut w.notifications.matchers
    } else {
        &mut w.notifications.endpoints
    }
}

fn render(e: &NotifyEntry, with_digest: bool, with_origin: bool) -> Value {
    let mut m: Map<String, Value> = e.props.clone().into_iter().collect();
    m.insert("name".into(), json!(e.name));
    if with_origin {
        m.insert("origin".into(), json!(e.origin));
    }
    if with_digest {
        m.insert("digest".into(), json!(digest(e)));
    }
    Value::Object(m)
}

fn digest(e: &NotifyEntry) -> String {
    sha1_hex(&format!("{:?}{:?}", e.props, e.secrets))
}

fn not_found(kind: &Kind, name: &str) -> PveError {
    let what = if kind.name == "matcher" { "matcher" } else { "endpoint" };
    PveError::status(404, format!("{what} '{name}' does not exist"))
}

/// Read a create's or update's properties into `e`, checking values as PVE does.
fn read(ctx: &mut Ctx, kind: &Kind, e: &mut NotifyEntry) {
    for k in kind.strings {
        if let Some(v) = ctx.p.opt_str(k) {
            e.props.insert((*k).into(), json!(v));
        }
    }
    for (k, allowed) in kind.enums {
        if let Some(v) = ctx.p.opt_enum(k, allowed) {
            e.props.insert((*k).into(), json!(v));
        }
    }
    for k in kind.arrays {
        let v = ctx.p.list(k);
        if v.is_empty() {
            continue;
        }
        if *k == "secret" {
            // `name=<n>,value=<base64>`: the value is a secret, the name is shown.
            let names: Vec<String> = v
                .iter()
                .map(|s| s.split(',').find(|p| p.starts_with("name=")).unwrap_or("").to_string())
                .collect();
            e.secrets.insert("secret".into(), json!(v));
            e.props.insert("secret".into(), json!(names));
            continue;
        }
        e.props.insert((*k).into(), json!(v));
    }
    for k in kind.bools {
        if let Some(v) = ctx.p.opt_bool(k) {
            e.props.insert((*k).into(), json!(u8::from(v)));
        }
    }
    for k in kind.ints {
        if let Some(v) = ctx.p.opt_int(k, Some(1), Some(65535)) {
            e.props.insert((*k).into(), json!(v));
        }
    }
    for k in kind.secrets {
        if let Some(v) = ctx.p.opt_str(k) {
            e.secrets.insert((*k).into(), json!(v));
        }
    }
    for f in ctx_values(e, "match-field") {
        let ok = f.split_once(':').is_some_and(|(how, rest)| {
            matches!(how, "exact" | "regex")
                && rest.split_once('=').is_some_and(|(k, _)| !k.is_empty())
        });
        if !ok {
            ctx.p.invalid("match-field", format!("invalid match-field '{f}': expected exact:<field>=<value> or regex:<field>=<regex>"));
        }
    }
    for s in ctx_values(e, "match-severity") {
        for one in s.split(',') {
            if !SEVERITIES.contains(&one.trim()) {
                ctx.p.invalid("match-severity", format!("invalid severity '{one}'"));
            }
        }
    }
}

fn ctx_values(e: &NotifyEntry, key: &str) -> Vec<String> {
    match e.props.get(key) {
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    }
}

/// Checks across entries: every named target exists, sendmail has a recipient.
fn check(w: &World, kind: &Kind, e: &NotifyEntry) -> PveResult<()> {
    for k in kind.required {
        if !e.props.contains_key(*k) && !e.secrets.contains_key(*k) {
            return Err(PveError::param(k, "property is missing and it is not optional"));
        }
    }
    if kind.name == "sendmail"
        && !e.props.contains_key("mailto")
        && !e.props.contains_key("mailto-user")
    {
        return Err(PveError::param(
            "mailto",
            "at least one recipient (mailto or mailto-user) is required",
        ));
    }
    for t in e.targets() {
        if !w.notifications.endpoints.iter().any(|x| x.name == t) {
            return Err(PveError::param("target", format!("target '{t}' does not exist")));
        }
    }
    Ok(())
}

/// `GET /cluster/notifications`.
pub fn index(ctx: &mut Ctx, _w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let names = ["endpoints", "matcher-fields", "matcher-field-values", "matchers", "targets"];
    Ok(Reply::data(Value::Array(names.iter().map(|n| json!({"name": n})).collect())))
}

/// `GET /cluster/notifications/endpoints`.
pub fn endpoints_index(ctx: &mut Ctx, _w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let names = ["gotify", "sendmail", "smtp", "webhook"];
    Ok(Reply::data(Value::Array(names.iter().map(|n| json!({"name": n})).collect())))
}

/// `GET …/endpoints/{kind}` and `GET …/matchers`.
pub fn list(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let kind = kind_of(&ctx.path);
    Ok(Reply::data(Value::Array(entries(w, kind).map(|e| render(e, false, true)).collect())))
}

/// `GET …/endpoints/{kind}/{name}` and `GET …/matchers/{name}`.
pub fn get(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let name = ctx.p.str("name");
    ctx.p.finish()?;
    let kind = kind_of(&ctx.path);
    let e = entries(w, kind).find(|e| e.name == name).ok_or_else(|| not_found(kind, &name))?;
    Ok(Reply::data(render(e, true, false)))
}

/// `POST …/endpoints/{kind}` and `POST …/matchers`.
pub fn create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let kind = kind_of(&ctx.path);
    let name = ctx.p.str("name");
    let mut e = NotifyEntry {
        name: name.clone(),
        kind: kind.name.into(),
        props: BTreeMap::new(),
        secrets: BTreeMap::new(),
        origin: "user-created".into(),
    };
    read(ctx, kind, &mut e);
    ctx.p.finish()?;
    let taken =
        w.notifications.endpoints.iter().chain(&w.notifications.matchers).any(|x| x.name == name);
    if taken {
        return Err(PveError::die(format!(
            "could not create {}: entity with name '{name}' already exists",
            kind.name
        )));
    }
    check(w, kind, &e)?;
    entries_mut(w, kind).push(e);
    Ok(Reply::null())
}

/// `PUT …/endpoints/{kind}/{name}` and `PUT …/matchers/{name}`.
pub fn update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let kind = kind_of(&ctx.path);
    let name = ctx.p.str("name");
    let delete = ctx.p.list("delete");
    let digest_given = ctx.p.opt_str("digest");
    let found = entries(w, kind).find(|e| e.name == name).cloned();
    let mut e = found.clone().unwrap_or_else(|| NotifyEntry {
        name: name.clone(),
        kind: kind.name.into(),
        props: BTreeMap::new(),
        secrets: BTreeMap::new(),
        origin: String::new(),
    });
    read(ctx, kind, &mut e);
    ctx.p.finish()?;
    let old = found.ok_or_else(|| not_found(kind, &name))?;
    if digest_given.is_some_and(|d| d != digest(&old)) {
        return Err(PveError::die(
            "detected modified configuration - file changed by other user? Try again.",
        ));
    }
    for key in delete.iter().flat_map(|d| d.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        if kind.required.contains(&key) {
            return Err(PveError::param(
                "delete",
                format!("cannot delete required property '{key}'"),
            ));
        }
        e.props.remove(key);
        e.secrets.remove(key);
    }
    if e.origin == "builtin" {
        e.origin = "modified-builtin".into();
    }
    check(w, kind, &e)?;
    if let Some(slot) = entries_mut(w, kind).iter_mut().find(|x| x.name == name) {
        *slot = e;
    }
    Ok(Reply::null())
}

/// `DELETE …/endpoints/{kind}/{name}` and `DELETE …/matchers/{name}`.
pub fn delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let kind = kind_of(&ctx.path);
    let name = ctx.p.str("name");
    ctx.p.finish()?;
    let e =
        entries(w, kind).find(|e| e.name == name).cloned().ok_or_else(|| not_found(kind, &name))?;
    if e.origin != "user-created" {
        return Err(PveError::die(format!("cannot delete built-in entity '{name}'")));
    }
    if let Some(m) = w.notifications.matchers.iter().find(|m| m.targets().contains(&name)) {
        return Err(PveError::die(format!(
            "cannot delete '{name}': it is still used by matcher '{}'",
            m.name
        )));
    }
    entries_mut(w, kind).retain(|x| x.name != name);
    Ok(Reply::null())
}

/// `GET /cluster/notifications/targets`: every endpoint, whatever its kind.
pub fn targets(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let out: Vec<Value> = w
        .notifications
        .endpoints
        .iter()
        .map(|e| {
            let mut v = json!({"name": e.name, "type": e.kind, "origin": e.origin});
            for k in ["comment", "disable"] {
                if let Some(x) = e.props.get(k) {
                    v[k] = x.clone();
                }
            }
            v
        })
        .collect();
    Ok(Reply::data(Value::Array(out)))
}

/// `POST /cluster/notifications/targets/{name}/test`: a test notification to one target.
pub fn test(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let name = ctx.p.str("name");
    ctx.p.finish()?;
    if !w.notifications.endpoints.iter().any(|e| e.name == name) {
        return Err(PveError::status(404, format!("target '{name}' does not exist")));
    }
    let fields = BTreeMap::from([("type".to_string(), "test".to_string())]);
    let time = w.now_secs();
    w.notifications.sent.push(crate::state::Sent {
        target: name,
        severity: "info".into(),
        title: format!("Test notification (sent by {})", user(ctx)),
        fields,
        time,
    });
    Ok(Reply::null())
}

/// `GET /cluster/notifications/matcher-fields`.
pub fn matcher_fields(ctx: &mut Ctx, _w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    Ok(Reply::data(json!([{"name": "hostname"}, {"name": "job-id"}, {"name": "type"}])))
}

/// `GET /cluster/notifications/matcher-field-values`: the values notifications here carry.
pub fn matcher_field_values(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let mut out: Vec<Value> =
        ["fencing", "package-updates", "replication", "system-mail", "vzdump"]
            .iter()
            .map(|t| json!({"field": "type", "value": t}))
            .collect();
    out.extend(w.nodes.keys().map(|n| json!({"field": "hostname", "value": n})));
    out.extend(w.backup_jobs.keys().map(|id| json!({"field": "job-id", "value": id})));
    Ok(Reply::data(Value::Array(out)))
}
