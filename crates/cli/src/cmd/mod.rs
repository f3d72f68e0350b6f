//! Command dispatch: resolve settings, build the client where a command needs one, and hand
//! over to the operations layer. Commands hold no business logic of their own.

/// `println!` that returns write errors instead of panicking, so `proxctl get vms | head`
/// ends quietly on a broken pipe.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($t)*)?;
    }};
}

/// `print!` that returns write errors instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($t)*)?;
    }};
}

mod audit;
mod backup;
mod bulk;
mod chart;
mod config;
mod demo;
mod engine;
mod get;
mod guest;
mod image;
mod job;
mod mcp;
mod node;
mod notify;
mod remote;
mod serve;
mod sim;
mod snapshot;
mod task;
mod token;

pub(crate) use guest::template_request;

use std::io::{IsTerminal, Write};

use anyhow::Context;
use clap::CommandFactory;
use proxctl_client::{Client, ClientError};

use crate::exit::UserError;
use crate::flags::{Cli, Command, GlobalArgs};
use crate::settings::Resolved;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_logging(&cli.global)?;
    let result = dispatch(cli).await;
    // --dry-run ends at the first call that would change something: print it, succeed.
    if let Err(e) = &result
        && let Some(ClientError::DryRun { request }) = e.chain().find_map(crate::exit::client_error)
    {
        let _ = writeln!(std::io::stdout(), "dry run: would send {request}");
        return Ok(());
    }
    result
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let g = cli.global;
    match cli.command {
        Command::Sim(a) => sim::run(a).await,
        Command::Serve(a) => {
            let r = config::resolve_from_env(&g)?;
            serve::run(&r, a).await
        }
        Command::Remote { command } => {
            let r = config::resolve_from_env(&g)?;
            remote::run(&r, &g, command).await
        }
        Command::Job { command } => {
            if matches!(command, crate::flags::job::JobCommand::Run { .. }) {
                let (r, client) = connect(&g)?;
                job::run(&r, Some(&client), command).await
            } else {
                let r = config::resolve_from_env(&g)?;
                job::run(&r, None, command).await
            }
        }
        Command::Notify { command } => {
            let r = config::resolve_from_env(&g)?;
            notify::run(&r, command).await
        }
        Command::Chart { command } => {
            let r = config::resolve_from_env(&g)?;
            chart::chart(&r, command).await
        }
        Command::Release { command: crate::flags::chart::ReleaseCommand::Adopt { name } } => {
            let (r, client) = connect(&g)?;
            chart::adopt(&r, &client, name).await
        }
        Command::Release { command } => {
            let (r, client) = connect(&g)?;
            chart::release(&r, &client, command).await
        }
        Command::Mcp(a) => mcp::run(&g, a).await,
        Command::Token { command } => {
            let r = config::resolve_from_env(&g)?;
            token::run(&r, command).await
        }
        Command::Demo(a) => demo::run(a).await,
        Command::Version => {
            outln!("proxctl {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Completions { shell } => {
            // clap_complete panics on a write error, so generate into memory and write that
            // ourselves: `proxctl completions bash | head -1` ends quietly on the broken pipe.
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "proxctl", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(())
        }
        Command::Man { markdown: true, .. } => {
            out!("{}", reference_markdown());
            Ok(())
        }
        Command::Man { out, .. } => match out {
            Some(out) => write_man_pages(&out),
            None => Err(UserError("man needs --out DIR or --markdown".into()).into()),
        },
        Command::Config(a) => config::run(&g, a),
        Command::Validate(a) => {
            let r = config::resolve_from_env(&g)?;
            engine::validate(&r, a)
        }
        Command::Schema => engine::schema(),
        Command::Plan(a) => {
            let (r, client) = connect(&g)?;
            engine::plan(&r, &client, a).await
        }
        Command::Apply(a) => {
            let (r, client) = connect(&g)?;
            engine::apply(&r, &client, a).await
        }
        Command::Diff(a) => {
            let (r, client) = connect(&g)?;
            engine::diff(&r, &client, a).await
        }
        Command::Delete(a) => {
            let (r, client) = connect(&g)?;
            engine::delete(&r, &client, a).await
        }
        Command::Export(a) => {
            let (_, client) = connect(&g)?;
            engine::export(&client, a).await
        }
        Command::Inventory(a) => {
            let (_, client) = connect(&g)?;
            engine::inventory(&client, a).await
        }
        Command::Adopt(a) => {
            let (r, client) = connect(&g)?;
            engine::adopt(&r, &client, a).await
        }
        Command::Reconcile(a) => {
            let (r, client) = connect(&g)?;
            engine::reconcile(&r, &client, a).await
        }
        Command::Resolve(a) => {
            let (r, client) = connect(&g)?;
            engine::resolve(&r, &client, a).await
        }
        Command::Audit { command } => {
            let r = config::resolve_from_env(&g)?;
            audit::run(&r, command).await
        }
        Command::Get(a) => {
            let (r, client) = connect(&g)?;
            get::run(&r, &client, a).await
        }
        Command::Vm { command } => {
            let (r, client) = connect(&g)?;
            guest::run_vm(&r, &client, command).await
        }
        Command::Ct { command } => {
            let (r, client) = connect(&g)?;
            guest::run_ct(&r, &client, command).await
        }
        Command::Console { kind, target, spice } => {
            let (r, client) = connect(&g)?;
            let verb = crate::flags::PowerVerb::Console { target, spice };
            match kind {
                crate::flags::ConsoleKind::Vm => {
                    guest::run_vm(&r, &client, crate::flags::VmCommand::Power(verb)).await
                }
                crate::flags::ConsoleKind::Ct => {
                    guest::run_ct(&r, &client, crate::flags::CtCommand::Power(verb)).await
                }
            }
        }
        Command::Describe(a) => {
            let (r, client) = connect(&g)?;
            guest::describe(&r, &client, a).await
        }
        Command::Doctor => {
            let (r, client) = connect(&g)?;
            let checks = proxctl_ops::doctor::run(&client).await;
            out!("{}", proxctl_ops::output::render(&checks, r.output)?);
            let failed =
                checks.iter().filter(|c| c.verdict == proxctl_ops::doctor::Verdict::Fail).count();
            if failed > 0 {
                return Err(UserError(format!(
                    "doctor found {failed} failing check(s); apply the fixes above"
                ))
                .into());
            }
            Ok(())
        }
        Command::Attention { backup_age, snapshot_age, check } => {
            let (r, client) = connect(&g)?;
            let age = |v: &str, flag: &str| {
                proxctl_ops::snapshot::parse_ttl(v).map_err(|e| UserError(format!("{flag}: {e}")))
            };
            let mut opts = proxctl_ops::attention::Options::at(jiff::Timestamp::now().as_second());
            opts.backup_max_age = age(&backup_age, "--backup-age")?;
            opts.snapshot_max_age = age(&snapshot_age, "--snapshot-age")?;
            let all = proxctl_types::selector::Selector::Term(proxctl_types::selector::Term::All);
            let items =
                proxctl_ops::attention::gather(&client, "", &r.state, &all, false, &opts).await;
            if items.is_empty() && r.output == proxctl_ops::output::Format::Table {
                out!("nothing needs attention");
            } else {
                out!("{}", proxctl_ops::output::render(&items, r.output)?);
            }
            if check && !items.is_empty() {
                return Err(UserError(format!("{} item(s) need attention", items.len())).into());
            }
            Ok(())
        }
        Command::Snapshot { command } => {
            let (r, client) = connect(&g)?;
            snapshot::run(&r, &client, command).await
        }
        Command::Cluster { command: crate::flags::ClusterCommand::Status } => {
            let (r, client) = connect(&g)?;
            let rows = proxctl_ops::cluster_views::cluster_status(&client).await?;
            out!("{}", proxctl_ops::output::render(&rows, r.output)?);
            Ok(())
        }
        Command::Cloudinit { command } => {
            let r = config::resolve_from_env(&g)?;
            image::cloudinit(&r, command)
        }
        Command::Template { command } => {
            let (r, client) = connect(&g)?;
            image::template(&r, &client, command).await
        }
        Command::Image { command: crate::flags::ImageCommand::Fetch { source, sha256 } } => {
            let r = config::resolve_from_env(&g)?;
            image::fetch(&r, &source, sha256.as_deref()).await
        }
        Command::Image { command: crate::flags::ImageCommand::Verify } => image::verify().await,
        Command::Image { command: crate::flags::ImageCommand::Prune } => {
            let r = config::resolve_from_env(&g)?;
            image::prune(&r).await
        }
        Command::Image { command: crate::flags::ImageCommand::List } => {
            let r = config::resolve_from_env(&g)?;
            let c = proxctl_ops::image::catalog(&|k| std::env::var(k).ok())?;
            let rows: Vec<_> = c.entries().cloned().map(proxctl_ops::image::CatalogRow).collect();
            out!("{}", proxctl_ops::output::render(&rows, r.output)?);
            Ok(())
        }
        Command::Image { command: crate::flags::ImageCommand::Search { words } } => {
            let r = config::resolve_from_env(&g)?;
            let c = proxctl_ops::image::catalog(&|k| std::env::var(k).ok())?;
            let rows: Vec<_> = c
                .search(&words.join(" "))
                .into_iter()
                .cloned()
                .map(proxctl_ops::image::CatalogRow)
                .collect();
            if rows.is_empty() {
                return Err(UserError(format!(
                    "no catalog image matches '{}'; see `proxctl image list`",
                    words.join(" ")
                ))
                .into());
            }
            out!("{}", proxctl_ops::output::render(&rows, r.output)?);
            Ok(())
        }
        Command::Image { command: crate::flags::ImageCommand::Show { id } } => {
            let c = proxctl_ops::image::catalog(&|k| std::env::var(k).ok())?;
            let e = c.get(&id).ok_or_else(|| {
                let near = c.similar(&id);
                UserError(format!(
                    "no catalog image '{id}'; similar: {}",
                    if near.is_empty() {
                        "none (see `proxctl image list`)".into()
                    } else {
                        near.join(", ")
                    }
                ))
            })?;
            out!("{}", serde_yaml_ng::to_string(e)?);
            Ok(())
        }
        // `image pull debian-12`: a catalog id (no URL) goes to the local verified cache.
        Command::Image {
            command: crate::flags::ImageCommand::Pull { source, node: None, sha256, .. },
        } if !source.contains("://") => {
            let r = config::resolve_from_env(&g)?;
            image::fetch(&r, &source, sha256.as_deref()).await
        }
        Command::Image {
            command: crate::flags::ImageCommand::Pull { source, node, storage, filename, sha256 },
        } => {
            let (r, client) = connect(&g)?;
            let node = match node {
                Some(n) => Some(n),
                None => guest::parse_opt(&client.settings().default_node, "node")?,
            };
            let u = proxctl_ops::image::pull(
                &client,
                node.as_ref(),
                &storage,
                &source,
                filename.as_deref(),
                sha256.as_deref(),
            )
            .await?;
            wait(&r, &client, &u, &format!("download {source}")).await
        }
        Command::Backup { command } => {
            let (r, client) = connect(&g)?;
            backup::run(&r, &client, command).await
        }
        Command::Node { command } => {
            let (r, client) = connect(&g)?;
            node::run(&r, &client, command).await
        }
        Command::Bulk(a) => {
            let (r, client) = connect(&g)?;
            bulk::run(&r, &client, a).await
        }
        Command::Tag { command } => {
            let (r, client) = connect(&g)?;
            bulk::tag(&r, &client, command).await
        }
        Command::Task(a) => {
            let (r, client) = connect(&g)?;
            task::run(&r, &client, a).await
        }
    }
}

/// Resolve settings and build the client; print its warnings (e.g. `--insecure`) every run.
fn connect(g: &GlobalArgs) -> anyhow::Result<(Resolved, Client)> {
    let r = config::resolve_from_env(g)?;
    let client = Client::new(r.client_settings()?)?;
    for w in client.warnings() {
        eprintln!("warning: {w}");
    }
    // Every mutation from here on is audited (and checked by safe mode), whatever command
    // makes it.
    client.set_hook(std::sync::Arc::new(r.auditor()));
    Ok((r, client))
}

/// Ask before destroying anything. Without a terminal and without `--yes`, refuse.
pub fn confirm(r: &Resolved, what: &str) -> anyhow::Result<()> {
    if r.yes || r.dry_run {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(UserError(format!(
            "refusing to {what} without confirmation: no terminal to ask on; pass --yes"
        ))
        .into());
    }
    eprint!("{what}? [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the answer")?;
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(UserError(format!("not confirmed; did not {what}")).into())
    }
}

fn write_man_pages(out: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let cmd = Cli::command();
    let mut pages = vec![(String::from("proxctl"), cmd.clone())];
    for sub in cmd.get_subcommands() {
        pages.push((
            format!("proxctl-{}", sub.get_name()),
            sub.clone().name(format!("proxctl-{}", sub.get_name())),
        ));
    }
    for (name, c) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).render(&mut buf).with_context(|| format!("rendering {name}.1"))?;
        let path = out.join(format!("{name}.1"));
        std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
    }
    outln!("man pages written to {}", out.display());
    Ok(())
}

/// Every command's long help, as Markdown, from the one clap definition.
pub fn reference_markdown() -> String {
    fn walk(cmd: &clap::Command, path: &str, out: &mut String) {
        let name = if path.is_empty() {
            cmd.get_name().to_string()
        } else {
            format!("{path} {}", cmd.get_name())
        };
        if cmd.is_hide_set() {
            return;
        }
        out.push_str(&format!("\n## `{name}`\n\n```text\n"));
        let mut c = cmd.clone().bin_name(&name);
        out.push_str(c.render_long_help().to_string().trim_end());
        out.push_str("\n```\n");
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, &name, out);
        }
    }
    let mut out = String::from(
        "# Command reference\n\nGenerated from the CLI definition by `proxctl man --markdown`; a test keeps it current.\n",
    );
    walk(&Cli::command(), "", &mut out);
    out
}

fn init_logging(g: &GlobalArgs) -> anyhow::Result<()> {
    let level = match g.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROXCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let json = match g.log_format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            return Err(
                UserError(format!("--log-format must be text or json, not '{other}'")).into()
            );
        }
    };
    let writer: tracing_subscriber::fmt::writer::BoxMakeWriter = match &g.log_file {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening --log-file {}", p.display()))?;
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::sync::Mutex::new(f))
        }
        None => tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.with_ansi(g.log_file.is_none()).try_init()
    };
    Ok(())
}

/// Wait for a task (unless `--no-wait`), streaming its log lines when a person is watching.
pub async fn wait(
    r: &Resolved,
    client: &Client,
    upid: &proxctl_types::Upid,
    what: &str,
) -> anyhow::Result<()> {
    if !r.wait {
        outln!("{what}: started {upid}");
        return Ok(());
    }
    // A person watching gets a spinner and the task's own log lines; scripts and -o json get
    // only the result.
    let show = std::io::stderr().is_terminal() && r.output == proxctl_ops::output::Format::Table;
    let spinner = show.then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb.set_message(what.to_string());
        pb
    });
    let cb = |l: &str| {
        if let Some(pb) = &spinner {
            pb.println(format!("  | {l}"));
            pb.set_message(format!("{what}: {l}"));
        }
    };
    let opts = proxctl_client::WaitOptions {
        timeout: Some(r.timeout),
        on_log: if show { Some(&cb) } else { None },
        tail_lines: 10,
        expected: None,
    };
    let result = client.wait_task(upid, &opts).await;
    if let Some(pb) = &spinner {
        pb.finish_and_clear();
    }
    let done = result?;
    if done.warnings > 0 {
        outln!("{what}: done with {} warning(s) ({upid})", done.warnings);
    } else {
        outln!("{what}: done");
    }
    Ok(())
}
