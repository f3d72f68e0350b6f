//! `rrddata` for guests, nodes and storages: 70 points per timeframe at PVE's resolutions,
//! with plausible, repeatable curves (a daily wave per guest, phase-shifted by its VMID), so
//! dashboards and graphs have something true to the shape to draw. A stopped guest shows its
//! limits and no use.

use proxctl_types::messages::GuestKind;
use serde_json::{Map, Value, json};

use super::common::{guest, node, vmid};
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::{GIB, World};

/// Points per answer, as PVE's RRD archives hold.
const POINTS: u64 = 70;
const TIMEFRAMES: &[&str] = &["hour", "day", "week", "month", "year"];

/// Seconds between points for a timeframe.
fn step(timeframe: &str) -> u64 {
    match timeframe {
        "day" => 1_800,
        "week" => 10_800,
        "month" => 43_200,
        "year" => 604_800,
        "decade" => 6_048_000,
        _ => 60,
    }
}

/// A value between 0 and 1 that rises and falls once a day, shifted by `seed`.
fn wave(t: u64, seed: u64) -> f64 {
    let day = (t % 86_400) as f64 / 86_400.0;
    let phase = (seed % 97) as f64 / 97.0;
    0.5 + 0.4 * ((day + phase) * std::f64::consts::TAU).sin()
}

/// The timestamps of the answer, oldest first, aligned to the step.
fn times(w: &World, timeframe: &str) -> impl Iterator<Item = u64> {
    let s = step(timeframe);
    let last = w.now_secs() / s;
    (0..POINTS).map(move |i| (last + 1 - POINTS + i) * s)
}

fn read_args(ctx: &mut Ctx, frames: &[&str]) -> String {
    let tf = ctx.p.opt_enum("timeframe", frames);
    let _ = ctx.p.opt_enum("cf", &["AVERAGE", "MAX"]);
    if tf.is_none() && !ctx.p.has("timeframe") {
        ctx.p.invalid("timeframe", "property is missing and it is not optional");
    }
    tf.unwrap_or_else(|| "hour".into())
}

fn guest_rrd(ctx: &mut Ctx, w: &World, kind: GuestKind) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let tf = read_args(ctx, TIMEFRAMES);
    ctx.p.finish()?;
    let g = guest(w, &n, id, kind)?;
    let (cpus, mem, disk) = (g.cpus(), g.memory_bytes() as f64, g.boot_disk_size() as f64);
    let running = g.is_running();
    let seed = u64::from(id.get());
    let rows: Vec<Value> = times(w, &tf)
        .map(|t| {
            let mut m = Map::new();
            m.insert("time".into(), json!(t));
            m.insert("maxcpu".into(), json!(cpus));
            m.insert("maxmem".into(), json!(mem));
            m.insert("maxdisk".into(), json!(disk));
            let load = if running { wave(t, seed) } else { 0.0 };
            m.insert("cpu".into(), json!(0.6 * load));
            m.insert("mem".into(), json!((0.3 + 0.5 * load) * mem * f64::from(u8::from(running))));
            m.insert("disk".into(), json!(if kind == GuestKind::Lxc { 0.4 * disk } else { 0.0 }));
            m.insert("netin".into(), json!(200_000.0 * load));
            m.insert("netout".into(), json!(80_000.0 * load));
            m.insert("diskread".into(), json!(500_000.0 * load));
            m.insert("diskwrite".into(), json!(300_000.0 * load));
            Value::Object(m)
        })
        .collect();
    Ok(Reply::data(Value::Array(rows)))
}

/// `GET /nodes/{node}/qemu/{vmid}/rrddata`.
pub fn qemu(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    guest_rrd(ctx, w, GuestKind::Qemu)
}

/// `GET /nodes/{node}/lxc/{vmid}/rrddata`.
pub fn lxc(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    guest_rrd(ctx, w, GuestKind::Lxc)
}

/// `GET /nodes/{node}/rrddata`.
pub fn node_rrd(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let tf = read_args(ctx, &["hour", "day", "week", "month", "year", "decade"]);
    ctx.p.finish()?;
    let nd = w.node(&n).ok_or_else(|| PveError::die(format!("no such node '{n}'")))?;
    let (cpus, mem) = (f64::from(nd.cpus), nd.memory as f64);
    let seed = n.bytes().map(u64::from).sum::<u64>();
    let rows: Vec<Value> = times(w, &tf)
        .map(|t| {
            let load = if w.node_online(&nd.name) { wave(t, seed) } else { 0.0 };
            json!({
                "time": t, "cpu": 0.3 * load, "maxcpu": cpus, "iowait": 0.01 * load,
                "loadavg": cpus * 0.3 * load, "memused": (0.2 + 0.4 * load) * mem, "memtotal": mem,
                "swapused": 0, "swaptotal": 8 * GIB, "rootused": 8 * GIB, "roottotal": 100 * GIB,
                "netin": 1_000_000.0 * load, "netout": 600_000.0 * load,
            })
        })
        .collect();
    Ok(Reply::data(Value::Array(rows)))
}

/// `GET /nodes/{node}/storage/{storage}/rrddata`: the storage's size, and its use now at
/// every point (volumes do not keep a history).
pub fn storage(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let s = ctx.p.str("storage");
    let tf = read_args(ctx, TIMEFRAMES);
    ctx.p.finish()?;
    let def =
        w.storages.get(&s).ok_or_else(|| PveError::die(format!("storage '{s}' does not exist")))?;
    let used: u64 = w
        .volumes
        .iter()
        .filter(|((vn, _), v)| v.storage == s && (def.shared || vn.is_empty() || *vn == n))
        .map(|(_, v)| v.size)
        .sum();
    let rows: Vec<Value> =
        times(w, &tf).map(|t| json!({"time": t, "total": def.total, "used": used})).collect();
    Ok(Reply::data(Value::Array(rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wave_stays_between_a_tenth_and_nine_tenths() {
        for t in (0..86_400).step_by(600) {
            let v = wave(t, 123);
            assert!((0.09..=0.91).contains(&v), "{v}");
        }
    }

    #[test]
    fn steps_follow_pves_archives() {
        assert_eq!((step("hour"), step("day"), step("week")), (60, 1_800, 10_800));
    }
}
