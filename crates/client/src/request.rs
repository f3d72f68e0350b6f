//! Requests as data: every endpoint the client can call, and the request value it builds. Being
//! data, a request can be validated against the PVE schema, printed by `--dry-run`, and counted.

use std::fmt;

use proxctl_types::wire::FormParams;

/// HTTP methods PVE accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// Whether the request can change cluster state (and so needs CSRF with a ticket).
    pub fn is_mutating(self) -> bool {
        self != Method::Get
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a request may be sent again after an ambiguous failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads, and writes that converge to the same state when repeated.
    Safe,
    /// Creates and clones: only retried when the server provably did not act on them.
    OnlyIfNotProcessed,
}

macro_rules! endpoints {
    ($($name:ident => $method:ident $path:literal $retry:ident,)*) => {
        /// Every PVE endpoint the client can call. The schema conformance test must have a case
        /// for each; adding one here without a case fails that test.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Endpoint { $($name,)* }

        impl Endpoint {
            pub const ALL: &'static [Endpoint] = &[$(Endpoint::$name,)*];

            pub fn method(self) -> Method {
                match self { $(Endpoint::$name => Method::$method,)* }
            }

            /// The path template, as the PVE schema writes it.
            pub fn template(self) -> &'static str {
                match self { $(Endpoint::$name => $path,)* }
            }

            pub fn retry(self) -> Retry {
                match self { $(Endpoint::$name => Retry::$retry,)* }
            }
        }
    };
}

endpoints! {
    AccessTicket => Post "/access/ticket" Safe,
    AccessPermissions => Get "/access/permissions" Safe,
    Version => Get "/version" Safe,
    Nodes => Get "/nodes" Safe,
    NodeStatus => Get "/nodes/{node}/status" Safe,
    NodeTime => Get "/nodes/{node}/time" Safe,
    NodeNetwork => Get "/nodes/{node}/network" Safe,
    NodeTermproxy => Post "/nodes/{node}/termproxy" Safe,
    NodeSubscription => Get "/nodes/{node}/subscription" Safe,
    NodeReplication => Get "/nodes/{node}/replication" Safe,
    QDevice => Get "/cluster/config/qdevice" Safe,
    ClusterResources => Get "/cluster/resources" Safe,
    ClusterStatus => Get "/cluster/status" Safe,
    ClusterNextId => Get "/cluster/nextid" Safe,
    ClusterTasks => Get "/cluster/tasks" Safe,
    BackupJobs => Get "/cluster/backup" Safe,
    NotBackedUp => Get "/cluster/backup-info/not-backed-up" Safe,
    HaStatus => Get "/cluster/ha/status/current" Safe,
    HaResources => Get "/cluster/ha/resources" Safe,
    HaResourceCreate => Post "/cluster/ha/resources" OnlyIfNotProcessed,
    HaResourceUpdate => Put "/cluster/ha/resources/{sid}" Safe,
    HaResourceDelete => Delete "/cluster/ha/resources/{sid}" Safe,
    SdnZones => Get "/cluster/sdn/zones" Safe,
    SdnVnets => Get "/cluster/sdn/vnets" Safe,
    QemuList => Get "/nodes/{node}/qemu" Safe,
    QemuCreate => Post "/nodes/{node}/qemu" OnlyIfNotProcessed,
    QemuDelete => Delete "/nodes/{node}/qemu/{vmid}" Safe,
    QemuConfigGet => Get "/nodes/{node}/qemu/{vmid}/config" Safe,
    QemuConfigPut => Put "/nodes/{node}/qemu/{vmid}/config" Safe,
    QemuConfigPost => Post "/nodes/{node}/qemu/{vmid}/config" Safe,
    QemuPending => Get "/nodes/{node}/qemu/{vmid}/pending" Safe,
    QemuStatusCurrent => Get "/nodes/{node}/qemu/{vmid}/status/current" Safe,
    QemuStart => Post "/nodes/{node}/qemu/{vmid}/status/start" Safe,
    QemuStop => Post "/nodes/{node}/qemu/{vmid}/status/stop" Safe,
    QemuShutdown => Post "/nodes/{node}/qemu/{vmid}/status/shutdown" Safe,
    QemuReboot => Post "/nodes/{node}/qemu/{vmid}/status/reboot" Safe,
    QemuReset => Post "/nodes/{node}/qemu/{vmid}/status/reset" Safe,
    QemuSuspend => Post "/nodes/{node}/qemu/{vmid}/status/suspend" Safe,
    QemuResume => Post "/nodes/{node}/qemu/{vmid}/status/resume" Safe,
    QemuClone => Post "/nodes/{node}/qemu/{vmid}/clone" OnlyIfNotProcessed,
    QemuTemplate => Post "/nodes/{node}/qemu/{vmid}/template" Safe,
    QemuResize => Put "/nodes/{node}/qemu/{vmid}/resize" OnlyIfNotProcessed,
    QemuMigrate => Post "/nodes/{node}/qemu/{vmid}/migrate" OnlyIfNotProcessed,
    QemuMigratePrecondition => Get "/nodes/{node}/qemu/{vmid}/migrate" Safe,
    QemuSnapshotList => Get "/nodes/{node}/qemu/{vmid}/snapshot" Safe,
    QemuSnapshotCreate => Post "/nodes/{node}/qemu/{vmid}/snapshot" OnlyIfNotProcessed,
    QemuSnapshotDelete => Delete "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}" Safe,
    QemuSnapshotRollback => Post "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback" OnlyIfNotProcessed,
    QemuCloudinitDump => Get "/nodes/{node}/qemu/{vmid}/cloudinit/dump" Safe,
    QemuRrddata => Get "/nodes/{node}/qemu/{vmid}/rrddata" Safe,
    QemuAgentPing => Post "/nodes/{node}/qemu/{vmid}/agent/ping" Safe,
    QemuAgentNetwork => Get "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces" Safe,
    QemuAgentExec => Post "/nodes/{node}/qemu/{vmid}/agent/exec" OnlyIfNotProcessed,
    QemuAgentExecStatus => Get "/nodes/{node}/qemu/{vmid}/agent/exec-status" Safe,
    QemuVncproxy => Post "/nodes/{node}/qemu/{vmid}/vncproxy" Safe,
    QemuTermproxy => Post "/nodes/{node}/qemu/{vmid}/termproxy" Safe,
    QemuSpiceproxy => Post "/nodes/{node}/qemu/{vmid}/spiceproxy" Safe,
    LxcList => Get "/nodes/{node}/lxc" Safe,
    LxcCreate => Post "/nodes/{node}/lxc" OnlyIfNotProcessed,
    LxcDelete => Delete "/nodes/{node}/lxc/{vmid}" Safe,
    LxcConfigGet => Get "/nodes/{node}/lxc/{vmid}/config" Safe,
    LxcRrddata => Get "/nodes/{node}/lxc/{vmid}/rrddata" Safe,
    LxcConfigPut => Put "/nodes/{node}/lxc/{vmid}/config" Safe,
    LxcStatusCurrent => Get "/nodes/{node}/lxc/{vmid}/status/current" Safe,
    LxcStart => Post "/nodes/{node}/lxc/{vmid}/status/start" Safe,
    LxcStop => Post "/nodes/{node}/lxc/{vmid}/status/stop" Safe,
    LxcShutdown => Post "/nodes/{node}/lxc/{vmid}/status/shutdown" Safe,
    LxcReboot => Post "/nodes/{node}/lxc/{vmid}/status/reboot" Safe,
    LxcSuspend => Post "/nodes/{node}/lxc/{vmid}/status/suspend" Safe,
    LxcResume => Post "/nodes/{node}/lxc/{vmid}/status/resume" Safe,
    LxcSnapshotList => Get "/nodes/{node}/lxc/{vmid}/snapshot" Safe,
    LxcSnapshotCreate => Post "/nodes/{node}/lxc/{vmid}/snapshot" OnlyIfNotProcessed,
    LxcSnapshotDelete => Delete "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}" Safe,
    LxcSnapshotRollback => Post "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback" OnlyIfNotProcessed,
    LxcTermproxy => Post "/nodes/{node}/lxc/{vmid}/termproxy" Safe,
    LxcClone => Post "/nodes/{node}/lxc/{vmid}/clone" OnlyIfNotProcessed,
    LxcResize => Put "/nodes/{node}/lxc/{vmid}/resize" OnlyIfNotProcessed,
    LxcMigrate => Post "/nodes/{node}/lxc/{vmid}/migrate" OnlyIfNotProcessed,
    StorageList => Get "/nodes/{node}/storage" Safe,
    StorageStatus => Get "/nodes/{node}/storage/{storage}/status" Safe,
    StorageContent => Get "/nodes/{node}/storage/{storage}/content" Safe,
    StorageContentUpdate => Put "/nodes/{node}/storage/{storage}/content/{volume}" Safe,
    StorageContentDelete => Delete "/nodes/{node}/storage/{storage}/content/{volume}" Safe,
    StorageUpload => Post "/nodes/{node}/storage/{storage}/upload" OnlyIfNotProcessed,
    StorageDownloadUrl => Post "/nodes/{node}/storage/{storage}/download-url" OnlyIfNotProcessed,
    Vzdump => Post "/nodes/{node}/vzdump" OnlyIfNotProcessed,
    TaskStatus => Get "/nodes/{node}/tasks/{upid}/status" Safe,
    TaskLog => Get "/nodes/{node}/tasks/{upid}/log" Safe,
    TaskList => Get "/nodes/{node}/tasks" Safe,
    TaskStop => Delete "/nodes/{node}/tasks/{upid}" Safe,
}

impl Endpoint {
    /// Whether a call changes an existing guest (its config, power state, disks, snapshots,
    /// or the guest itself). Safe mode guards exactly these. Clones only read their source,
    /// consoles and agent pings change nothing, so they are not listed.
    pub fn changes_guest(self) -> bool {
        use Endpoint::*;
        self.method().is_mutating()
            && self.template().contains("{vmid}")
            && !matches!(
                self,
                QemuClone
                    | LxcClone
                    | QemuVncproxy
                    | QemuTermproxy
                    | QemuSpiceproxy
                    | LxcTermproxy
                    | QemuAgentPing
            )
    }
}

/// One API call, fully built: the endpoint, the concrete path, and the parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub endpoint: Endpoint,
    /// Concrete path below `/api2/json`, with path segments percent-encoded.
    pub path: String,
    /// Query parameters for GET/DELETE; the form body for POST/PUT.
    pub params: FormParams,
}

impl ApiRequest {
    /// Build a request; `args` fill the template's `{…}` segments in order.
    pub fn new(endpoint: Endpoint, args: &[&str], params: FormParams) -> Self {
        let mut path = String::new();
        let mut args = args.iter();
        for seg in endpoint.template().split('/').filter(|s| !s.is_empty()) {
            path.push('/');
            if seg.starts_with('{') {
                let a = args.next().copied().unwrap_or_default();
                path.push_str(&encode_segment(a));
            } else {
                path.push_str(seg);
            }
        }
        Self { endpoint, path, params }
    }

    pub fn method(&self) -> Method {
        self.endpoint.method()
    }

    /// The value the path holds for a template segment, e.g. `path_arg("vmid")` on
    /// `/nodes/pve/qemu/100/status/start` is `100`.
    pub fn path_arg(&self, name: &str) -> Option<String> {
        let want = format!("{{{name}}}");
        let segs = self.endpoint.template().split('/').zip(self.path.split('/'));
        segs.filter(|(t, _)| *t == want)
            .map(|(_, v)| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
            .next()
    }

    /// The path with segments decoded, as PVE's router sees it.
    pub fn decoded_path(&self) -> String {
        percent_encoding::percent_decode_str(&self.path).decode_utf8_lossy().into_owned()
    }
}

impl fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {:?}", self.method(), self.path, self.params)
    }
}

impl fmt::Display for ApiRequest {
    /// `POST /nodes/pve/qemu vmid=100 name=web` with secrets redacted: what `--dry-run` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} /api2/json{}", self.method(), self.path)?;
        for (k, v) in self.params.iter() {
            if proxctl_types::wire::is_secret_param(k) {
                write!(f, " {k}=<redacted>")?;
            } else {
                write!(f, " {k}={v}")?;
            }
        }
        Ok(())
    }
}

const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'@')
    .remove(b'!');

fn encode_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_arguments_are_read_back_by_template_name() {
        let r = ApiRequest::new(Endpoint::QemuStart, &["pve 1", "100"], FormParams::new());
        assert_eq!(r.path_arg("node").as_deref(), Some("pve 1"));
        assert_eq!(r.path_arg("vmid").as_deref(), Some("100"));
        assert_eq!(r.path_arg("storage"), None);
    }

    #[test]
    fn only_calls_that_change_an_existing_guest_count_as_guest_changes() {
        assert!(Endpoint::QemuStart.changes_guest());
        assert!(Endpoint::LxcConfigPut.changes_guest());
        assert!(Endpoint::QemuSnapshotDelete.changes_guest());
        assert!(Endpoint::QemuDelete.changes_guest());
        assert!(!Endpoint::QemuClone.changes_guest(), "a clone only reads its source");
        assert!(!Endpoint::QemuVncproxy.changes_guest());
        assert!(!Endpoint::QemuConfigGet.changes_guest());
        assert!(!Endpoint::QemuCreate.changes_guest(), "no existing guest");
    }

    #[test]
    fn path_segments_are_filled_in_order_and_encoded() {
        let r = ApiRequest::new(
            Endpoint::StorageContentDelete,
            &["pve", "local", "local:iso/x y.iso"],
            FormParams::new(),
        );
        assert_eq!(r.path, "/nodes/pve/storage/local/content/local%3Aiso%2Fx%20y.iso");
        assert_eq!(r.decoded_path(), "/nodes/pve/storage/local/content/local:iso/x y.iso");
    }

    #[test]
    fn display_redacts_secret_parameters() {
        let mut p = FormParams::new();
        p.push("username", "root@pam").push("password", "hunter2");
        let r = ApiRequest::new(Endpoint::AccessTicket, &[], p);
        assert_eq!(
            r.to_string(),
            "POST /api2/json/access/ticket username=root@pam password=<redacted>"
        );
    }

    #[test]
    fn every_endpoint_template_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for e in Endpoint::ALL {
            assert!(seen.insert((e.method(), e.template())), "{e:?} duplicates another endpoint");
        }
    }
}
