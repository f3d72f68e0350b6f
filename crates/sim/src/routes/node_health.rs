//! What monitoring reads beside the resources: a node's subscription, its replication jobs
//! with their state, and the cluster's QDevice. The world holds them (empty by default: no
//! subscription, no replication, no QDevice); scenarios and tests set them.

use proxctl_types::api::Subscription;

use super::common::node;
use crate::error::PveResult;
use crate::router::{Ctx, Reply};
use crate::state::World;

/// `GET /nodes/{node}/subscription`: PVE's answer for a node without a key unless the world
/// gives it one.
pub fn subscription(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    ctx.p.finish()?;
    let s = w.subscriptions.get(&n).cloned().unwrap_or_else(|| Subscription {
        status: "notfound".into(),
        message: Some("There is no subscription key".into()),
        ..Subscription::default()
    });
    Ok(Reply::json(&s))
}

/// `GET /nodes/{node}/replication`: the jobs whose guest lives on the node, optionally of
/// one guest.
pub fn replication(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let guest = ctx.p.opt_vmid("guest");
    ctx.p.finish()?;
    let jobs: Vec<_> = w
        .replication
        .iter()
        .filter(|j| j.source == n && guest.is_none_or(|g| g.get() == j.guest))
        .collect();
    Ok(Reply::json(&jobs))
}

/// `GET /cluster/config/qdevice`: corosync's view, an empty object without a QDevice.
pub fn qdevice(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    Ok(Reply::json(&w.qdevice.clone().unwrap_or_default()))
}
