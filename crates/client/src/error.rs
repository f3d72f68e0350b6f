//! The client's error type. API errors keep PVE's status, message and `errors` map, and are
//! classified so callers can act on them (retry a lock timeout, re-read after a digest mismatch).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use proxctl_types::messages::{MessageKind, classify};
use proxctl_types::{NodeName, Upid};

/// What kind of API error PVE returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// 400 `Parameter verification failed.` with a per-parameter `errors` map.
    ParamVerification,
    /// A config or object does not exist (PVE says so with a 500, never a 404).
    DoesNotExist,
    /// A config flock or storage lock wait timed out. Transient.
    LockTimeout {
        lock_path: String,
    },
    /// The guest's `lock` property blocks the operation (`VM is locked (clone)`).
    Locked {
        lock: String,
    },
    /// The digest sent no longer matches: someone else changed the config.
    DigestMismatch,
    /// 401: missing, bad or expired credentials.
    Unauthorized,
    /// 403: the credentials lack a privilege.
    Forbidden,
    /// The guest is in the wrong state (already running, not running, ...).
    WrongState,
    /// The VMID or object already exists.
    AlreadyExists,
    /// The cluster has no quorum.
    NoQuorum,
    /// 501: the route or method does not exist on this PVE.
    NotImplemented,
    /// 595/596/597/599 and other proxy-level failures between PVE daemons. Transient.
    Proxy,
    /// The daemon could not fork a worker. Transient.
    NoWorker,
    Other,
}

/// An error response from PVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub method: String,
    pub path: String,
    /// The message, from the JSON body or (older PVE) the reason phrase, without trailing newline.
    pub message: String,
    pub errors: BTreeMap<String, String>,
    pub kind: ApiErrorKind,
}

impl ApiError {
    pub fn new(
        status: u16,
        method: &str,
        path: &str,
        message: &str,
        errors: BTreeMap<String, String>,
    ) -> Self {
        let message = message.trim_end().to_string();
        let kind = match status {
            400 if !errors.is_empty() || message.starts_with("Parameter verification failed") => {
                ApiErrorKind::ParamVerification
            }
            401 => ApiErrorKind::Unauthorized,
            403 => ApiErrorKind::Forbidden,
            501 => ApiErrorKind::NotImplemented,
            502 | 503 | 595 | 596 | 597 | 599 => ApiErrorKind::Proxy,
            _ => match classify(&message) {
                MessageKind::DoesNotExist => ApiErrorKind::DoesNotExist,
                MessageKind::LockTimeout { path } => ApiErrorKind::LockTimeout { lock_path: path },
                MessageKind::Locked { lock } => ApiErrorKind::Locked { lock },
                MessageKind::DigestMismatch => ApiErrorKind::DigestMismatch,
                MessageKind::WrongState => ApiErrorKind::WrongState,
                MessageKind::AlreadyExists => ApiErrorKind::AlreadyExists,
                MessageKind::NoQuorum => ApiErrorKind::NoQuorum,
                MessageKind::NoWorkerUpid => ApiErrorKind::NoWorker,
                MessageKind::Other => ApiErrorKind::Other,
            },
        };
        Self { status, method: method.to_string(), path: path.to_string(), message, errors, kind }
    }

    /// Whether waiting and sending the same request again can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ApiErrorKind::LockTimeout { .. } | ApiErrorKind::Proxy | ApiErrorKind::NoWorker
        )
    }

    fn hint(&self) -> Option<&'static str> {
        Some(match self.kind {
            ApiErrorKind::ParamVerification => "fix the parameters listed above and retry",
            ApiErrorKind::DoesNotExist => {
                "check the name or VMID and the node it lives on (`proxctl get vms`)"
            }
            ApiErrorKind::LockTimeout { .. } => {
                "another operation holds the lock; wait for it to finish and retry"
            }
            ApiErrorKind::Locked { .. } => {
                "wait for the running task to finish (`proxctl task list`); if it died, unlock it with `qm unlock <vmid>` on the node"
            }
            ApiErrorKind::DigestMismatch => {
                "the config changed since it was read; read it again and reapply"
            }
            ApiErrorKind::Unauthorized => {
                "check the token or password (`proxctl config show`) and that the user is enabled"
            }
            ApiErrorKind::Forbidden => {
                "grant the missing privilege to the token or user (`proxctl doctor` lists what each feature needs)"
            }
            ApiErrorKind::NoQuorum => {
                "the cluster has lost quorum; restore it before changing anything"
            }
            ApiErrorKind::NotImplemented => {
                "this PVE version does not offer that API; check `proxctl doctor`"
            }
            ApiErrorKind::Proxy | ApiErrorKind::NoWorker => {
                "a PVE daemon failed to forward or start the request; retry shortly"
            }
            _ => return None,
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed with HTTP {}", self.method, self.path, self.status)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        for (k, v) in &self.errors {
            write!(f, "\n  {k}: {}", v.trim_end())?;
        }
        if let Some(h) = self.hint() {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Everything the client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Api(#[from] ApiError),

    #[error("cannot connect to {url}; check the URL, that port 8006 is reachable, and any proxy")]
    Connect { url: String, source: reqwest::Error },

    #[error(
        "{method} {path} timed out after {timeout:?}; raise --timeout or check the node's load"
    )]
    Timeout { method: String, path: String, timeout: Duration },

    #[error("{}", tls_message(url, fingerprint.as_deref(), pinned.as_deref()))]
    Tls { url: String, fingerprint: Option<String>, pinned: Option<String>, source: reqwest::Error },

    #[error("HTTP transport failed for {method} {path}")]
    Http { method: String, path: String, source: reqwest::Error },

    #[error("unexpected response to {method} {path}: {detail}")]
    Decode { method: String, path: String, detail: String },

    #[error("task {upid} failed: {exitstatus}{}", log_tail_suffix(log_tail))]
    TaskFailed { upid: Upid, node: NodeName, exitstatus: String, log_tail: Vec<String> },

    #[error(
        "task {upid} still running after {waited:?}; follow it with `proxctl task wait {upid}`"
    )]
    TaskTimeout { upid: Upid, waited: Duration },

    #[error("{what} already exists and does not match what was asked for: {detail}")]
    CreateConflict { what: String, detail: String },

    #[error("invalid client configuration: {0}")]
    Config(String),

    /// `--dry-run`: this request changes state, so it was printed instead of sent.
    #[error("dry run: would send {request}")]
    DryRun { request: String },

    /// A mutation hook (safe mode) refused the request before it was sent.
    #[error("refused {request}: {reason}")]
    Refused { request: String, reason: String },

    /// The audit log could not record the request, so it was not sent (audit fails closed).
    #[error(
        "not sent: {request} could not be written to the audit log ({reason}); fix the state \
         store (`proxctl config show` names it), or set `audit = \"best-effort\"` in the \
         profile to act without a record"
    )]
    Unaudited { request: String, reason: String },

    #[error("cannot read secret from {path}")]
    SecretFile { path: String, source: std::io::Error },

    #[error(
        "refusing to read secret file {path}: it is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    SecretFilePermissions { path: String, mode: u32 },
}

impl ClientError {
    /// The API error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The task error text classified like an API message, for task failures.
    pub fn task_kind(&self) -> Option<MessageKind> {
        match self {
            ClientError::TaskFailed { exitstatus, .. } => Some(classify(exitstatus)),
            _ => None,
        }
    }

    /// Whether a retry after a backoff can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Api(e) => e.is_transient(),
            ClientError::Connect { .. } => true,
            ClientError::TaskFailed { exitstatus, .. } => {
                matches!(classify(exitstatus), MessageKind::LockTimeout { .. })
            }
            _ => false,
        }
    }
}

fn tls_message(url: &str, fp: Option<&str>, pinned: Option<&str>) -> String {
    match (fp, pinned) {
        (Some(fp), Some(pinned)) => format!(
            "TLS certificate of {url} does not match the pinned fingerprint\n  pinned: {pinned}\n  server: {fp}\n  hint: if the node's certificate was renewed, pin the new one with --fingerprint {fp}"
        ),
        (Some(fp), None) => format!(
            "TLS certificate of {url} is not trusted\n  server fingerprint (SHA-256): {fp}\n  hint: compare it with the node's `pvenode cert info`, then pin it with --fingerprint {fp} (or PROXCTL_FINGERPRINT), or trust its CA with --ca-file"
        ),
        _ => format!(
            "TLS handshake with {url} failed; check --ca-file, --fingerprint, and that the URL is https"
        ),
    }
}

fn log_tail_suffix(tail: &[String]) -> String {
    if tail.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n  task log (last lines):");
    for l in tail {
        s.push_str("\n    ");
        s.push_str(l);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, msg: &str) -> ApiError {
        ApiError::new(status, "POST", "/nodes/pve/qemu/100/config", msg, BTreeMap::new())
    }

    #[test]
    fn every_documented_failure_maps_to_its_kind() {
        let mut errors = BTreeMap::new();
        errors.insert("vmid".to_string(), "property is missing and it is not optional".to_string());
        assert_eq!(
            ApiError::new(400, "POST", "/x", "Parameter verification failed.\n", errors).kind,
            ApiErrorKind::ParamVerification
        );
        assert_eq!(
            err(500, "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist\n").kind,
            ApiErrorKind::DoesNotExist
        );
        assert_eq!(
            err(500, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout\n").kind,
            ApiErrorKind::LockTimeout { lock_path: "/var/lock/qemu-server/lock-100.conf".into() }
        );
        assert_eq!(
            err(500, "VM is locked (clone)\n").kind,
            ApiErrorKind::Locked { lock: "clone".into() }
        );
        assert_eq!(
            err(500, "checksum mismatch (file change by other user?)\n").kind,
            ApiErrorKind::DigestMismatch
        );
        assert_eq!(err(401, "").kind, ApiErrorKind::Unauthorized);
        assert_eq!(err(401, "authentication failure\n").kind, ApiErrorKind::Unauthorized);
        assert_eq!(
            err(403, "Permission check failed (/vms/100, VM.PowerMgmt)\n").kind,
            ApiErrorKind::Forbidden
        );
        assert_eq!(err(500, "VM 100 already running\n").kind, ApiErrorKind::WrongState);
        assert_eq!(err(500, "VM 100 not running\n").kind, ApiErrorKind::WrongState);
        assert_eq!(err(500, "cluster not ready - no quorum?\n").kind, ApiErrorKind::NoQuorum);
        assert_eq!(
            err(501, "Method 'GET /nodes/pve/foo' not implemented").kind,
            ApiErrorKind::NotImplemented
        );
        assert_eq!(err(596, "Connection timed out").kind, ApiErrorKind::Proxy);
        assert_eq!(
            err(500, "unable to create VM 100 - VM 100 already exists on node 'pve'\n").kind,
            ApiErrorKind::AlreadyExists
        );
    }

    #[test]
    fn lock_timeouts_and_proxy_errors_are_transient_but_digest_mismatch_is_not() {
        assert!(
            err(500, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout")
                .is_transient()
        );
        assert!(err(596, "").is_transient());
        assert!(!err(500, "checksum mismatch (file change by other user?)").is_transient());
    }

    #[test]
    fn display_lists_parameter_errors_and_a_next_step() {
        let mut errors = BTreeMap::new();
        errors.insert(
            "colour".into(),
            "property is not defined in schema and the schema does not allow additional properties"
                .into(),
        );
        let e = ApiError::new(
            400,
            "POST",
            "/nodes/pve/qemu",
            "Parameter verification failed.\n",
            errors,
        );
        let s = e.to_string();
        assert!(
            s.contains("POST /nodes/pve/qemu failed with HTTP 400: Parameter verification failed.")
        );
        assert!(s.contains("colour: property is not defined"));
        assert!(s.contains("hint:"));
    }

    #[test]
    fn task_failure_keeps_the_log_tail() {
        let e = ClientError::TaskFailed {
            upid: "UPID:pve:0003A1F2:0112C3D4:6788ABCD:qmclone:9000:root@pam:".parse().unwrap(),
            node: NodeName::new("pve").unwrap(),
            exitstatus:
                "clone failed: can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
                    .into(),
            log_tail: vec!["trying to acquire lock...".into()],
        };
        assert!(e.is_transient());
        assert!(e.to_string().contains("trying to acquire lock..."));
    }
}
