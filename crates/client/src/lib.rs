//! A typed, lock-aware Proxmox VE API client: token or ticket auth, TLS verification with
//! fingerprint pinning, retries with backoff for transient failures, and task waiting.
//!
//! Requests are data (`ApiRequest`): endpoints in `endpoints::*` build them purely, and
//! `Client` sends them. That keeps `--dry-run` and the schema conformance test honest.

pub mod auth;
pub mod endpoints;
pub mod error;
pub mod hook;
pub mod request;
pub mod retry;
pub mod settings;
pub mod task;
pub mod tls;
mod transport;
pub mod web;

pub use auth::Credentials;
pub use endpoints::guest::{DeleteOptions, PowerAction, SnapshotRequest};
pub use endpoints::qemu::Started;
pub use error::{ApiError, ApiErrorKind, ClientError};
pub use hook::{MutationHook, MutationResult};
pub use request::{ApiRequest, Endpoint, Method};
pub use retry::{PollPolicy, RetryPolicy};
pub use settings::ClientSettings;
pub use task::{TaskDone, WaitOptions};
pub use tls::{Fingerprint, TlsMode};
pub use transport::{Client, Metrics};
