//! Exit codes and error rendering at the binary's edge.

use proxctl_client::ClientError;

pub const USER: u8 = 1;
pub const SYSTEM: u8 = 2;
pub const API: u8 = 3;

/// `error: <top>` then `  caused by: <source>` for each cause; a `Display` never repeats its
/// source, so every line adds something.
pub fn render_chain(e: &anyhow::Error) -> String {
    let mut out = format!("error: {e}");
    for cause in e.chain().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    out
}

/// 1 for bad input or configuration, 3 when Proxmox said no, 2 for everything else.
pub fn code_for(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(ExitWith(code)) = cause.downcast_ref::<ExitWith>() {
            return *code;
        }
        if let Some(c) = client_error(cause) {
            return match c {
                ClientError::Api(_)
                | ClientError::TaskFailed { .. }
                | ClientError::CreateConflict { .. } => API,
                ClientError::Config(_)
                | ClientError::Refused { .. }
                | ClientError::SecretFile { .. }
                | ClientError::SecretFilePermissions { .. } => USER,
                // The audit store is broken: the machine's to fix.
                ClientError::Unaudited { .. } => SYSTEM,
                _ => SYSTEM,
            };
        }
        if cause.downcast_ref::<UserError>().is_some() {
            return USER;
        }
        if let Some(w) = cause.downcast_ref::<crate::wizard::WizardError>() {
            return if matches!(w, crate::wizard::WizardError::Io(_)) { SYSTEM } else { USER };
        }
        if cause.downcast_ref::<PartialFailure>().is_some() {
            return API;
        }
        if let Some(e) = cause.downcast_ref::<proxctl_engine::EngineError>() {
            use proxctl_engine::EngineError as E;
            use proxctl_engine::{ApplyError, locks::LockError};
            match e {
                // The store failed under the engine: the machine's to fix, not the manifest's.
                E::Apply(ApplyError::State(_) | ApplyError::Lock(LockError::State(_))) => {
                    return SYSTEM;
                }
                // PVE failed under the engine: classified below, as the client error it is.
                E::Apply(ApplyError::Confirm(_)) => {}
                // Bad manifests or plans, names taken, a cluster that moved on: the user's to fix.
                E::Manifest(_) | E::Plan(_) | E::Stale(_) | E::Invalid(_) | E::Apply(_) => {
                    return USER;
                }
                E::State(_) => return SYSTEM,
                E::Ops(o) => return ops_code(o),
                E::Client(_) => {} // classified below, through client_error
            }
        }
        if let Some(o) = cause.downcast_ref::<proxctl_ops::OpsError>() {
            return ops_code(o);
        }
        // A chart, its values or a repository that is wrong: the user's to fix; a download
        // or a file that cannot be read: the machine's.
        if let Some(c) = cause.downcast_ref::<proxctl_charts::ChartError>() {
            use proxctl_charts::ChartError as C;
            return if matches!(c, C::Io { .. } | C::Fetch { .. }) { SYSTEM } else { USER };
        }
        if cause.downcast_ref::<proxctl_charts::lint::PrepareError>().is_some() {
            return USER;
        }
        if cause
            .downcast_ref::<proxctl_sim::SimError>()
            .is_some_and(|s| matches!(s, proxctl_sim::SimError::Config(_)))
        {
            return USER;
        }
    }
    SYSTEM
}

/// The client error behind a cause, also when the operations layer wraps it transparently.
pub fn client_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a ClientError> {
    if let Some(c) = cause.downcast_ref::<ClientError>() {
        return Some(c);
    }
    if let Some(proxctl_engine::EngineError::Client(c)) =
        cause.downcast_ref::<proxctl_engine::EngineError>()
    {
        return Some(c);
    }
    match cause.downcast_ref::<proxctl_ops::OpsError>() {
        Some(proxctl_ops::OpsError::Client(c)) => Some(c),
        _ => None,
    }
}

pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Some items of a bulk action failed (exit code 3, like any Proxmox error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PartialFailure(pub String);

/// End with this exit code and print nothing more: the command already said what it had to
/// (`plan --detailed-exitcode`, `audit verify`).
#[derive(Debug, thiserror::Error)]
#[error("exit {0}")]
pub struct ExitWith(pub u8);

/// An error in what the user asked for (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

fn ops_code(o: &proxctl_ops::OpsError) -> u8 {
    match o {
        proxctl_ops::OpsError::Render { .. }
        | proxctl_ops::OpsError::State(_)
        | proxctl_ops::OpsError::Fetch(_)
        | proxctl_ops::OpsError::Resolve(_) => SYSTEM,
        proxctl_ops::OpsError::Unpack(proxctl_images::unpack::UnpackError::Unsupported(_)) => USER,
        proxctl_ops::OpsError::Unpack(_) => SYSTEM,
        proxctl_ops::OpsError::CloudInit { .. } => API,
        _ => USER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_exit_3_config_errors_exit_1_transport_errors_exit_2() {
        let api = ClientError::Api(proxctl_client::ApiError::new(
            500,
            "GET",
            "/x",
            "boom",
            Default::default(),
        ));
        assert_eq!(code_for(&anyhow::Error::from(api)), API);
        assert_eq!(code_for(&anyhow::Error::from(ClientError::Config("bad".into()))), USER);
        assert_eq!(code_for(&anyhow::Error::from(UserError("bad".into()))), USER);
        assert_eq!(code_for(&anyhow::anyhow!("disk full")), SYSTEM);
    }

    #[test]
    fn engine_input_errors_exit_1_and_its_client_errors_keep_their_class() {
        let bad = proxctl_engine::EngineError::Invalid("VirtualMachine/x already exists".into());
        assert_eq!(code_for(&anyhow::Error::from(bad)), USER);
        let api = ClientError::Api(proxctl_client::ApiError::new(
            500,
            "GET",
            "/x",
            "boom",
            Default::default(),
        ));
        assert_eq!(code_for(&anyhow::Error::from(proxctl_engine::EngineError::Client(api))), API);
    }

    #[test]
    fn the_chain_prints_each_cause_once() {
        let e = anyhow::Error::from(std::io::Error::other("inner")).context("outer");
        assert_eq!(render_chain(&e), "error: outer\n  caused by: inner");
    }
}
