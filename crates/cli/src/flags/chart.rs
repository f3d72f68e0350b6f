//! `proxctl chart …` and `proxctl release …`: charts (parameterised manifests) and the
//! releases installed from them, with revisions, upgrades and rollbacks.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ChartCommand {
    /// Write a skeleton chart into ./NAME (or --dir).
    Create {
        name: String,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Check a chart: Chart.yaml, the values against values.schema.json, every template
    /// rendered with the default values (and -f/--set), the output as `proxctl validate` does.
    Lint {
        /// A chart directory, a .tgz package, a built-in chart or REPO/NAME[@VERSION].
        chart: String,
        #[command(flatten)]
        values: ValuesArgs,
    },
    /// Render a chart's manifests to stdout, without touching any cluster.
    Template {
        /// A chart directory, a .tgz package, a built-in chart or REPO/NAME[@VERSION].
        chart: String,
        #[command(flatten)]
        values: ValuesArgs,
        /// The release name the manifests are rendered for.
        #[arg(long, default_value = "release")]
        name: String,
    },
    /// Pack a chart directory as NAME-VERSION.tgz (reproducible bytes) and print its SHA-256.
    Package {
        path: PathBuf,
        /// Where to write the package.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// A chart's metadata, default values and files.
    Show { chart: String },
    /// The built-in charts and those in the configured repositories.
    List,
    /// Chart repositories: add, list, remove, update.
    Repo {
        #[command(subcommand)]
        command: RepoCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Add a repository: an http(s) URL serving index.yaml, or a local directory of charts.
    Add {
        name: String,
        /// `https://…` serving index.yaml, or a directory.
        #[arg(value_name = "URL")]
        location: String,
    },
    List,
    Remove {
        name: String,
    },
    /// Download every HTTP repository's index.yaml.
    Update,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ValuesArgs {
    /// A values file (YAML); several are applied in order.
    #[arg(short = 'f', long = "values")]
    pub files: Vec<PathBuf>,
    /// One value, KEY=VALUE with KEY dotted (`web.cores=4`); after the files, in order.
    #[arg(long = "set")]
    pub set: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Install a chart as a release: render, plan, show the plan, apply after confirmation
    /// (or --yes). With the global --dry-run, stop after the plan.
    Install {
        name: String,
        /// A chart directory, a .tgz package, a built-in chart or REPO/NAME[@VERSION].
        chart: String,
        #[command(flatten)]
        values: ValuesArgs,
        #[command(flatten)]
        apply: ReleaseApplyArgs,
    },
    /// Upgrade a release (to CHART, or its current chart with new values); the plan shows
    /// exactly what changes.
    Upgrade {
        name: String,
        chart: Option<String>,
        #[command(flatten)]
        values: ValuesArgs,
        /// Start from the values of the deployed revision instead of the chart's defaults.
        #[arg(long)]
        reuse_values: bool,
        #[command(flatten)]
        apply: ReleaseApplyArgs,
    },
    /// Re-apply an earlier revision's manifests (default: the one deployed before the
    /// current, or the deployed one when the latest failed).
    Rollback {
        name: String,
        revision: Option<u32>,
        #[command(flatten)]
        apply: ReleaseApplyArgs,
    },
    /// Delete exactly what the release owns, after confirmation, and forget the release.
    Uninstall {
        name: String,
        #[command(flatten)]
        apply: ReleaseApplyArgs,
    },
    /// Every release with its revision and status.
    List,
    /// A release's revisions: chart version, status, who, when.
    History { name: String },
    /// A release's deployed revision, resources and notes.
    Status { name: String },
    /// A release's values or rendered manifests.
    Get {
        #[command(subcommand)]
        what: ReleaseGet,
    },
    /// Record releases again from the markers their guests carry in PVE (after a lost
    /// state store).
    Adopt {
        /// Only this release.
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReleaseGet {
    /// The values given to a revision (default: the latest).
    Values {
        name: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// The rendered manifests of a revision (default: the latest).
    Manifest {
        name: String,
        #[arg(long)]
        revision: Option<u32>,
    },
}

#[derive(Debug, Args)]
pub struct ReleaseApplyArgs {
    /// Resources worked on at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    #[command(flatten)]
    pub lock: super::LockArgs,
}
