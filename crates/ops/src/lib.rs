//! The operations layer: what proxctl does, independent of how it is asked. The CLI (and later
//! the REST API, MCP server and dashboard) call these functions and render their results with
//! `output`, so a feature added here is available to every face.

pub mod attention;
pub mod audit;
pub mod backup;
pub mod bulk;
pub mod checks;
pub mod choices;
pub mod cluster_views;
pub mod coverage;
pub mod ct;
pub mod describe;
pub mod doctor;
pub mod error;
pub mod guest;
pub mod image;
pub mod inventory;
pub mod jobs;
pub mod lifecycle;
pub mod metrics;
pub mod migrate;
pub mod nic;
pub mod notify;
pub mod output;
pub mod placement;
pub mod role;
pub mod schedule;
pub mod snapshot;
pub mod state;
pub mod tags;
pub mod template;
pub mod template_image;
pub mod template_source;
pub mod views;
pub mod vm;
pub mod vmid;

pub use error::{ErrorClass, OpsError};
pub use guest::{GuestRef, resolve_guest};
