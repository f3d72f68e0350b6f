//! `proxctl config show|profiles|use`.

use crate::exit::UserError;
use crate::flags::{ConfigArgs, ConfigCommand, GlobalArgs};
use crate::profile;
use crate::settings::{Resolved, resolve};

/// Settings from flags, the process environment and the config file.
pub fn resolve_from_env(g: &GlobalArgs) -> anyhow::Result<Resolved> {
    let cfg = match profile::default_path() {
        Some(p) => profile::load(&p)?,
        None => profile::ConfigFile::default(),
    };
    resolve(g, &|k| std::env::var(k).ok(), &cfg)
}

pub fn run(g: &GlobalArgs, a: ConfigArgs) -> anyhow::Result<()> {
    match a.command {
        ConfigCommand::Show => {
            let r = resolve_from_env(g)?;
            let w = r.shown.iter().map(|s| s.key.len()).max().unwrap_or(0);
            for s in &r.shown {
                outln!("{:<w$}  {}  ({})", s.key, s.value, s.source);
            }
            Ok(())
        }
        ConfigCommand::Profiles => {
            let path = profile::default_path().ok_or_else(|| {
                UserError("cannot find the config directory (HOME is unset)".into())
            })?;
            let cfg = profile::load(&path)?;
            if cfg.profiles.is_empty() {
                outln!("no profiles in {}", path.display());
            }
            for (name, p) in &cfg.profiles {
                let mark = if cfg.current.as_deref() == Some(name) { "*" } else { " " };
                outln!("{mark} {name:<12} {}", p.url.as_deref().unwrap_or("-"));
            }
            Ok(())
        }
        ConfigCommand::Set { key, value } => {
            let path = profile::default_path().ok_or_else(|| {
                UserError("cannot find the config directory (HOME is unset)".into())
            })?;
            let mut cfg = profile::load(&path)?;
            let name = g.profile.clone().or_else(|| cfg.current.clone()).ok_or_else(|| {
                UserError(
                    "no current profile: pass --profile NAME (it is created if missing)".into(),
                )
            })?;
            let p = cfg.profiles.entry(name.clone()).or_default();
            profile::set_key(p, &key, &value)?;
            if cfg.current.is_none() {
                cfg.current = Some(name.clone());
            }
            profile::save(&path, &cfg)?;
            outln!("{name}: {key} = {value}");
            Ok(())
        }
        ConfigCommand::Use { name } => {
            let path = profile::default_path().ok_or_else(|| {
                UserError("cannot find the config directory (HOME is unset)".into())
            })?;
            let mut cfg = profile::load(&path)?;
            if !cfg.profiles.contains_key(&name) {
                return Err(UserError(format!("no profile '{name}' in {}", path.display())).into());
            }
            cfg.current = Some(name.clone());
            profile::save(&path, &cfg)?;
            outln!("current profile: {name}");
            Ok(())
        }
    }
}
