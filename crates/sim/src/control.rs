//! The simulator's control API under `/_sim/`, apart from the PVE routes: time control, fault
//! injection, lock holds, quorum, slow storage, cloud-init outcomes and request counters.
//! It needs the admin token or a root ticket.

use std::collections::BTreeMap;

use http::Method;
use proxctl_types::VmId;
use proxctl_types::wire::FormParams;
use serde_json::{Value, json};

use crate::auth::{Role, cookie_ticket};
use crate::faults::Faults;
use crate::http::{Resp, Shared, json_response};
use crate::lock::{LockKey, LockMode, Owner};
use crate::state::World;
use crate::task::Plan;

/// Task type of the simulator's own bookkeeping tasks; never listed.
pub const INTERNAL_TASK: &str = "_sim";

pub async fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Resp {
    if !authorized(shared, method, headers) {
        return json_response(
            401,
            json!({"error": "the control API needs the admin token or a root ticket"}),
        );
    }
    let q: BTreeMap<String, String> = FormParams::decode(query).into_vec().into_iter().collect();
    // Durations are simulated milliseconds, at most ten years: a larger one is a mistake
    // (or an overflow), not a wish to jump to the year 584 million.
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok()).filter(|v| *v <= MAX_MS);
    let resp = {
        let mut w = shared.world();
        match (method.as_str(), path.trim_end_matches('/')) {
            ("GET", "/_sim/state") => Ok(state_summary(&w)),
            ("POST", "/_sim/advance") => match num("ms") {
                Some(ms) => {
                    let t = w.now + ms;
                    w.advance_to(t);
                    Ok(json!({"now": w.now}))
                }
                None => Err(format!(
                    "advance needs ?ms=<simulated milliseconds>, at most {MAX_MS} (ten years)"
                )),
            },
            ("POST", "/_sim/step") => {
                let advanced = step(&mut w);
                Ok(json!({"now": w.now, "advanced": advanced}))
            }
            ("POST", "/_sim/settle") => {
                settle(&mut w);
                Ok(json!({"now": w.now}))
            }
            ("GET", "/_sim/counters") => {
                Ok(json!(*shared.counters.lock().unwrap_or_else(|p| p.into_inner())))
            }
            ("DELETE", "/_sim/counters") => {
                shared.counters.lock().unwrap_or_else(|p| p.into_inner()).clear();
                Ok(Value::Null)
            }
            ("GET", "/_sim/notifications") => {
                Ok(serde_json::to_value(&w.notifications.sent).unwrap_or(Value::Null))
            }
            ("GET", "/_sim/faults") => Ok(serde_json::to_value(&w.faults).unwrap_or(Value::Null)),
            ("PUT", "/_sim/faults") => match serde_json::from_slice::<Faults>(body) {
                Ok(f) => match f.validate() {
                    Ok(()) => {
                        w.faults = f;
                        // A node going down or coming back is news for the HA manager.
                        crate::ha::wake(&mut w);
                        Ok(Value::Null)
                    }
                    Err(e) => Err(format!("faults not set: {e}")),
                },
                Err(e) => Err(format!("faults body is not valid: {e}")),
            },
            ("PUT", "/_sim/quorum") => {
                w.quorate = q.get("quorate").is_none_or(|v| v == "1");
                crate::ha::wake(&mut w);
                Ok(json!({"quorate": w.quorate}))
            }
            ("POST", "/_sim/locks") => {
                let key = q.get("key").map(String::as_str).unwrap_or("");
                let mode = if q.get("mode").is_some_and(|m| m == "shared") {
                    LockMode::Shared
                } else {
                    LockMode::Exclusive
                };
                match (parse_lock_key(key), num("ms")) {
                    (Some(k), Some(ms)) => hold_lock(&mut w, k, mode, ms).map(|_| Value::Null),
                    _ => Err(
                        "locks needs ?key=config:<vmid>|storage:<id>&ms=<duration>[&mode=shared]"
                            .into(),
                    ),
                }
            }
            ("PUT", "/_sim/storage") => match (q.get("id"), num("alloc_ms")) {
                (Some(id), Some(ms)) => match w.storages.get_mut(id) {
                    Some(s) => {
                        s.alloc_ms = ms;
                        Ok(Value::Null)
                    }
                    None => Err(format!("no storage '{id}'")),
                },
                _ => Err("storage needs ?id=<storage>&alloc_ms=<ms>".into()),
            },
            ("PUT", "/_sim/cloud-init") => {
                w.cloud_init_ok = q.get("ok").is_none_or(|v| v == "1");
                Ok(Value::Null)
            }
            _ => Err(format!("no control route {method} {path}")),
        }
    };
    shared.changed.notify_waiters();
    match resp {
        Ok(v) => json_response(200, json!({ "data": v })),
        Err(e) => json_response(400, json!({ "error": e })),
    }
}

/// Ten years of simulated milliseconds: the longest duration a control call takes.
pub const MAX_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

/// The admin token, or a root ticket; with a ticket, a change also needs the CSRF token, as
/// on the PVE routes (a cookie alone is what a cross-site request carries).
fn authorized(shared: &Shared, method: &Method, headers: &http::HeaderMap) -> bool {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(a) = h("authorization")
        && let Some(p) = shared.env.auth.verify_token_header(a)
    {
        return p.role == Role::Admin;
    }
    let now = shared.read().now_secs();
    let root = h("cookie")
        .and_then(cookie_ticket)
        .and_then(|t| shared.env.auth.verify_ticket(&t, now))
        .filter(|u| u == "root@pam");
    match root {
        Some(user) if *method == Method::GET => !user.is_empty(),
        Some(user) => {
            shared.env.auth.verify_csrf(h("csrfpreventiontoken").unwrap_or(""), &user, now)
        }
        None => false,
    }
}

pub fn state_summary(w: &World) -> Value {
    json!({
        "now": w.now,
        "nodes": w.nodes.keys().collect::<Vec<_>>(),
        "guests": w.guests.len(),
        "running_tasks": w.tasks.iter().filter(|t| t.is_running() && t.upid.task_type != INTERNAL_TASK).count(),
        "quorate": w.quorate,
    })
}

/// Advance to the next task event. `false` when nothing is pending.
pub fn step(w: &mut World) -> bool {
    match w.next_event() {
        Some(t) => {
            let t = t.max(w.now);
            w.advance_to(t);
            true
        }
        None => false,
    }
}

/// Advance until no task is running and the HA manager is idle (bounded, so a stuck plan cannot spin forever).
pub fn settle(w: &mut World) {
    for _ in 0..100_000 {
        let busy = w.ha_due.is_some() || w.tasks.iter().any(|t| t.is_running());
        if !busy || !step(w) {
            return;
        }
    }
}

fn parse_lock_key(s: &str) -> Option<LockKey> {
    let (kind, id) = s.split_once(':')?;
    match kind {
        "config" => id.parse::<VmId>().ok().map(LockKey::Config),
        "storage" => Some(LockKey::Storage(id.to_string())),
        _ => None,
    }
}

/// Hold a lock as the control owner for `ms` of simulated time.
pub fn hold_lock(w: &mut World, key: LockKey, mode: LockMode, ms: u64) -> Result<(), String> {
    if !w.locks.try_acquire(&key, mode, Owner::Control) {
        return Err(format!("{key:?} is held by someone else"));
    }
    let k = key.clone();
    let node = w.first_node();
    w.spawn(
        &node,
        INTERNAL_TASK,
        "",
        "root@pam",
        Plan::new().sleep(ms).act(move |w, _| {
            w.locks.release(&k, Owner::Control);
            w.wake_lock_waiters();
            Ok(())
        }),
    );
    Ok(())
}
