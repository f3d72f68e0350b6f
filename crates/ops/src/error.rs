//! Errors of the operations layer.

use proxctl_client::{ApiErrorKind, ClientError};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    State(#[from] proxctl_state::StateError),
    #[error(transparent)]
    Fetch(#[from] proxctl_images::cache::FetchError),
    #[error(transparent)]
    Resolve(#[from] proxctl_images::resolve::ResolveError),
    #[error(transparent)]
    Unpack(#[from] proxctl_images::unpack::UnpackError),
    #[error("no guest named or numbered '{0}' in the cluster; list them with `proxctl get vms`")]
    GuestNotFound(String),
    #[error("'{name}' matches several guests: {}; use the VMID instead", matches.join(", "))]
    Ambiguous { name: String, matches: Vec<String> },
    #[error("{what} is a {actual}, not a {expected}; use `proxctl {hint}` for it")]
    WrongKind { what: String, actual: &'static str, expected: &'static str, hint: &'static str },
    /// cloud-init in a guest reported a failure (or never finished).
    #[error("cloud-init in VM {vmid} failed: {detail}")]
    CloudInit { vmid: u32, detail: String },
    /// Input that would be refused by PVE (or make no sense), caught before any call.
    #[error("{0}")]
    Invalid(String),
    /// PVE's HA manager took a start or stop request but has not carried it out in time.
    #[error(
        "{what} is not {state} after {secs}s: PVE's HA manager has not acted on the request yet; see `proxctl get ha`"
    )]
    HaPending { what: String, state: &'static str, secs: u64 },
    #[error("cannot render output as {format}")]
    Render { format: String, source: Box<dyn std::error::Error + Send + Sync> },
}

/// What kind of failure an error is, for every face to report the same way: the CLI as its
/// exit code, the REST API as its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad input or configuration: the caller's to fix.
    Invalid,
    /// The thing asked for is not there.
    NotFound,
    /// It is there, but busy or taken (a lock, a VMID, a changed config).
    Conflict,
    /// Proxmox said no, or a task failed: its message says why.
    Proxmox,
    /// Proxmox cannot be reached.
    Unavailable,
    /// Everything else: the machine's to fix.
    System,
}

impl ErrorClass {
    pub fn of_client(e: &ClientError) -> Self {
        match e {
            ClientError::Api(a) => match a.kind {
                ApiErrorKind::DoesNotExist => ErrorClass::NotFound,
                ApiErrorKind::LockTimeout { .. }
                | ApiErrorKind::Locked { .. }
                | ApiErrorKind::DigestMismatch
                | ApiErrorKind::AlreadyExists => ErrorClass::Conflict,
                ApiErrorKind::ParamVerification => ErrorClass::Invalid,
                _ => ErrorClass::Proxmox,
            },
            ClientError::CreateConflict { .. } => ErrorClass::Conflict,
            ClientError::TaskFailed { .. } => ErrorClass::Proxmox,
            ClientError::Connect { .. }
            | ClientError::Timeout { .. }
            | ClientError::Tls { .. }
            | ClientError::Http { .. } => ErrorClass::Unavailable,
            ClientError::Config(_) | ClientError::Refused { .. } | ClientError::DryRun { .. } => {
                ErrorClass::Invalid
            }
            _ => ErrorClass::System,
        }
    }

    pub fn of(e: &OpsError) -> Self {
        match e {
            OpsError::Client(c) => Self::of_client(c),
            OpsError::GuestNotFound(_) => ErrorClass::NotFound,
            OpsError::CloudInit { .. } | OpsError::HaPending { .. } => ErrorClass::Proxmox,
            OpsError::Invalid(_) | OpsError::Ambiguous { .. } | OpsError::WrongKind { .. } => {
                ErrorClass::Invalid
            }
            _ => ErrorClass::System,
        }
    }
}
