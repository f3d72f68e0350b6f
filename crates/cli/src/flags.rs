//! Command-line flags: one clap definition, reused for help, man pages and completions.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "proxctl",
    version,
    about = "Run Proxmox VE clusters well",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More logging: -v info, -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a simulated Proxmox VE cluster that speaks the real API.
    Sim(SimArgs),
    /// A short tour on an in-process simulator: template, three VMs, a snapshot.
    Demo(DemoArgs),
    /// Print the version.
    Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockArg {
    /// Simulated time runs at --time-scale times wall-clock speed.
    Realtime,
    /// Simulated time moves only through POST /_sim/advance or /_sim/step.
    Manual,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port (see --ready-file).
    #[arg(long, default_value = "127.0.0.1:8006")]
    pub listen: SocketAddr,
    /// Number of nodes (pve1..pveN; a single node is called pve).
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Seed for everything random (UPIDs, MACs, fault draws): same seed, same outcomes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Persist the cluster to this file across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Seed nodes, storages, images and guests from a YAML scenario (docs/simulator.md).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Validate every request against a PVE API schema (apidata.js or its JSON form).
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    #[arg(long, value_enum, default_value = "realtime")]
    pub clock: ClockArg,
    /// Fault rules as JSON (see docs/simulator.md); also settable at runtime via /_sim/faults.
    #[arg(long)]
    pub faults: Option<PathBuf>,
    /// Model the ~10 s RRD lag of /cluster/resources (new guests show as "unknown").
    #[arg(long)]
    pub resources_lag: bool,
    /// Once listening, write {"url","fingerprint","nodes"} here as JSON.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// End after the tour (exit 0) instead of keeping the simulator running.
    #[arg(long)]
    pub exit: bool,
    /// Simulated seconds per wall-clock second during the tour.
    #[arg(long, default_value_t = 20.0)]
    pub time_scale: f64,
}
