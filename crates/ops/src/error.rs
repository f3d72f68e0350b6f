//! Errors of the operations layer.

use proxctl_client::ClientError;

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
    #[error("cannot render output as {format}")]
    Render { format: String, source: Box<dyn std::error::Error + Send + Sync> },
}
