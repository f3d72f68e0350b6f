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
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Flags every command takes. Secrets are never flags: they come from the environment, a 0600
/// file, or a prompt.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Use this profile from ~/.config/proxctl/config.toml.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The PVE node URL, e.g. https://pve.example.com:8006.
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Pin the node certificate's SHA-256 fingerprint (AB:CD:... as `pvenode cert info` shows).
    #[arg(long, global = true)]
    pub fingerprint: Option<String>,
    /// Trust this CA bundle in addition to the system roots.
    #[arg(long, global = true)]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the certificate at all (warns on every run).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Print the API calls that would change anything, and send none of them.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Output format: table, wide, json or yaml.
    #[arg(short, long, global = true)]
    pub output: Option<String>,
    /// Do not ask for confirmation of destructive actions.
    #[arg(short, long, global = true)]
    pub yes: bool,
    /// Return once a task is started instead of waiting for it.
    #[arg(long, global = true)]
    pub no_wait: bool,
    /// Give up waiting for a task after this many seconds.
    #[arg(long, global = true)]
    pub timeout: Option<u64>,
    /// More logging: -v info, -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log format on stderr (or --log-file): text or json.
    #[arg(long, global = true, default_value = "text")]
    pub log_format: String,
    /// Append logs to this file instead of stderr.
    #[arg(long, global = true)]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List resources: nodes, vms, containers, templates, storage, tasks.
    Get(GetArgs),
    /// Act on a QEMU VM, by name or VMID.
    Vm(GuestArgs),
    /// Act on an LXC container, by name or VMID.
    Ct(GuestArgs),
    /// List, follow and stop tasks.
    Task(TaskArgs),
    /// Show the effective configuration and manage profiles.
    Config(ConfigArgs),
    /// Check connectivity, TLS, authentication, privileges, storages and quorum.
    Doctor,
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages into a directory.
    Man {
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a simulated Proxmox VE cluster that speaks the real API.
    Sim(SimArgs),
    /// A short tour on an in-process simulator: template, three VMs, a snapshot.
    Demo(DemoArgs),
    /// Print the version.
    Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetKind {
    Nodes,
    Vms,
    Containers,
    Templates,
    Storage,
    Tasks,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[arg(value_enum)]
    pub kind: GetKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuestVerb {
    Start,
    Stop,
    Shutdown,
    Reboot,
    Reset,
    Suspend,
    Resume,
    Delete,
    Describe,
}

#[derive(Debug, Args)]
pub struct GuestArgs {
    #[arg(value_enum)]
    pub verb: GuestVerb,
    /// Name or VMID.
    pub target: String,
    /// delete: also remove the guest from backup jobs, replication and HA.
    #[arg(long)]
    pub purge: bool,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Recent and running tasks of the cluster.
    List {
        /// Only running tasks.
        #[arg(long)]
        running: bool,
    },
    /// Print a task's log.
    Logs { upid: String },
    /// Wait for a task to end, streaming its log.
    Wait { upid: String },
    /// Stop a running task.
    Stop { upid: String },
}

#[derive(Debug, Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub command: TaskCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Every effective setting, its value (secrets redacted) and where it came from.
    Show,
    /// The profiles in the config file.
    Profiles,
    /// Make a profile the current one.
    Use { name: String },
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
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
