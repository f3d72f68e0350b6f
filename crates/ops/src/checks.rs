//! What a command is about to send, checked against PVE's ranges and formats
//! (`proxctl_types::limits`) before any call: the same rules manifests get, so a value refused
//! in a manifest is refused on the command line too, with the same words.

use proxctl_types::config::{LxcConfig, QemuConfig};
use proxctl_types::limits;

use crate::OpsError;

fn invalid(what: &str, e: String) -> OpsError {
    OpsError::Invalid(format!("{what}: {e}"))
}

fn common(
    memory: Option<u64>,
    cores: Option<u32>,
    tags: Option<&Vec<String>>,
    description: Option<&String>,
) -> Result<(), OpsError> {
    if let Some(m) = memory {
        limits::memory_mib(m).map_err(|e| invalid("--memory (MiB)", e))?;
    }
    if let Some(c) = cores {
        limits::at_least_one("--cores", u64::from(c)).map_err(OpsError::Invalid)?;
    }
    for t in tags.into_iter().flatten() {
        limits::tag(t).map_err(|e| invalid("--tag", e))?;
    }
    if let Some(d) = description
        && d.len() > limits::MAX_DESCRIPTION
    {
        return Err(invalid(
            "--description",
            format!("value may only be {} characters long", limits::MAX_DESCRIPTION),
        ));
    }
    Ok(())
}

/// A VM config (whole, or the keys a `set` changes).
pub fn qemu(cfg: &QemuConfig) -> Result<(), OpsError> {
    common(
        cfg.memory.as_ref().map(|m| m.current),
        cfg.cores,
        cfg.tags.as_ref(),
        cfg.description.as_ref(),
    )?;
    if let Some(s) = cfg.sockets {
        limits::at_least_one("--sockets", u64::from(s)).map_err(OpsError::Invalid)?;
    }
    for (i, nic) in &cfg.net {
        if u32::from(*i) >= limits::MAX_NICS {
            return Err(OpsError::Invalid(format!(
                "net{i} is not a NIC slot PVE has (net0 to net31)"
            )));
        }
        if let Some(b) = &nic.bridge {
            limits::bridge(b).map_err(|e| invalid(&format!("net{i}"), e))?;
        }
    }
    Ok(())
}

/// A container config (whole, or the keys a `set` changes).
pub fn lxc(cfg: &LxcConfig) -> Result<(), OpsError> {
    common(cfg.memory, cfg.cores, cfg.tags.as_ref(), cfg.description.as_ref())?;
    for (i, nic) in &cfg.net {
        if let Some(b) = &nic.bridge {
            limits::bridge(b).map_err(|e| invalid(&format!("net{i}"), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proxctl_types::prop::Memory;

    use super::*;

    #[test]
    fn what_pve_would_refuse_is_refused_with_the_flag_named() {
        let cfg = |f: &dyn Fn(&mut QemuConfig)| {
            let mut c = QemuConfig::default();
            f(&mut c);
            qemu(&c).map_err(|e| e.to_string())
        };
        assert!(cfg(&|_| {}).is_ok());
        let e = cfg(&|c| c.memory = Some(Memory::mib(u64::MAX))).unwrap_err();
        assert!(e.starts_with("--memory (MiB): "), "{e}");
        let e = cfg(&|c| c.tags = Some(vec!["$(id)".into()])).unwrap_err();
        assert!(e.contains("invalid characters in tag '$(id)'"), "{e}");
        let e = cfg(&|c| c.tags = Some(vec!["x\u{1b}]0;pwn\u{7}".into()])).unwrap_err();
        assert!(!e.contains('\u{1b}'), "the ESC never reaches the terminal: {e:?}");
        assert!(cfg(&|c| c.cores = Some(0)).is_err());
        assert!(cfg(&|c| c.description = Some("x".repeat(120_000))).is_err());
    }
}
