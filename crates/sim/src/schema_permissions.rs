//! Each method's `permissions` from the schema the user gave (`--schema`), checked as PVE's
//! RPC environment checks them: `perm` on a path with the request's parameters filled in (all
//! privileges, or `any`), `and`/`or`, `userid-param` (`self` or a realm privilege),
//! `userid-group` and `perm-modify`; `user: all` lets any authenticated caller through (the
//! handler then filters what it shows). What cannot be worked out falls back to the route's
//! own rule (`permissions::required`).

use serde_json::Value;

use crate::permissions::allowed;
use crate::state::World;

/// The outcome of a schema check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused: the path and privilege PVE names in `Permission check failed (path, priv)`.
    Denied {
        path: String,
        privilege: String,
    },
    /// The schema says nothing we can evaluate; use the route's rule.
    Unknown,
}

/// Check `who` (a user or token made through `/access`) against a method's `permissions`.
pub fn check(
    w: &World,
    who: &str,
    permissions: Option<&Value>,
    params: &[(String, String)],
) -> Verdict {
    let Some(p) = permissions else { return Verdict::Unknown };
    if let Some("all" | "world") = p.get("user").and_then(Value::as_str) {
        return Verdict::Allowed;
    }
    match p.get("check") {
        Some(expr) => eval(w, who, expr, params),
        None => Verdict::Unknown,
    }
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `/vms/{vmid}` with the request's `vmid`; `None` when a placeholder has no value.
fn fill(template: &str, params: &[(String, String)]) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}')? + start;
        out.push_str(&rest[..start]);
        out.push_str(param(params, &rest[start + 1..end])?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn perm(w: &World, who: &str, path: &str, privs: &[&str], any: bool) -> Verdict {
    let missing: Vec<&&str> = privs.iter().filter(|p| !allowed(w, who, path, p)).collect();
    let ok = if any { missing.len() < privs.len() } else { missing.is_empty() };
    match (ok, missing.first()) {
        (true, _) => Verdict::Allowed,
        (false, Some(p)) => {
            Verdict::Denied { path: path.to_string(), privilege: (**p).to_string() }
        }
        (false, None) => Verdict::Unknown,
    }
}

fn eval(w: &World, who: &str, expr: &Value, params: &[(String, String)]) -> Verdict {
    let Some(items) = expr.as_array() else { return Verdict::Unknown };
    let op = items.first().and_then(Value::as_str).unwrap_or_default();
    let user = who.split('!').next().unwrap_or(who);
    match op {
        "perm" => {
            let Some(path) = items.get(1).and_then(Value::as_str).and_then(|t| fill(t, params))
            else {
                return Verdict::Unknown;
            };
            let privs = strings(items.get(2));
            let any = items
                .iter()
                .skip(3)
                .collect::<Vec<_>>()
                .windows(2)
                .any(|p| p[0].as_str() == Some("any") && p[1].as_i64().is_some_and(|n| n != 0));
            perm(w, who, &path, &privs, any)
        }
        "and" => {
            for e in &items[1..] {
                match eval(w, who, e, params) {
                    Verdict::Allowed => {}
                    other => return other,
                }
            }
            Verdict::Allowed
        }
        "or" => {
            let mut first_denial = Verdict::Unknown;
            for e in &items[1..] {
                match eval(w, who, e, params) {
                    Verdict::Allowed => return Verdict::Allowed,
                    d @ Verdict::Denied { .. } if first_denial == Verdict::Unknown => {
                        first_denial = d
                    }
                    _ => {}
                }
            }
            first_denial
        }
        "userid-param" => {
            let target = param(params, "userid").unwrap_or_default();
            match items.get(1).and_then(Value::as_str) {
                Some("self") if target == user => Verdict::Allowed,
                Some("self") => {
                    Verdict::Denied { path: "/access".into(), privilege: "self".into() }
                }
                Some(privilege) => {
                    let realm = target.rsplit('@').next().unwrap_or_default();
                    perm(w, who, &format!("/access/realm/{realm}"), &[privilege], false)
                }
                None => Verdict::Unknown,
            }
        }
        // PVE checks any of the privileges here (`check_any`), on /access/groups.
        "userid-group" => perm(w, who, "/access/groups", &strings(items.get(1)), true),
        "perm-modify" => {
            let Some(path) = items.get(1).and_then(Value::as_str).and_then(|t| fill(t, params))
            else {
                return Verdict::Unknown;
            };
            perm(w, who, &path, &["Permissions.Modify"], false)
        }
        _ => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_template_takes_the_requests_parameters() {
        let p = vec![("vmid".to_string(), "100".to_string())];
        assert_eq!(fill("/vms/{vmid}", &p).as_deref(), Some("/vms/100"));
        assert_eq!(fill("/storage/{storage}", &p), None);
        assert_eq!(fill("/", &p).as_deref(), Some("/"));
    }

    #[test]
    fn user_all_lets_any_caller_through_and_unknown_forms_fall_back() {
        let w = World::new(1, 1, 1_767_225_600_000);
        let all = serde_json::json!({"user": "all"});
        assert_eq!(check(&w, "a@pve!t", Some(&all), &[]), Verdict::Allowed);
        let odd = serde_json::json!({"check": ["something-new", 1]});
        assert_eq!(check(&w, "a@pve!t", Some(&odd), &[]), Verdict::Unknown);
        assert_eq!(check(&w, "a@pve!t", None, &[]), Verdict::Unknown);
    }

    #[test]
    fn userid_group_needs_any_one_of_its_privileges() {
        let mut w = World::new(1, 1, 1_767_225_600_000);
        w.access.users.insert("aud@pve".into(), Default::default());
        w.access.acl.push(crate::routes::users::AclEntry {
            path: "/".into(),
            kind: "user".into(),
            ugid: "aud@pve".into(),
            roleid: "PVEAuditor".into(),
            propagate: true,
        });
        let p = vec![("userid".to_string(), "x@pve".to_string())];
        let read = serde_json::json!({"check": ["userid-group", ["User.Modify", "Sys.Audit"]]});
        assert_eq!(check(&w, "aud@pve", Some(&read), &p), Verdict::Allowed);
        let write = serde_json::json!({"check": ["userid-group", ["User.Modify"]]});
        assert!(matches!(check(&w, "aud@pve", Some(&write), &p), Verdict::Denied { .. }));
    }

    #[test]
    fn a_perm_check_names_the_first_missing_privilege() {
        let w = World::new(1, 1, 1_767_225_600_000);
        let p = vec![("vmid".to_string(), "100".to_string())];
        let needs = serde_json::json!({"check": ["perm", "/vms/{vmid}", ["VM.PowerMgmt"]]});
        assert_eq!(
            check(&w, "nobody@pve", Some(&needs), &p),
            Verdict::Denied { path: "/vms/100".into(), privilege: "VM.PowerMgmt".into() }
        );
    }
}
