//! The audit log and safe mode. [`Auditor`] is the client's mutation hook: every mutating API
//! call, from any face, is appended to the state store's hash-chained log (and optionally to a
//! JSON-lines file and syslog) with secrets redacted; with safe mode on, calls that would change
//! a guest proxctl does not manage are refused, and the refusal is logged too.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use proxctl_client::{ApiRequest, Client, ClientError, MutationHook, MutationResult};
use proxctl_state::{
    AuditEntry, AuditFilter, AuditHead, NewAuditEntry, VerifyReport, verify_chain,
};
use proxctl_types::api::TaskOutcome;
use proxctl_types::messages::GuestKind;
use proxctl_types::{NodeName, VmId};
use serde::Serialize;

use crate::OpsError;
use crate::output::Tabular;
use crate::state::StateHandle;

tokio::task_local! {
    /// Who acts in this task, when one client serves many callers (`proxctl serve`: the API
    /// token's name). Unset, the auditor's own actor is recorded.
    static ACTOR: String;
}

/// Who acts in this task, when set by [`acting_as`].
pub fn current_actor() -> Option<String> {
    ACTOR.try_with(Clone::clone).ok()
}

/// Run `f` acting as `actor`: every change it makes is audited under that name.
pub async fn acting_as<F: std::future::Future>(actor: String, f: F) -> F::Output {
    ACTOR.scope(actor, f).await
}

/// Who acts, and under which rules.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// The PVE identity and the local user, e.g. `root@pam!ci (alice)`.
    pub actor: String,
    pub profile: String,
    pub safe_mode: bool,
    /// `--force`: safe mode lets the call through (and the log says so).
    pub force: bool,
    /// Also append each row, as JSON, to this file.
    pub file: Option<PathBuf>,
    /// Also send each row to this syslog socket (usually `/dev/log`).
    pub syslog: Option<PathBuf>,
    /// What to do when a call cannot be recorded.
    pub policy: AuditPolicy,
}

/// Whether a mutation that cannot be audited may still be sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuditPolicy {
    /// The default: each call is recorded before it is sent, and not sent if that fails.
    #[default]
    Strict,
    /// Send it anyway with a warning (profile `audit = "best-effort"`; warned about on every run).
    BestEffort,
}

impl std::str::FromStr for AuditPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "strict" => Ok(AuditPolicy::Strict),
            "best-effort" => Ok(AuditPolicy::BestEffort),
            other => Err(format!("audit must be strict or best-effort, not '{other}'")),
        }
    }
}

#[derive(Debug)]
pub struct Auditor {
    ctx: AuditContext,
    state: Arc<StateHandle>,
    /// Tasks our own calls started (UPID → target), whose outcome gets a row of its own.
    started: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Auditor {
    pub fn new(ctx: AuditContext, state: Arc<StateHandle>) -> Self {
        Self { ctx, state, started: std::sync::Mutex::default() }
    }

    /// Append one row to every configured sink. The store is the record of truth, so failing
    /// to write it is an error; the file and syslog copies only warn.
    pub async fn record(
        &self,
        target: String,
        action: String,
        params: serde_json::Value,
        result: String,
    ) -> Result<AuditEntry, OpsError> {
        let entry = NewAuditEntry {
            time: jiff::Timestamp::now(),
            actor: ACTOR.try_with(Clone::clone).unwrap_or_else(|_| self.ctx.actor.clone()),
            profile: self.ctx.profile.clone(),
            target,
            action,
            params,
            result,
        };
        let row = self.state.get().await?.append_audit(&entry).await?;
        if let Some(path) = &self.ctx.file
            && let Err(e) = append_json_line(path, &row)
        {
            tracing::warn!(file = %path.display(), error = %e, "cannot write the audit file");
        }
        if let Some(socket) = &self.ctx.syslog
            && let Err(e) = send_syslog(socket, &row)
        {
            tracing::warn!(socket = %socket.display(), error = %e, "cannot write to syslog");
        }
        Ok(row)
    }

    /// Whether proxctl manages the guest: a state record, or its marker in PVE.
    async fn is_managed(
        &self,
        client: &Client,
        kind: GuestKind,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<bool, ClientError> {
        let store = self.state.get().await.map_err(|e| refusal_error(&e))?;
        if store.resource_by_vmid(vmid).await.map_err(|e| refusal_error(&e.into()))?.is_some() {
            return Ok(true);
        }
        let cfg = match kind {
            GuestKind::Qemu => client.qemu_config(node, vmid).await?,
            GuestKind::Lxc => client.lxc_config(node, vmid).await?,
        };
        let text = |k: &str| cfg.get(k).and_then(|v| v.as_str());
        Ok(proxctl_types::managed::is_managed(text("tags"), text("description")))
    }
}

/// An error with its causes, on one line: `cannot open the state store at X: permission denied`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// The guests a request changes or interrupts: the one in its path for guest endpoints, and
/// for a backup in `stop` or `suspend` mode every guest it names (or all, with `all=1`),
/// since it stops or pauses them.
async fn interrupted_guests(
    client: &Client,
    req: &ApiRequest,
) -> Result<Vec<(GuestKind, NodeName, VmId)>, ClientError> {
    if req.endpoint.changes_guest() {
        let (Some(node), Some(vmid)) = (req.path_arg("node"), req.path_arg("vmid")) else {
            return Ok(Vec::new());
        };
        let (Ok(node), Ok(vmid)) = (NodeName::new(node), vmid.parse::<VmId>()) else {
            return Ok(Vec::new());
        };
        let lxc = req.endpoint.template().contains("/lxc");
        return Ok(vec![(if lxc { GuestKind::Lxc } else { GuestKind::Qemu }, node, vmid)]);
    }
    let interrupts = req.endpoint == proxctl_client::Endpoint::Vzdump
        && matches!(req.params.get("mode"), Some("stop" | "suspend"));
    if !interrupts {
        return Ok(Vec::new());
    }
    let all = req.params.get("all") == Some("1");
    let named: Vec<&str> = req
        .params
        .get("vmid")
        .map(|v| proxctl_types::wire::split_tags(v).collect())
        .unwrap_or_default();
    let guests = client
        .cluster_resources(Some(proxctl_client::endpoints::cluster::ResourceType::Vm))
        .await?;
    Ok(guests
        .into_iter()
        .filter_map(|r| {
            let kind = match r.res_type.as_str() {
                "qemu" => GuestKind::Qemu,
                "lxc" => GuestKind::Lxc,
                _ => return None,
            };
            let vmid = r.vmid?;
            (all || named.contains(&vmid.to_string().as_str())).then_some((kind, r.node?, vmid))
        })
        .collect())
}

fn refusal_error(e: &OpsError) -> ClientError {
    ClientError::Config(format!("safe mode cannot check the state store: {e}"))
}

/// What a request acts on: `qemu/100`, `lxc/200`, `storage/pve/local`, `node/pve`, or the path.
pub fn target_of(req: &ApiRequest) -> String {
    let template = req.endpoint.template();
    let kind = if template.contains("/lxc") { "lxc" } else { "qemu" };
    let vmid = req.path_arg("vmid").or_else(|| {
        let creates = template.ends_with("/qemu") || template.ends_with("/lxc");
        creates.then(|| req.params.get("vmid").map(String::from)).flatten()
    });
    if let Some(v) = vmid {
        return format!("{kind}/{v}");
    }
    if let Some(v) = req.params.get("vmid") {
        return format!("guest/{v}");
    }
    match (req.path_arg("node"), req.path_arg("storage")) {
        (Some(n), Some(s)) => format!("storage/{n}/{s}"),
        (Some(n), None) => format!("node/{n}"),
        _ => req.decoded_path(),
    }
}

/// The request's parameters as JSON, secrets replaced, plus the node it went to.
pub fn params_of(req: &ApiRequest) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if let Some(n) = req.path_arg("node") {
        m.insert("node".into(), n.into());
    }
    // What else the path names (a snapshot, a volume, a task): the row must say what was acted
    // on, not just on which guest.
    let template = req.endpoint.template();
    for name in template.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
        if !matches!(name, "node" | "vmid")
            && let Some(v) = req.path_arg(name)
        {
            m.insert(name.into(), v.into());
        }
    }
    for (k, v) in req.params.iter() {
        let v = if proxctl_types::wire::is_secret_param(k) { "<redacted>" } else { v };
        m.insert(k.into(), v.into());
    }
    serde_json::Value::Object(m)
}

fn action_of(req: &ApiRequest) -> String {
    format!("{} {}", req.method(), req.endpoint.template())
}

#[async_trait]
impl MutationHook for Auditor {
    async fn before(&self, client: &Client, req: &ApiRequest) -> Result<(), ClientError> {
        self.safe_mode(client, req).await?;
        // Write-ahead: the call is on record before PVE sees it, so a store that cannot be
        // written stops the call instead of letting it pass unrecorded. `after` adds the result.
        let sending = self.record(target_of(req), action_of(req), params_of(req), "sending".into());
        match sending.await {
            Ok(_) => Ok(()),
            Err(e) if self.ctx.policy == AuditPolicy::BestEffort => {
                tracing::warn!(error = %e, request = %req, "audit best-effort: sending unrecorded");
                eprintln!("warning: audit is best-effort: sending {req} without a record: {e}");
                Ok(())
            }
            Err(e) => Err(ClientError::Unaudited { request: req.to_string(), reason: chain(&e) }),
        }
    }

    async fn after(&self, req: &ApiRequest, result: MutationResult<'_>) {
        self.after_call(req, result).await;
    }

    async fn task_ended(&self, upid: &proxctl_types::Upid, outcome: &TaskOutcome) {
        self.task_end(upid, outcome).await;
    }
}

impl Auditor {
    /// Safe mode: refuse (and record the refusal of) a change to a guest proxctl does not manage.
    async fn safe_mode(&self, client: &Client, req: &ApiRequest) -> Result<(), ClientError> {
        if !self.ctx.safe_mode {
            return Ok(());
        }
        for (kind, node, vmid) in interrupted_guests(client, req).await? {
            if self.is_managed(client, kind, &node, vmid).await? {
                continue;
            }
            let target = format!("{}/{vmid}", if kind == GuestKind::Lxc { "lxc" } else { "qemu" });
            if self.ctx.force {
                tracing::warn!(%target, "safe mode: acting on an unmanaged guest because of --force");
                continue;
            }
            let reason = format!(
                "safe mode is on and {target} is not managed by proxctl (no '{}' tag, no \
                 proxctl:resource line, no state record); pass --force to act on it anyway, or \
                 mark it with `proxctl tag add {vmid} {}`",
                proxctl_types::managed::MANAGED_TAG,
                proxctl_types::managed::MANAGED_TAG,
            );
            self.record(target, action_of(req), params_of(req), format!("refused: {reason}"))
                .await
                .map_err(|e| refusal_error(&e))?;
            return Err(ClientError::Refused { request: req.to_string(), reason });
        }
        Ok(())
    }

    async fn after_call(&self, req: &ApiRequest, result: MutationResult<'_>) {
        let mut result = match result {
            MutationResult::Ok { data: Some(upid) } if upid.starts_with("UPID:") => {
                if let Ok(mut started) = self.started.lock() {
                    started.insert(upid.clone(), target_of(req));
                }
                format!("task {upid}")
            }
            MutationResult::Ok { .. } => "ok".to_string(),
            MutationResult::Failed(e) => {
                format!("error: {}", e.to_string().lines().next().unwrap_or_default())
            }
        };
        if self.ctx.safe_mode && self.ctx.force && req.endpoint.changes_guest() {
            result.push_str(" (--force)");
        }
        if let Err(e) = self.record(target_of(req), action_of(req), params_of(req), result).await {
            // PVE has acted already; failing the call now would hide that. Say it loudly.
            tracing::error!(error = %e, request = %req, "the audit log could not record this call");
            eprintln!("warning: the audit log could not record {req}: {e}");
        }
    }

    /// A task one of our calls started has ended: its outcome gets its own row, since the
    /// call's row could only say that PVE accepted it.
    async fn task_end(&self, upid: &proxctl_types::Upid, outcome: &TaskOutcome) {
        let key = upid.to_string();
        let Some(target) = self.started.lock().ok().and_then(|mut s| s.remove(&key)) else {
            return;
        };
        let result = match outcome {
            TaskOutcome::Ok => "OK".to_string(),
            TaskOutcome::Warnings(n) => format!("WARNINGS: {n}"),
            TaskOutcome::Failed(status) => format!("failed: {status}"),
        };
        let action = format!("task-end {}", upid.task_type);
        let params = serde_json::json!({ "upid": key, "node": upid.node.as_str() });
        if let Err(e) = self.record(target, action, params, result).await {
            tracing::error!(error = %e, %upid, "the audit log could not record a task's outcome");
            eprintln!("warning: the audit log could not record how {upid} ended: {e}");
        }
    }
}

fn append_json_line(path: &std::path::Path, row: &AuditEntry) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    let line = serde_json::to_string(row).map_err(std::io::Error::other)?;
    writeln!(f, "{line}")
}

/// One RFC 5424 message on a local syslog socket: facility authpriv, notice (warning for
/// refusals), the row as JSON.
#[cfg(unix)]
fn send_syslog(socket: &std::path::Path, row: &AuditEntry) -> std::io::Result<()> {
    let severity = if row.entry.result.starts_with("refused") { 4 } else { 5 };
    let pri = 10 * 8 + severity;
    let json = serde_json::to_string(row).map_err(std::io::Error::other)?;
    let msg =
        format!("<{pri}>1 {} - proxctl {} audit - {json}", row.entry.time, std::process::id());
    let s = std::os::unix::net::UnixDatagram::unbound()?;
    s.send_to(msg.as_bytes(), socket).map(drop)
}

#[cfg(not(unix))]
fn send_syslog(_: &std::path::Path, _: &AuditEntry) -> std::io::Result<()> {
    Err(std::io::Error::other("syslog needs a Unix socket"))
}

/// One row of `audit list`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow(pub AuditEntry);

impl Tabular for AuditRow {
    fn headers(wide: bool) -> Vec<&'static str> {
        let mut h = vec!["SEQ", "TIME", "ACTOR", "TARGET", "ACTION", "RESULT"];
        if wide {
            h.extend(["PROFILE", "PARAMS", "HASH"]);
        }
        h
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let e = &self.0.entry;
        let time = e.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut c = vec![
            self.0.seq.to_string(),
            time,
            e.actor.clone(),
            e.target.clone(),
            e.action.clone(),
            e.result.clone(),
        ];
        if wide {
            c.extend([e.profile.clone(), e.params.to_string(), self.0.hash.clone()]);
        }
        c
    }
}

pub async fn list(state: &StateHandle, filter: &AuditFilter) -> Result<Vec<AuditRow>, OpsError> {
    Ok(state.get().await?.audit(filter).await?.into_iter().map(AuditRow).collect())
}

/// Check the whole chain against its head, and against heads kept outside the store (each
/// with where it came from): a cut end with a forged stored head shows only against those.
pub async fn verify(
    state: &StateHandle,
    anchors: &[(AuditHead, String)],
) -> Result<VerifyReport, OpsError> {
    let store = state.get().await?;
    let rows = store.audit(&AuditFilter::default()).await?;
    let head = store.audit_head().await?;
    let mut report = verify_chain(&rows, head.as_ref());
    report.problems.extend(proxctl_state::audit::check_anchors(&rows, anchors));
    Ok(report)
}

/// The chain's head as the store records it (`None` for an empty log).
pub async fn head(state: &StateHandle) -> Result<Option<AuditHead>, OpsError> {
    Ok(state.get().await?.audit_head().await?.filter(|h| h.seq > 0))
}

/// The last head written to the audit file: every row there carries its sequence number and
/// hash, so the file is an anchor the store cannot rewrite.
pub fn file_head(path: &std::path::Path) -> Result<Option<AuditHead>, OpsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(OpsError::Invalid(format!(
                "cannot read the audit file {}: {e}",
                path.display()
            )));
        }
    };
    let Some(last) = text.lines().rev().find(|l| !l.trim().is_empty()) else { return Ok(None) };
    let row: AuditEntry = serde_json::from_str(last).map_err(|e| {
        OpsError::Invalid(format!(
            "the last line of the audit file {} is not an audit row: {e}",
            path.display()
        ))
    })?;
    Ok(Some(AuditHead { seq: row.seq, hash: row.hash }))
}

#[cfg(test)]
mod tests {
    use proxctl_client::Endpoint;
    use proxctl_types::wire::FormParams;

    use super::*;

    fn req(e: Endpoint, args: &[&str], params: &[(&str, &str)]) -> ApiRequest {
        let mut p = FormParams::new();
        for (k, v) in params {
            p.push(*k, *v);
        }
        ApiRequest::new(e, args, p)
    }

    #[test]
    fn targets_name_the_guest_storage_or_node_acted_on() {
        assert_eq!(target_of(&req(Endpoint::QemuStart, &["pve", "100"], &[])), "qemu/100");
        assert_eq!(target_of(&req(Endpoint::LxcConfigPut, &["pve", "200"], &[])), "lxc/200");
        assert_eq!(target_of(&req(Endpoint::QemuCreate, &["pve"], &[("vmid", "150")])), "qemu/150");
        assert_eq!(target_of(&req(Endpoint::Vzdump, &["pve"], &[("vmid", "100")])), "guest/100");
        assert_eq!(
            target_of(&req(Endpoint::StorageDownloadUrl, &["pve", "local"], &[])),
            "storage/pve/local"
        );
    }

    #[test]
    fn parameters_are_logged_with_secrets_redacted() {
        let r = req(
            Endpoint::QemuConfigPut,
            &["pve", "100"],
            &[("cipassword", "hunter2"), ("cores", "4")],
        );
        let p = params_of(&r);
        assert_eq!(p["cipassword"], "<redacted>");
        assert_eq!(p["cores"], "4");
        assert_eq!(p["node"], "pve");
        assert!(!p.to_string().contains("hunter2"));
    }
}
