//! `/nodes/{node}/tasks`: status, log, list and stop (§3.3–3.5).

use proxctl_types::api::{TaskListItem, TaskLogLine, TaskStatus};
use serde_json::Value;

use super::common::node;
use crate::control::INTERNAL_TASK;
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::World;
use crate::task::Task;

fn split_user(u: &str) -> (String, Option<String>) {
    match u.split_once('!') {
        Some((user, tok)) => (user.to_string(), Some(tok.to_string())),
        None => (u.to_string(), None),
    }
}

pub fn list_item(t: &Task) -> TaskListItem {
    let (user, tokenid) = split_user(&t.upid.user);
    TaskListItem {
        upid: t.upid.clone(),
        node: t.upid.node.clone(),
        pid: Some(u64::from(t.upid.pid)),
        pstart: Some(t.upid.pstart),
        starttime: u64::from(t.upid.starttime),
        task_type: t.upid.task_type.clone(),
        id: t.upid.id.clone(),
        user,
        tokenid,
        endtime: t.endtime(),
        status: Some(t.exitstatus().map_or_else(|| "RUNNING".to_string(), String::from)),
    }
}

fn find_task<'a>(ctx: &mut Ctx, w: &'a World) -> PveResult<&'a Task> {
    let upid = ctx.p.str("upid");
    if upid.parse::<proxctl_types::Upid>().is_err() {
        return Err(PveError::param("upid", "unable to parse worker upid"));
    }
    w.task_by_upid(&upid).ok_or_else(|| PveError::param("upid", "no such task"))
}

pub fn status(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    node(ctx, w)?;
    let t = find_task(ctx, w)?;
    ctx.p.finish()?;
    let (user, tokenid) = split_user(&t.upid.user);
    Ok(Reply::json(&TaskStatus {
        upid: t.upid.clone(),
        node: t.upid.node.clone(),
        pid: u64::from(t.upid.pid),
        pstart: t.upid.pstart,
        starttime: u64::from(t.upid.starttime),
        task_type: t.upid.task_type.clone(),
        id: t.upid.id.clone(),
        user,
        tokenid,
        status: if t.is_running() { "running" } else { "stopped" }.into(),
        exitstatus: t.exitstatus().map(String::from),
    }))
}

/// `start` is 0-based, `n` 1-based; `limit=0` means all; an empty log is `no content`.
pub fn log(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    node(ctx, w)?;
    let start = ctx.p.opt_int("start", Some(0), None).unwrap_or(0) as usize;
    let limit = ctx.p.opt_int("limit", Some(0), None).unwrap_or(50) as usize;
    let _ = ctx.p.opt_bool("download");
    let t = find_task(ctx, w)?;
    ctx.p.finish()?;
    if t.log.is_empty() {
        let lines = vec![TaskLogLine { n: 1, t: "no content".into() }];
        return Ok(Reply::with_total(serde_json::to_value(lines).unwrap_or(Value::Null), 1));
    }
    let take = if limit == 0 { usize::MAX } else { limit };
    let lines: Vec<TaskLogLine> = t
        .log
        .iter()
        .enumerate()
        .skip(start)
        .take(take)
        .map(|(i, l)| TaskLogLine { n: i as u64 + 1, t: l.clone() })
        .collect();
    Ok(Reply::with_total(serde_json::to_value(lines).unwrap_or(Value::Null), t.log.len() as u64))
}

pub fn list(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let start = ctx.p.opt_int("start", Some(0), None).unwrap_or(0) as usize;
    let limit = ctx.p.opt_int("limit", Some(0), None).unwrap_or(50) as usize;
    let userfilter = ctx.p.opt_str("userfilter").map(|u| u.to_lowercase());
    let typefilter = ctx.p.opt_str("typefilter");
    let vmid = ctx.p.opt_vmid("vmid");
    let errors = ctx.p.flag("errors");
    let source =
        ctx.p.opt_enum("source", &["archive", "active", "all"]).unwrap_or_else(|| "archive".into());
    let since = ctx.p.opt_int("since", None, None);
    let until = ctx.p.opt_int("until", None, None);
    let _ = ctx.p.opt_str("statusfilter");
    ctx.p.finish()?;
    let mut items: Vec<&Task> = w
        .tasks
        .iter()
        .filter(|t| t.upid.node.as_str() == n && t.upid.task_type != INTERNAL_TASK)
        .filter(|t| match source.as_str() {
            "archive" => !t.is_running(),
            "active" => t.is_running(),
            _ => true,
        })
        .filter(|t| userfilter.as_ref().is_none_or(|u| t.upid.user.to_lowercase().contains(u)))
        .filter(|t| typefilter.as_ref().is_none_or(|ty| &t.upid.task_type == ty))
        .filter(|t| vmid.is_none_or(|v| t.upid.id == v.to_string()))
        .filter(|t| !errors || t.exitstatus().is_some_and(|e| e != "OK"))
        .filter(|t| since.is_none_or(|s| i64::from(t.upid.starttime) >= s))
        .filter(|t| until.is_none_or(|u| i64::from(t.upid.starttime) <= u))
        .collect();
    items.sort_by_key(|t| {
        (!t.is_running(), std::cmp::Reverse(t.upid.starttime), std::cmp::Reverse(t.id))
    });
    let total = items.len() as u64;
    let take = if limit == 0 { usize::MAX } else { limit };
    let out: Vec<TaskListItem> = items.into_iter().skip(start).take(take).map(list_item).collect();
    Ok(Reply::with_total(serde_json::to_value(out).unwrap_or(Value::Null), total))
}

pub fn stop(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    node(ctx, w)?;
    let upid = find_task(ctx, w)?.upid.to_string();
    ctx.p.finish()?;
    w.stop_task(&upid);
    Ok(Reply::null())
}
