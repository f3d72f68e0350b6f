//! Console tickets: vncproxy, termproxy and spiceproxy (§10).

use proxctl_types::messages::GuestKind;
use serde_json::{Value, json};

use super::common::{guest, node, user, vmid};
use crate::auth::AuthDb;
use crate::error::PveResult;
use crate::router::{Ctx, Reply};
use crate::state::{ConsoleKind, World};
use crate::task::Plan;

/// A console ticket (PVE's `PVEVNC:<hex time>::<sig>`), bound to the user, the ACL path
/// (`/vms/100` or `/nodes/pve1`) and the port; `vncwebsocket` checks it.
fn vnc_ticket(
    w: &mut World,
    auth: &AuthDb,
    who: &str,
    path: &str,
    port: u16,
    kind: ConsoleKind,
) -> String {
    let now = w.now_secs();
    let sig = auth.sign_b64(&format!("{who}:{path}:{port}:{now:08X}"));
    w.consoles.insert(format!("{path}:{port}"), kind);
    format!("PVEVNC:{now:08X}::{sig}")
}

/// How long a console ticket opens a websocket (PVE: 40 s, with 20 s of skew).
const CONSOLE_TICKET_S: u64 = 40;

/// Whether `ticket` was made for `who` on `path` and `port` within its lifetime; the kind of
/// console it opens.
pub fn check_vnc_ticket(
    w: &World,
    auth: &AuthDb,
    who: &str,
    path: &str,
    port: u16,
    ticket: &str,
) -> Option<ConsoleKind> {
    // `vncproxy` with generate-password prefixes the password: `<pw>:PVEVNC:…`.
    let ticket = ticket.find("PVEVNC:").map_or(ticket, |i| &ticket[i..]);
    let rest = ticket.strip_prefix("PVEVNC:")?;
    let (time, sig) = rest.split_once("::")?;
    let issued = u64::from_str_radix(time, 16).ok()?;
    let now = w.now_secs();
    let fresh = issued <= now + 20 && now <= issued + CONSOLE_TICKET_S;
    (fresh && auth.sign_b64(&format!("{who}:{path}:{port}:{time}")) == sig)
        .then(|| w.consoles.get(&format!("{path}:{port}")).copied())
        .flatten()
}

fn free_port(w: &mut World, base: u16) -> u16 {
    use rand::Rng;
    base + w.rng.random_range(0..100)
}

/// The reply of a termproxy call (node shell when `vmid` is empty).
pub fn termproxy_reply(w: &mut World, node: &str, vmid: &str, who: &str, auth: &AuthDb) -> Value {
    let port = free_port(w, 5900);
    let path = if vmid.is_empty() { format!("/nodes/{node}") } else { format!("/vms/{vmid}") };
    let ticket = vnc_ticket(w, auth, who, &path, port, ConsoleKind::Term);
    let upid =
        w.spawn(node, "vncproxy", vmid, who, Plan::new().log("starting termproxy").sleep(10_000));
    json!({"user": who, "ticket": ticket, "port": port, "upid": upid.to_string()})
}

pub fn vncproxy(ctx: &mut Ctx, w: &mut World, kind: GuestKind) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let _ = ctx.p.opt_bool("websocket");
    let genpw = ctx.p.flag("generate-password");
    ctx.p.finish()?;
    guest(w, &n, id, kind)?;
    let who = user(ctx);
    let port = free_port(w, 5900);
    let mut ticket =
        vnc_ticket(w, &ctx.env.auth, &who, &format!("/vms/{id}"), port, ConsoleKind::Vnc);
    let upid = w.spawn(
        &n,
        "vncproxy",
        &id.to_string(),
        &who,
        Plan::new().log("starting vnc proxy").sleep(10_000),
    );
    let mut out = json!({"user": who, "ticket": "", "port": port, "upid": upid.to_string(), "cert": ctx.env.ca_pem});
    if genpw {
        let pw: String =
            (0..8).map(|i| char::from(b'!' + ((w.now as u8).wrapping_add(i * 7) % 63))).collect();
        ticket = format!("{pw}:{ticket}");
        out["password"] = Value::from(pw);
    }
    out["ticket"] = Value::from(ticket);
    Ok(Reply::data(out))
}

pub fn termproxy(ctx: &mut Ctx, w: &mut World, kind: GuestKind) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    if kind == GuestKind::Qemu {
        let _ = ctx.p.opt_enum("serial", &["serial0", "serial1", "serial2", "serial3"]);
    }
    ctx.p.finish()?;
    guest(w, &n, id, kind)?;
    let who = user(ctx);
    let reply = termproxy_reply(w, &n, &id.to_string(), &who, &ctx.env.auth);
    Ok(Reply::data(reply))
}

pub fn spiceproxy(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let proxy = ctx.p.opt_str("proxy");
    ctx.p.finish()?;
    guest(w, &n, id, GuestKind::Qemu)?;
    let port = free_port(w, 61000);
    let pw = w.random_hex(20);
    let sig = w.random_hex(20);
    let host_ip = w.node(&n).map(|x| x.ip.clone()).unwrap_or_default();
    Ok(Reply::data(json!({
        "type": "spice",
        "title": format!("VM {id}"),
        "host": format!("pvespiceproxy:{:08X}:{id}:{n}:{port}::{sig}", w.now_secs()),
        "proxy": format!("http://{}:3128", proxy.unwrap_or(host_ip)),
        "tls-port": port,
        "host-subject": format!("OU=PVE Cluster Node,O=Proxmox Virtual Environment,CN={n}"),
        "ca": ctx.env.ca_pem.replace('\n', "\\n"),
        "password": pw,
        "delete-this-file": 1,
        "secure-attention": "Ctrl+Alt+Ins",
        "toggle-fullscreen": "Shift+F11",
        "release-cursor": "Ctrl+Alt+R",
    })))
}
