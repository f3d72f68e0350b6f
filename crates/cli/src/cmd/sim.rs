//! `proxctl sim`: run the simulator until interrupted, with the startup contract scripts rely on.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use proxctl_sim::{ClockMode, SimConfig};
use proxctl_types::secret::Secret;

use crate::exit::UserError;
use crate::flags::{ClockArg, SimArgs};

pub async fn run(a: SimArgs) -> anyhow::Result<()> {
    if a.nodes == 0 || a.nodes > 64 {
        return Err(UserError(format!("--nodes must be between 1 and 64, not {}", a.nodes)).into());
    }
    if !a.time_scale.is_finite() || a.time_scale <= 0.0 {
        return Err(UserError("--time-scale must be a positive number".into()).into());
    }
    let schema = match &a.schema {
        Some(p) => Some(Arc::new(
            proxctl_schema::ApiSchema::load(p)
                .with_context(|| format!("loading --schema {}", p.display()))?,
        )),
        None => None,
    };
    let scenario = match &a.scenario {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading --scenario {}", p.display()))?;
            Some(proxctl_sim::scenario::Scenario::from_yaml(&text).map_err(UserError)?)
        }
        None => None,
    };
    let faults =
        match &a.faults {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading --faults {}", p.display()))?;
                Some(serde_json::from_str::<proxctl_sim::Faults>(&text).map_err(|e| {
                    UserError(format!("--faults {} is not valid: {e}", p.display()))
                })?)
            }
            None => None,
        };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty()).map(Secret::new);
    let password = env("PROXCTL_SIM_PASSWORD");
    let token = env("PROXCTL_SIM_TOKEN");
    let generated = password.is_none() || token.is_none();
    let cfg = SimConfig {
        nodes: a.nodes,
        seed: a.seed,
        clock: match a.clock {
            ClockArg::Realtime => ClockMode::Realtime,
            ClockArg::Manual => ClockMode::Manual,
        },
        time_scale: a.time_scale,
        root_password: password,
        token,
        auditor_token: env("PROXCTL_SIM_AUDITOR_TOKEN"),
        schema,
        state_file: a.persist.clone(),
        scenario,
        faults,
        resources_lag: a.resources_lag,
        // On loopback every node can have an address of its own, as in a real cluster.
        node_addresses: a.node_addresses || (a.listen.ip().is_loopback() && !a.one_address),
        ..SimConfig::default()
    };
    let sim = proxctl_sim::start(cfg, a.listen).await.context("starting the simulator")?;
    // The CA and the ready file come first: scripts may watch stderr for "listening", then
    // read them.
    if let Some(p) = &a.ca_out {
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, &sim.ca_pem).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, p).with_context(|| format!("writing --ca-out {}", p.display()))?;
    }
    if let Some(p) = &a.ready_file {
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, sim.ready_json().to_string())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, p)
            .with_context(|| format!("writing --ready-file {}", p.display()))?;
    }
    eprintln!("proxctl sim: {} node(s) listening on {}", sim.nodes.len(), sim.url);
    eprintln!("  fingerprint: {}", sim.fingerprint);
    if generated {
        // Generated credentials exist nowhere else, so they are printed once, to stderr.
        eprintln!("  root@pam password: {}", sim.root_password.expose());
        eprintln!("  API token:         {}", sim.token.expose());
        eprintln!("  auditor token:     {}", sim.auditor_token.expose());
        eprintln!("  (set PROXCTL_SIM_PASSWORD and PROXCTL_SIM_TOKEN to choose them)");
    }
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown_signal() => break,
            _ = tick.tick() => {
                if let Err(e) = sim.save_state() {
                    eprintln!("warning: {e:#}");
                }
            }
        }
    }
    sim.shutdown().context("saving simulator state")?;
    eprintln!("proxctl sim: stopped");
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
