//! `proxctl job …`: scheduled policies (snapshots, backups, power, tags, template rebuilds,
//! drift checks, reconciles, backup checks) that `proxctl serve` runs, exactly once across its
//! instances.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Make a job. It runs inside `proxctl serve` (the leader, when several share a store).
    Create(JobCreateArgs),
    /// Every job, with its next run.
    List,
    /// One job: its settings, next runs and last run.
    Show { name: String },
    /// A job's runs, newest first: when, how it ended, and what it did to each guest.
    History {
        name: String,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        last: usize,
    },
    /// Run a job now, here, and record it in its history.
    Run { name: String },
    /// Let the schedule run it again.
    Enable { name: String },
    /// Stop the schedule from running it (it can still be run by hand).
    Disable { name: String },
    /// Delete a job (asks first); its history stays.
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct JobCreateArgs {
    /// Letters, digits and '-'.
    pub name: String,
    /// A PVE calendar event (`mon..fri 20:00`, `*:0/15`, `sat 02:00`, `daily`) or 5-field
    /// cron (`0 */4 * * *`).
    #[arg(long)]
    pub schedule: String,
    /// snapshot, snapshot-rotate, snapshot-sweep, backup, power, tag, template-rebuild,
    /// drift-check, reconcile or backup-check.
    #[arg(long)]
    pub action: String,
    /// Which guests (see `proxctl get --help`); default all.
    #[arg(short = 'l', long = "selector", default_value = "all")]
    pub selector: String,
    /// The schedule's time zone (IANA, e.g. Europe/Berlin); default the server's.
    #[arg(long)]
    pub timezone: Option<String>,
    /// What to do about runs missed while no server ran: run-once or skip.
    #[arg(long, default_value = "run-once")]
    pub missed: String,
    /// snapshot: how long each snapshot lives (required), e.g. 24h, 7d.
    #[arg(long)]
    pub ttl: Option<String>,
    /// snapshot, snapshot-rotate: the name prefix (the slot's time follows it).
    #[arg(long, default_value = "auto-")]
    pub prefix: String,
    /// snapshot-rotate: how many to keep; template-rebuild: versions to keep.
    #[arg(long)]
    pub keep: Option<usize>,
    /// backup: the storage to write to; template-rebuild: the storage for the image.
    #[arg(long)]
    pub storage: Option<String>,
    /// backup: prune afterwards by PVE's rules (--keep-last, --keep-daily, ...).
    #[command(flatten)]
    pub prune: crate::flags::KeepArgs,
    /// power: start, shutdown, stop or reboot (`always-on` guests are never stopped).
    #[arg(long)]
    pub power: Option<String>,
    /// tag: tags to add.
    #[arg(long = "add")]
    pub add: Vec<String>,
    /// tag: tags to remove.
    #[arg(long = "remove")]
    pub remove: Vec<String>,
    /// template-rebuild: a catalog id to rebuild when its image changes (repeat).
    #[arg(long = "catalog", value_name = "ID")]
    pub catalog: Vec<String>,
    /// template-rebuild: the node to build on (default: the first online one).
    #[arg(long)]
    pub node: Option<String>,
    /// template-rebuild: the storage for the template's disks.
    #[arg(long)]
    pub vm_storage: Option<String>,
    /// drift-check, reconcile: a manifest file or directory, read at every run on the host
    /// that runs the job.
    #[arg(long, value_name = "PATH")]
    pub manifests: Option<std::path::PathBuf>,
    /// drift-check, reconcile: read --manifests now and keep them with the job in the state
    /// store, instead of reading the path at every run.
    #[arg(long, requires = "manifests")]
    pub embed: bool,
    /// reconcile: also delete what proxctl made and the manifests no longer declare.
    #[arg(long = "prune")]
    pub delete_undeclared: bool,
    /// backup-check: the oldest a guest's newest backup may be, e.g. 26h, 2d.
    #[arg(long)]
    pub max_age: Option<String>,
    /// How many runs its history keeps (the newest scheduled run is always kept).
    #[arg(long, default_value_t = proxctl_ops::jobs::DEFAULT_HISTORY)]
    pub history: usize,
    /// Make it disabled.
    #[arg(long)]
    pub disabled: bool,
}
