//! Command-line flags: one clap definition, reused for help, man pages and completions.

pub mod chart;
pub mod job;
pub mod mcp;
pub mod notify;

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
    /// Wait for started tasks to end (the default).
    #[arg(long, global = true, overrides_with = "no_wait")]
    pub wait: bool,
    /// Return once a task is started instead of waiting for it.
    #[arg(long, global = true, overrides_with = "wait")]
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
    /// State store: a file path or sqlite://PATH (default: ~/.local/share/proxctl/state.db),
    /// or postgres://USER@HOST/DB to share state between machines.
    #[arg(long, global = true)]
    pub state: Option<String>,
    /// Override proxctl's safety guards: act on always-on guests, and on guests safe mode
    /// protects (the audit log records it).
    #[arg(long, global = true)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List resources: nodes, vms, containers, templates, storage, tasks.
    Get(GetArgs),
    /// Show one resource in full: a VM, a container or a node.
    Describe(DescribeArgs),
    /// Open a guest's console: prints the noVNC URL, or writes a SPICE .vv file.
    Console {
        #[arg(value_enum)]
        kind: ConsoleKind,
        /// Name or VMID.
        target: String,
        /// Write a remote-viewer file here instead (VMs only).
        #[arg(long)]
        spice: Option<PathBuf>,
    },
    /// Create, clone, change and power QEMU VMs (addressed by name or VMID).
    Vm {
        #[command(subcommand)]
        command: VmCommand,
    },
    /// Power and remove LXC containers (addressed by name or VMID).
    Ct {
        #[command(subcommand)]
        command: CtCommand,
    },
    /// Take, list, delete and roll back snapshots; expire them with --ttl and `sweep`.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Back up now, list, protect, annotate, delete and prune backups.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// cloud-init NoCloud seeds: write the seed ISO a VM would get, locally.
    Cloudinit {
        #[command(subcommand)]
        command: CloudinitCommand,
    },
    /// Versioned templates from cloud images, built through the API alone.
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
    },
    /// Download ISOs, container templates and disk images onto a node's storage.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Cluster-wide status.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Drain a node for maintenance, and undo it.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Run one action on many guests picked by -l, with a per-guest report.
    Bulk(BulkArgs),
    /// Add, remove or replace tags on the guests picked by -l, or count tags.
    Tag {
        #[command(subcommand)]
        command: TagCommand,
    },
    /// List, follow and stop tasks.
    Task(TaskArgs),
    /// Show the effective configuration and manage profiles.
    Config(ConfigArgs),
    /// Check manifests without touching the cluster; problems print as file:line:column.
    Validate(ManifestArgs),
    /// Print the JSON Schema of manifests, for editors.
    Schema,
    /// Show what apply would change, resource by resource and field by field.
    Plan(PlanArgs),
    /// Make the cluster match the manifests (or apply a saved plan).
    Apply(ApplyArgs),
    /// Show live against desired for every declared resource, unchanged ones included.
    Diff(ManifestArgs),
    /// Delete what the manifests declare (asks first).
    Delete(DeleteArgs),
    /// Print manifests for existing VMs, matching what PVE has.
    Export(ExportArgs),
    /// Take over existing VMs the manifests name: record them and mark them as managed.
    Adopt(ManifestArgs),
    /// An Ansible dynamic inventory of the guests: `--list` (groups from tags, nodes, pools,
    /// types, power state and manifests, with every host's vars) or `--host NAME`. Point
    /// Ansible at a two-line script that runs `proxctl inventory "$@"`.
    Inventory(InventoryArgs),
    /// Plan and apply in a loop; each activation prints its status and is the last one's retry.
    Reconcile(ReconcileArgs),
    /// Keep one of several guests carrying the same resource; delete (or release) the others.
    Resolve(ResolveArgs),
    /// List and verify the audit log of every change proxctl made.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check connectivity, TLS, authentication, privileges, storages and quorum.
    Doctor,
    /// What needs attention now, as the dashboard's overview lists it.
    ///
    /// Nodes offline, failed tasks, guests without a recent backup, failed jobs, drift found
    /// by drift-check jobs, snapshots past their TTL or older than --snapshot-age.
    Attention {
        /// The oldest a guest's newest backup may be.
        #[arg(long, default_value = "26h")]
        backup_age: String,
        /// Snapshots older than this are listed.
        #[arg(long, default_value = "30d")]
        snapshot_age: String,
        /// Exit 1 when anything is listed (for cron and CI).
        #[arg(long)]
        check: bool,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages into a directory, or print the command reference as Markdown.
    Man {
        #[arg(long, required_unless_present = "markdown")]
        out: Option<PathBuf>,
        /// Print every command's help as Markdown (docs/cli-reference.md is made this way).
        #[arg(long)]
        markdown: bool,
    },
    /// Run proxctl as a service: the REST API (HTTPS, OpenAPI, tokens and roles) over the
    /// same operations as the CLI.
    Serve(ServeArgs),
    /// Clusters `proxctl serve` manages besides the one the settings name, kept in the state
    /// store every instance shares: add (checked first), list, remove.
    Remote {
        #[command(subcommand)]
        command: RemoteCommand,
    },
    /// Scheduled jobs that `proxctl serve` runs: snapshots with a TTL, backups with prune,
    /// power, tags; with their history.
    Job {
        #[command(subcommand)]
        command: job::JobCommand,
    },
    /// Notifications of job outcomes: targets (signed webhooks, Slack, Discord, ntfy, Gotify)
    /// and the matchers that route events to them.
    Notify {
        #[command(subcommand)]
        command: notify::NotifyCommand,
    },
    /// Charts: parameterised manifests for whole environments (create, lint, template,
    /// package, show, list, repositories).
    Chart {
        #[command(subcommand)]
        command: chart::ChartCommand,
    },
    /// Releases: charts installed with a revision history; install, upgrade (plan first),
    /// rollback, uninstall, list, history, status, get, adopt.
    Release {
        #[command(subcommand)]
        command: chart::ReleaseCommand,
    },
    /// The MCP server for AI assistants, over stdio (read-only unless `--mode operate`), and
    /// the change sets they propose: list, show, approve, reject.
    Mcp(mcp::McpArgs),
    /// API tokens for `proxctl serve`: create one (its secret is printed once), list, revoke.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
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
    Snapshots,
    Backups,
    /// Every guest with its newest backup, the backup jobs that cover it, and whether it is
    /// within --max-age.
    BackupCoverage,
    /// Node network interfaces (NAME filters by node or interface).
    Networks,
    /// SDN zones and vnets.
    Sdn,
    /// HA manager status and managed services.
    Ha,
    /// Cluster membership and quorum (also `proxctl cluster status`).
    Cluster,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[arg(value_enum)]
    pub kind: GetKind,
    /// Only this one (name or VMID for guests, node name, storage ID); required for snapshots.
    pub name: Option<String>,
    /// Only guests matching this selector: tags with `,`/`&`/space (AND), `|` (OR), `!` (NOT),
    /// parentheses and `*` wildcards, plus id:100-199, name:web-*, node:pve1, pool:prod, all.
    /// Example: -l 'env-prod & (web | db) & !maint-ok'.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    /// backup-coverage: the oldest a guest's newest backup may be (e.g. 26h, 2d).
    #[arg(long, default_value = proxctl_ops::coverage::DEFAULT_MAX_AGE)]
    pub max_age: String,
}

#[derive(Debug, Args)]
pub struct Target {
    /// Name or VMID.
    pub target: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConsoleKind {
    Vm,
    Ct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DescribeKind {
    Vm,
    Container,
    Node,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[arg(value_enum)]
    pub kind: DescribeKind,
    /// Name or VMID (node name for nodes).
    pub name: String,
}

/// Verbs VMs and containers share.
#[derive(Debug, Subcommand)]
pub enum PowerVerb {
    /// Start the guest.
    Start(Target),
    /// Stop the guest at once (asks first).
    Stop(Target),
    /// Shut the guest down cleanly (asks first).
    Shutdown(Target),
    /// Reboot the guest (asks first).
    Reboot(Target),
    /// Pause the guest.
    Suspend(Target),
    /// Resume a paused guest.
    Resume(Target),
    /// Destroy the guest and its disks (asks first).
    Delete {
        target: String,
        /// Also remove it from backup jobs, replication and HA.
        #[arg(long)]
        purge: bool,
    },
    /// Open a console: prints the noVNC URL, or writes a SPICE .vv file.
    Console {
        target: String,
        /// Write a remote-viewer file here instead (VMs only).
        #[arg(long)]
        spice: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum VmCommand {
    #[command(flatten)]
    Power(PowerVerb),
    /// Hard-reset the VM (asks first).
    Reset(Target),
    /// Create a VM (validated before anything is sent).
    Create(CreateArgs),
    /// Clone a VM or template by name.
    Clone {
        /// The source (usually a template), by name or VMID.
        source: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        vmid: Option<proxctl_types::VmId>,
        /// Full copy instead of PVE's default (linked for templates).
        #[arg(long, conflicts_with = "linked")]
        full: bool,
        #[arg(long)]
        linked: bool,
        /// Clone onto another node (shared storage only).
        #[arg(long)]
        node: Option<proxctl_types::NodeName>,
    },
    /// Grow a disk: `+10G` adds, `64G` sets the size.
    Resize {
        target: String,
        /// The disk slot, e.g. scsi0.
        disk: proxctl_types::prop::DriveSlot,
        #[arg(allow_hyphen_values = true)]
        size: proxctl_types::wire::ResizeTo,
    },
    /// Change config keys; the change is refused if someone else changed the VM meanwhile.
    Set(SetArgs),
    /// Move the VM to another node, after checking PVE's preconditions.
    Migrate {
        /// The VM, by name or VMID.
        target: String,
        /// The node to move it to.
        #[arg(long = "to")]
        to: proxctl_types::NodeName,
        /// Live-migrate a running VM.
        #[arg(long)]
        online: bool,
        /// Copy local disks along.
        #[arg(long)]
        with_local_disks: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CtCommand {
    #[command(flatten)]
    Power(PowerVerb),
    /// Create a container (validated before anything is sent). The root password comes from
    /// PROXCTL_CT_PASSWORD or a prompt, never from a flag.
    Create(CtCreateArgs),
    /// Clone a container or container template by name.
    Clone {
        source: String,
        #[arg(long)]
        hostname: String,
        #[arg(long)]
        vmid: Option<proxctl_types::VmId>,
        /// Full copy instead of PVE's default (linked for templates).
        #[arg(long)]
        full: bool,
    },
    /// Grow rootfs or a mount point: `+2G` adds, `20G` sets the size.
    Resize {
        target: String,
        /// rootfs or mpN.
        disk: String,
        #[arg(allow_hyphen_values = true)]
        size: proxctl_types::wire::ResizeTo,
    },
    /// Change container config keys; refused if someone else changed it meanwhile.
    Set(CtSetArgs),
}

#[derive(Debug, Args)]
pub struct CtSetArgs {
    pub target: String,
    #[arg(long)]
    pub cores: Option<u32>,
    /// MiB.
    #[arg(long)]
    pub memory: Option<u64>,
    #[arg(long)]
    pub description: Option<String>,
    /// Replace the tags.
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long)]
    pub onboot: Option<bool>,
    /// Remove these config keys.
    #[arg(long = "delete")]
    pub delete: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CtCreateArgs {
    #[arg(long)]
    pub hostname: String,
    /// The container template, e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst.
    #[arg(long)]
    pub template: String,
    #[arg(long)]
    pub vmid: Option<proxctl_types::VmId>,
    #[arg(long)]
    pub node: Option<proxctl_types::NodeName>,
    #[arg(long)]
    pub storage: Option<proxctl_types::StorageId>,
    /// Root disk size in GiB.
    #[arg(long, default_value_t = 8)]
    pub disk: u32,
    /// MiB.
    #[arg(long, default_value_t = 512)]
    pub memory: u64,
    #[arg(long, default_value_t = 1)]
    pub cores: u32,
    #[arg(long)]
    pub bridge: Option<String>,
    #[arg(long)]
    pub ip: Option<ipnet::Ipv4Net>,
    #[arg(long)]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// A file of SSH public keys for root.
    #[arg(long)]
    pub ssh_keys: Option<PathBuf>,
    /// Run privileged (unprivileged is the safe default).
    #[arg(long)]
    pub privileged: bool,
    #[arg(long)]
    pub start: bool,
}

#[derive(Debug, Clone, Default, Args)]
pub struct CreateArgs {
    /// The VM's name (on a terminal, leaving it out starts the wizard).
    #[arg(value_name = "NAME")]
    pub name_arg: Option<String>,
    /// The VM's name, for scripts that prefer a flag.
    #[arg(long = "name", conflicts_with = "name_arg", value_name = "NAME")]
    pub name: Option<String>,
    #[arg(long)]
    pub vmid: Option<proxctl_types::VmId>,
    #[arg(long)]
    pub node: Option<proxctl_types::NodeName>,
    /// CPU cores (default 2).
    #[arg(long)]
    pub cores: Option<u32>,
    /// Memory in MiB (default 2048).
    #[arg(long)]
    pub memory: Option<u64>,
    /// Disk storage (defaults to the profile's).
    #[arg(long)]
    pub storage: Option<proxctl_types::StorageId>,
    /// Boot disk size, e.g. 32G (default 32G).
    #[arg(long, visible_alias = "disk-size")]
    pub disk: Option<proxctl_types::wire::DiskSize>,
    /// Import the boot disk from this volume, e.g. local:import/debian-12.qcow2.
    #[arg(long)]
    pub image: Option<String>,
    #[arg(long)]
    pub bridge: Option<String>,
    /// VLAN tag of the first NIC (1-4094).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=4094))]
    pub vlan: Option<u16>,
    /// A NIC, repeatable (net0, net1, ...): bridge=vmbr0[,tag=10][,model=virtio][,firewall=1].
    /// Instead of --bridge and --vlan.
    #[arg(long = "net", value_name = "SPEC", conflicts_with_all = ["bridge", "vlan"])]
    pub nets: Vec<proxctl_ops::nic::NicRequest>,
    /// Static address with prefix, e.g. 10.0.0.5/24 (DHCP without it).
    #[arg(long)]
    pub ip: Option<ipnet::Ipv4Net>,
    #[arg(long)]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Static IPv6 address with prefix, e.g. 2001:db8::5/64 (SLAAC without it).
    #[arg(long)]
    pub ip6: Option<ipnet::Ipv6Net>,
    #[arg(long)]
    pub gateway6: Option<std::net::Ipv6Addr>,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long)]
    pub start: bool,
    /// Clone this template (name, VMID, or a versioned template's stable name) instead of
    /// creating from --image; the VM is then managed like a declared one.
    #[arg(long, conflicts_with = "image")]
    pub from_template: Option<String>,
    /// With --from-template: `native` (PVE's cloud-init drive, the default) or `iso` (a NoCloud
    /// seed ISO).
    #[arg(long, requires = "from_template")]
    pub cloud_init: Option<String>,
    /// With --cloud-init iso: the storage (with `iso` content) for the seed (default local).
    #[arg(long, requires = "from_template")]
    pub iso_storage: Option<proxctl_types::StorageId>,
    /// The user cloud-init creates.
    #[arg(long, requires = "from_template")]
    pub ci_user: Option<String>,
    /// Where the cloud-init password comes from: env:NAME or file:PATH (native mode only).
    #[arg(long, requires = "from_template")]
    pub ci_password_from: Option<String>,
    /// Public key files (repeatable), e.g. ~/.ssh/id_ed25519.pub.
    #[arg(long = "ssh-key", requires = "from_template")]
    pub ssh_keys: Vec<PathBuf>,
    #[arg(long, requires = "from_template")]
    pub nameserver: Option<String>,
    #[arg(long, requires = "from_template")]
    pub searchdomain: Option<String>,
    /// With --cloud-init iso: your own #cloud-config file as the base of the seed's user-data
    /// (--ci-user and --ssh-key are merged into it).
    #[arg(long, requires = "from_template")]
    pub user_data: Option<PathBuf>,
    /// After starting, wait for cloud-init in the guest (through the agent) and report it.
    #[arg(long, requires = "start")]
    pub wait_cloud_init: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    pub target: String,
    #[arg(long)]
    pub cores: Option<u32>,
    /// MiB.
    #[arg(long)]
    pub memory: Option<u64>,
    #[arg(long)]
    pub description: Option<String>,
    /// Replace the tags.
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long)]
    pub onboot: Option<bool>,
    /// Remove these config keys.
    #[arg(long = "delete")]
    pub delete: Vec<String>,
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
    /// Set a key of a profile (the current one unless --profile), creating it if needed.
    /// Secrets cannot be set here: use secret_from = env:NAME, file:PATH or prompt.
    Set { key: String, value: String },
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
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (see --ready-file).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// The server's certificate (PEM); without it, a self-signed one is made once and kept
    /// in --data-dir.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where the server keeps its own files (default: ~/.local/share/proxctl/server).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Write {"url", "fingerprint"} here once listening.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Requests per second each token may make (bursts of twice that).
    #[arg(long, default_value_t = 50)]
    pub rate_limit: u32,
    /// Instances sharing a state store elect one to do singleton work (snapshot sweeps); a
    /// leader that stops renewing is replaced after this long: 15s, 1m.
    #[arg(long, default_value = "15s")]
    pub leader_lease: String,
    /// How often the leader deletes expired snapshots (0 never): 60s, 5m.
    #[arg(long, default_value = "60s")]
    pub sweep_interval: String,
    /// How often the leader looks for due jobs (0 never): 10s, 1m. A slot runs within this
    /// long of its time.
    #[arg(long, default_value = "10s")]
    pub job_interval: String,
    /// Also serve /metrics and /pve over plain HTTP without a token, for a Prometheus on this
    /// host: a port (on 127.0.0.1, e.g. 9221, the exporter's) or ADDR:PORT.
    #[arg(long, value_name = "PORT|ADDR:PORT")]
    pub metrics_listen: Option<String>,
    /// The backup policy /metrics judges guests by (proxctl_backup_status): a guest whose
    /// newest backup is older than this is too-old. 26h, 2d.
    #[arg(long, default_value = proxctl_ops::coverage::DEFAULT_MAX_AGE, value_name = "AGE")]
    pub metrics_backup_max_age: String,
    /// Guests whose config and snapshots each scrape re-reads (two PVE requests each), so a
    /// scrape's cost stays bounded; the longest unread go first.
    #[arg(long, default_value_t = proxctl_ops::metrics::details::PER_SCRAPE, value_name = "N")]
    pub metrics_guest_reads: usize,
    /// The MCP endpoint at /mcp: read-only (the default: read tools and plan) or operate
    /// (also the operate tools and change sets, as each token's role allows).
    #[arg(long, default_value = "read-only", value_name = "MODE")]
    pub mcp_mode: String,
    /// Approve change sets proposed by tokens of this role as they are proposed (repeat for
    /// several roles). Off by default: a person runs `proxctl mcp approve ID`.
    #[arg(long, value_name = "ROLE")]
    pub mcp_auto_approve: Vec<String>,
    /// MCP tool calls each token may make per minute.
    #[arg(long, default_value_t = 120, value_name = "N")]
    pub mcp_calls_per_minute: u32,
    /// For tests only: the scheduler reads its time from this file (an RFC 3339 time) at
    /// every tick, so a test can drive server processes through a simulated day.
    #[arg(long, hide = true, value_name = "FILE")]
    pub scheduler_clock_file: Option<PathBuf>,
    /// After SIGTERM, how long requests in flight and running operations get to finish;
    /// operations still running then are recorded as interrupted.
    #[arg(long, default_value = "30s")]
    pub shutdown_grace: String,
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a cluster, after checking proxctl can reach it with the token given. Its address
    /// is --url (one of its nodes, e.g. https://pve2.example.com:8006) and --fingerprint pins
    /// its certificate (else the system CAs verify it).
    Add {
        /// A name for it in the API (letters, digits, '-', '_').
        name: String,
        /// The PVE API token id, user@realm!name.
        #[arg(long)]
        token_id: String,
        /// Where its secret is: env:NAME or file:PATH (0600); every server instance resolves
        /// it. Without it, the secret is asked for and kept in a 0600 file beside the state.
        #[arg(long)]
        secret: Option<String>,
    },
    /// List the stored remotes (never secrets).
    List,
    /// Forget a remote (asks first); running servers stop managing it within seconds.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print its secret, once: keep it, it cannot be shown again.
    Create {
        /// A name to list and revoke it by (letters, digits, '-', '_', '.').
        name: String,
        /// viewer (read), operator (power, snapshots, backups, tags, bulk) or admin.
        #[arg(long)]
        role: String,
        /// Limit the token to the guests this selector picks (the -l language).
        #[arg(long)]
        scope: Option<String>,
        /// Expire after this long, e.g. 90d or 12h (default: never).
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens: names, roles, scopes and dates (never secrets).
    List,
    /// Revoke a token: requests with it fail from then on (within seconds on every instance).
    Revoke { name: String },
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
    pub persist: Option<PathBuf>,
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
    /// Give every node its own address (127.0.0.2, 127.0.0.3, ... on loopback, else its own
    /// port) and certificate, as a real cluster has; /nodes and /cluster/status report them.
    /// This is the default when listening on a loopback address.
    #[arg(long, conflicts_with = "one_address")]
    pub node_addresses: bool,
    /// Serve every node on the one listener with one certificate, even on loopback.
    #[arg(long)]
    pub one_address: bool,
    /// Once listening, write {"url","fingerprint","nodes","node_urls"} here as JSON.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Write the cluster's CA certificate (PEM) here before listening, so clients can verify
    /// TLS against it (as against a real cluster's pve-root-ca.pem) instead of turning it off.
    #[arg(long)]
    pub ca_out: Option<PathBuf>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BulkVerb {
    Start,
    Stop,
    Shutdown,
    Reboot,
    Snapshot,
    Backup,
    Tag,
    Delete,
}

#[derive(Debug, Args)]
pub struct BulkArgs {
    #[arg(value_enum)]
    pub verb: BulkVerb,
    /// Which guests (see `proxctl get --help` for the selector language); `all` for every guest.
    #[arg(short = 'l', long = "selector", required = true)]
    pub selector: String,
    /// How many guests at a time.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// snapshot: the snapshot name.
    #[arg(long)]
    pub name: Option<proxctl_types::SnapshotName>,
    /// snapshot: delete the snapshots after this long (`30m`, `4h`, `2d`, `1w`).
    #[arg(long)]
    pub ttl: Option<String>,
    /// backup: the target storage.
    #[arg(long)]
    pub storage: Option<proxctl_types::StorageId>,
    /// tag: tags to add.
    #[arg(long)]
    pub add: Vec<String>,
    /// tag: tags to remove.
    #[arg(long)]
    pub remove: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum TagCommand {
    /// Add tags to every selected guest.
    Add {
        #[arg(short = 'l', long = "selector", required = true)]
        selector: String,
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Remove tags from every selected guest.
    Remove {
        #[arg(short = 'l', long = "selector", required = true)]
        selector: String,
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Replace the tags of every selected guest.
    Replace {
        #[arg(short = 'l', long = "selector", required = true)]
        selector: String,
        tags: Vec<String>,
    },
    /// How many guests carry each tag.
    Stats {
        #[arg(short = 'l', long = "selector")]
        selector: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// The cloud image catalog: built in, plus ~/.config/proxctl/catalog.yaml (or
    /// $PROXCTL_CATALOG), whose entries add to it or replace those with the same id.
    List,
    /// Catalog entries matching every word, e.g. `debian arm64` or `bookworm`.
    Search {
        #[arg(required = true)]
        words: Vec<String>,
    },
    /// One catalog entry in full: URL or how the latest is found, checksum, user, firmware.
    Show { id: String },
    /// Download a catalog image (by id) or a URL into the local cache
    /// (~/.cache/proxctl/images), verified against its checksum; resumes an interrupted one.
    Fetch {
        /// A catalog id (`proxctl image list`) or an http(s) URL.
        #[arg(value_name = "ID|URL")]
        source: String,
        /// Expected SHA-256 (needed for a URL outside the catalog; overrides the checksum file).
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Re-hash every cached image; fails if any no longer matches its checksum.
    Verify,
    /// Empty the local image cache, partial downloads included (asks first).
    Prune,
    /// Have a node download a file by URL (PVE's download-url); the type comes from the name.
    /// Given a catalog id instead of a URL (and no --node), it is `image fetch`: a verified
    /// download into the local cache.
    Pull {
        /// http(s) URL of an .iso, a .tar.{gz,xz,zst} container template or a disk image; or a
        /// catalog id. (Not `url`: that id belongs to the global --url.)
        #[arg(value_name = "URL")]
        source: String,
        /// The node that downloads (default: the profile's node, else the first online one).
        #[arg(long)]
        node: Option<proxctl_types::NodeName>,
        /// A file storage with the matching content type.
        #[arg(long, default_value = "local")]
        storage: proxctl_types::StorageId,
        /// Store under this name (default: the URL's last segment).
        #[arg(long)]
        filename: Option<String>,
        /// Expected SHA-256; PVE verifies it after the download.
        #[arg(long)]
        sha256: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Membership and quorum: the cluster entry, then each node.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up a guest now with vzdump.
    Create {
        /// The guest, by name or VMID.
        target: String,
        /// Target storage (needed for --protected and --notes-template).
        #[arg(long)]
        storage: Option<proxctl_types::StorageId>,
        /// snapshot, suspend or stop.
        #[arg(long, default_value = "snapshot", value_parser = ["snapshot", "suspend", "stop"])]
        mode: String,
        /// 0, gzip, lzo or zstd.
        #[arg(long, default_value = "zstd", value_parser = ["0", "1", "gzip", "lzo", "zstd"])]
        compress: String,
        /// Notes for the backup; {{guestname}}, {{node}}, {{vmid}} and {{cluster}} expand.
        #[arg(long)]
        notes_template: Option<String>,
        /// Protect the backup from pruning and deletion.
        #[arg(long)]
        protected: bool,
    },
    /// Backups, filtered by guest, node or storage; newest first per guest.
    List {
        /// Only this guest's backups (name or VMID).
        target: Option<String>,
        #[arg(long)]
        node: Option<proxctl_types::NodeName>,
        #[arg(long)]
        storage: Option<proxctl_types::StorageId>,
    },
    /// Protect a backup from pruning and deletion.
    Protect { volid: proxctl_types::VolumeId },
    /// Remove a backup's protection.
    Unprotect { volid: proxctl_types::VolumeId },
    /// Replace a backup's notes.
    Notes { volid: proxctl_types::VolumeId, notes: String },
    /// Delete a backup (asks first; refuses protected ones).
    Delete { volid: proxctl_types::VolumeId },
    /// Restore a VM or container backup as a new guest (new VMID, new MAC addresses).
    Restore {
        volid: proxctl_types::VolumeId,
        /// The new VMID (default: the next free one).
        #[arg(long)]
        vmid: Option<proxctl_types::VmId>,
        /// Where the restored disks go (default: where they were).
        #[arg(long)]
        storage: Option<proxctl_types::StorageId>,
    },
    /// Apply PVE retention rules per guest; --dry-run lists what would go.
    Prune {
        /// Only this guest's backups (name or VMID); all guests when left out.
        target: Option<String>,
        #[arg(long)]
        storage: Option<proxctl_types::StorageId>,
        #[command(flatten)]
        keep: KeepArgs,
    },
}

/// PVE's `prune-backups` options, one flag each.
#[derive(Debug, Args)]
pub struct KeepArgs {
    #[arg(long)]
    pub keep_last: Option<u32>,
    #[arg(long)]
    pub keep_hourly: Option<u32>,
    #[arg(long)]
    pub keep_daily: Option<u32>,
    #[arg(long)]
    pub keep_weekly: Option<u32>,
    #[arg(long)]
    pub keep_monthly: Option<u32>,
    #[arg(long)]
    pub keep_yearly: Option<u32>,
}

impl From<&KeepArgs> for proxctl_ops::jobs::Keep {
    fn from(k: &KeepArgs) -> Self {
        Self {
            keep_last: k.keep_last,
            keep_hourly: k.keep_hourly,
            keep_daily: k.keep_daily,
            keep_weekly: k.keep_weekly,
            keep_monthly: k.keep_monthly,
            keep_yearly: k.keep_yearly,
        }
    }
}

impl From<KeepArgs> for proxctl_types::prop::PruneBackups {
    fn from(k: KeepArgs) -> Self {
        Self::from(&proxctl_ops::jobs::Keep::from(&k))
    }
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot; --ttl records an expiry that `snapshot sweep` enforces.
    Create {
        target: String,
        name: proxctl_types::SnapshotName,
        /// Expire after this long: 30m, 4h, 2d, 1w.
        #[arg(long)]
        ttl: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Include the RAM state (VMs).
        #[arg(long)]
        ram: bool,
    },
    /// A guest's snapshots as a tree.
    List { target: String },
    /// Delete snapshots by name or `*` pattern (asks first).
    Delete { target: String, pattern: String },
    /// Roll a guest back to a snapshot (asks first).
    Rollback {
        target: String,
        name: proxctl_types::SnapshotName,
        /// Start the guest afterwards.
        #[arg(long)]
        start: bool,
    },
    /// Delete expired snapshots of the selected guests; safe to run from cron.
    Sweep {
        #[arg(short = 'l', long = "selector", default_value = "all")]
        selector: String,
    },
    /// Keep only the newest N snapshots whose names start with --prefix.
    Rotate {
        #[arg(short = 'l', long = "selector", required = true)]
        selector: String,
        #[arg(long)]
        keep: usize,
        #[arg(long, default_value = "auto-")]
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Move maint-ok guests away and shut down the other running ones (always-on ones only
    /// with the global --force); everything touched is tagged for undrain.
    Drain {
        /// The node going into maintenance.
        node: proxctl_types::NodeName,
        /// Where to move maint-ok guests (default: another online node).
        #[arg(long = "to")]
        to: Option<proxctl_types::NodeName>,
    },
    /// Bring back what drain moved or stopped.
    Undrain {
        /// The node that was drained.
        node: proxctl_types::NodeName,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap gives a subcommand argument and a global flag with the same id one value, so a
    /// positional `url` would silently become `--url`. Walk the whole tree to keep ids apart.
    #[test]
    fn no_subcommand_argument_shares_an_id_with_a_global_flag() {
        fn walk(cmd: &clap::Command, globals: &[String], path: &str, clashes: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                let here = format!("{path} {}", sub.get_name());
                for a in sub.get_arguments().filter(|a| !a.is_global_set()) {
                    if globals.iter().any(|g| g == a.get_id().as_str()) {
                        clashes.push(format!("{here}: {}", a.get_id()));
                    }
                }
                walk(sub, globals, &here, clashes);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let globals: Vec<String> = cmd
            .get_arguments()
            .filter(|a| a.is_global_set())
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(globals.iter().any(|g| g == "url"), "globals: {globals:?}");
        let mut clashes = Vec::new();
        walk(&cmd, &globals, "proxctl", &mut clashes);
        assert!(clashes.is_empty(), "arguments shadowing global flags: {clashes:?}");
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show audit rows, oldest first.
    List(AuditListArgs),
    /// Check the hash chain; fails if any row was modified, deleted, reordered or cut off.
    /// Rows cut off the end (with the stored head rewritten) show against a head kept
    /// elsewhere: --head, and the last row of the audit file when one is configured.
    Verify {
        /// A head printed earlier by `audit head` (SEQ:HASH); repeatable.
        #[arg(long = "head")]
        heads: Vec<String>,
    },
    /// Print the chain's head (SEQ:HASH), to keep outside the store for `verify --head`.
    Head,
}

#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only rows by this actor (exact).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only rows about this target, e.g. qemu/100 or storage/pve/local.
    #[arg(long)]
    pub target: Option<String>,
    /// Only rows whose action contains this text, e.g. status/stop or snapshot.
    #[arg(long)]
    pub action: Option<String>,
    /// Only rows at or after this time: RFC 3339, or an age such as 24h or 7d.
    #[arg(long)]
    pub since: Option<String>,
    /// Only rows at or before this time: RFC 3339, or an age such as 1h.
    #[arg(long)]
    pub until: Option<String>,
    /// Only the last N matching rows.
    #[arg(long)]
    pub last: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Manifest files or directories (every .yaml/.yml inside); repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Also delete managed guests no manifest declares.
    #[arg(long)]
    pub prune: bool,
    /// Save the plan as JSON, for `proxctl apply FILE`.
    #[arg(long = "out")]
    pub save: Option<PathBuf>,
    /// Exit 0 when nothing would change, 2 when something would, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest files or directories; repeatable. Or give a saved plan instead.
    #[arg(short = 'f', long = "filename", required_unless_present = "plan_file")]
    pub files: Vec<PathBuf>,
    /// A plan saved with `plan --out`; refused if the cluster changed since.
    #[arg(conflicts_with = "files")]
    pub plan_file: Option<PathBuf>,
    /// Resources worked on at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Also delete managed guests no manifest declares.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// Waiting for another apply working on the same resources.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// How long to wait for another apply, delete or reconcile that is changing the same
    /// resources (e.g. 30s, 5m); 0 refuses at once.
    #[arg(long = "lock-timeout", default_value = "5m", value_parser = duration)]
    pub lock_timeout: std::time::Duration,
}

/// `30s`, `5m`, `1h`, or plain seconds.
fn duration(s: &str) -> Result<std::time::Duration, String> {
    proxctl_ops::snapshot::parse_ttl(s)
        .ok()
        .and_then(|secs| u64::try_from(secs).ok())
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is not a duration such as 30s, 5m or 0"))
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The resource the guests carry, as `plan` names it: `VirtualMachine/web-1`.
    pub resource: String,
    /// The VMID of the guest to keep as the resource.
    #[arg(long)]
    pub keep: u32,
    /// Keep the other guests as ordinary unmanaged ones (drop their marker) instead of
    /// stopping and deleting them.
    #[arg(long)]
    pub release: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Resources worked on at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Which VMs (see `proxctl get --help`); default: all that are not templates.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Every group and every host's vars (what Ansible asks a script for first).
    #[arg(long, conflicts_with = "host")]
    pub list: bool,
    /// One host's vars ({} for a host it does not know).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Which guests (see `proxctl get --help`); default: all that are not templates.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Time between activations, e.g. 60s, 5m.
    #[arg(long, default_value = "60s")]
    pub interval: String,
    /// Only report drift; change nothing.
    #[arg(long)]
    pub report_only: bool,
    /// Also delete managed guests no manifest declares.
    #[arg(long)]
    pub prune: bool,
    /// Resources worked on at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    #[command(flatten)]
    pub lock: LockArgs,
    /// Stop after this many activations (default: run until interrupted).
    #[arg(long)]
    pub activations: Option<u64>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct TemplateSource {
    /// A catalog id (`proxctl image list`); or use --image-url with --checksum-url. On a
    /// terminal, leaving both out starts the wizard.
    #[arg(value_name = "CATALOG-ID")]
    pub entry: Option<String>,
    /// An image URL outside the catalog (with --checksum-url or --sha256).
    #[arg(long, conflicts_with_all = ["entry", "image_file"])]
    pub image_url: Option<String>,
    /// A local image file (qcow2, or raw by its .raw extension), uploaded with progress.
    #[arg(long, value_name = "PATH", conflicts_with = "entry")]
    pub image_file: Option<std::path::PathBuf>,
    /// Its checksum file (format given by --checksum-format).
    #[arg(long, conflicts_with = "image_file")]
    pub checksum_url: Option<String>,
    /// The image's SHA-256: for a URL without a checksum file, or a local file (PVE checks it;
    /// without it a local file is hashed as it is uploaded).
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Firmware: seabios or ovmf (UEFI, with an EFI disk and q35). Default: the catalog's.
    #[arg(long, value_name = "seabios|ovmf")]
    pub bios: Option<String>,
    /// Machine type, e.g. q35 or pc.
    #[arg(long)]
    pub machine: Option<String>,
    /// PVE's OS type: l26, win11, other, ...
    #[arg(long)]
    pub ostype: Option<String>,
    /// CPU type, e.g. host or x86-64-v2-AES.
    #[arg(long)]
    pub cpu: Option<String>,
    /// Leave the QEMU guest agent off (it is on by default; `vm create --wait-cloud-init`
    /// needs it).
    #[arg(long)]
    pub no_agent: bool,
    /// The lowest VMID a new version may take; templates live apart from ordinary guests.
    #[arg(long, value_name = "VMID", default_value_t = proxctl_types::ids::TEMPLATE_VMID_FLOOR)]
    pub vmid_from: u32,
    /// gnu-sha256, gnu-sha512, bsd-sha256, bsd-sha512, fedora-checksum, single-sha256, single-sha512.
    #[arg(long, default_value = "gnu-sha256")]
    pub checksum_format: String,
    /// The stable name (default: the catalog id, or the URL's file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Build on this node (default: the profile's node, else the first online one).
    #[arg(long)]
    pub node: Option<proxctl_types::NodeName>,
    /// Storage with 'import' content for the image (default local).
    #[arg(long)]
    pub storage: Option<proxctl_types::StorageId>,
    /// Storage for the template's disks (default local-lvm).
    #[arg(long)]
    pub vm_storage: Option<proxctl_types::StorageId>,
    /// How the image reaches the node: auto, download-url or upload.
    #[arg(long, default_value = "auto")]
    pub via: String,
    /// Disk size (default: the catalog's recommendation).
    #[arg(long)]
    pub disk_size: Option<String>,
    /// Versions to keep; older ones go unless linked clones use them.
    #[arg(long, default_value_t = 3)]
    pub keep: usize,
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Build a new version of a template from a catalog image or a URL.
    Build(TemplateSource),
    /// Build a new version only if the upstream image changed.
    Rebuild(TemplateSource),
    /// Template versions proxctl built.
    List {
        /// Only this template name.
        name: Option<String>,
    },
    /// Point NAME at an older version (default: the one before the current), so new clones
    /// use it; `--latest` follows the newest again.
    Rollback {
        name: String,
        /// The version to point at.
        #[arg(long = "to", conflicts_with = "latest")]
        to: Option<String>,
        /// Unpin: the name follows the newest version again.
        #[arg(long)]
        latest: bool,
    },
    /// Delete one version (NAME@VERSION); refuses while linked clones use it unless --force.
    Delete {
        #[arg(value_name = "NAME@VERSION")]
        which: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CloudinitCommand {
    /// Render user-data, meta-data and network-config v2, and write them as an ISO 9660 image
    /// labelled cidata (and print them unless -o json).
    Render {
        /// Write the seed ISO here.
        #[arg(long)]
        iso: Option<PathBuf>,
        #[arg(long)]
        hostname: String,
        /// The default user cloud-init creates.
        #[arg(long)]
        user: Option<String>,
        /// A public key file (repeatable), e.g. ~/.ssh/id_ed25519.pub.
        #[arg(long = "ssh-key")]
        ssh_keys: Vec<PathBuf>,
        /// `dhcp` (default) or an address with prefix, e.g. 10.0.0.5/24.
        #[arg(long)]
        ip: Option<String>,
        #[arg(long)]
        gateway: Option<String>,
        /// `dhcp`, `auto` or an IPv6 address with prefix.
        #[arg(long)]
        ip6: Option<String>,
        #[arg(long)]
        gateway6: Option<String>,
        #[arg(long)]
        nameserver: Vec<String>,
        #[arg(long)]
        searchdomain: Vec<String>,
        /// Match the NIC by this MAC address.
        #[arg(long)]
        mac: Option<String>,
        /// Use this #cloud-config file as user-data instead of generating one.
        #[arg(long)]
        user_data: Option<PathBuf>,
    },
}
