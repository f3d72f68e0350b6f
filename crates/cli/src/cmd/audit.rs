//! `proxctl audit list|verify|head`: read the audit log in the state store. No PVE connection.

use proxctl_ops::audit;
use proxctl_ops::output::render;
use proxctl_state::AuditFilter;

use crate::exit::UserError;
use crate::flags::{AuditCommand, AuditListArgs};
use crate::settings::Resolved;

/// RFC 3339, or an age (`24h`, `7d`) counted back from now.
fn when(flag: &str, v: &str) -> anyhow::Result<jiff::Timestamp> {
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let secs = proxctl_ops::snapshot::parse_ttl(v).map_err(|_| {
        UserError(format!("--{flag} '{v}' is neither an RFC 3339 time nor an age such as 24h"))
    })?;
    Ok(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs))
}

pub async fn run(r: &Resolved, c: AuditCommand) -> anyhow::Result<()> {
    match c {
        AuditCommand::List(AuditListArgs { actor, target, action, since, until, last }) => {
            let filter = AuditFilter {
                actor,
                profile: None,
                target,
                action,
                since: since.as_deref().map(|v| when("since", v)).transpose()?,
                until: until.as_deref().map(|v| when("until", v)).transpose()?,
                last,
            };
            let rows = audit::list(&r.state, &filter).await?;
            if rows.is_empty() && r.output == proxctl_ops::output::Format::Table {
                eprintln!("no audit rows match (state: {})", r.state.spec());
                return Ok(());
            }
            out!("{}", render(&rows, r.output)?);
            Ok(())
        }
        AuditCommand::Head => {
            match audit::head(&r.state).await? {
                Some(h) => outln!("{h}"),
                None => eprintln!("the audit log is empty (state: {})", r.state.spec()),
            }
            Ok(())
        }
        AuditCommand::Verify { heads } => {
            let mut anchors = Vec::new();
            for h in &heads {
                let head: proxctl_state::AuditHead = h.parse().map_err(UserError)?;
                anchors.push((head, "given with --head".to_string()));
            }
            if let Some(file) = &r.audit_file
                && let Some(head) = audit::file_head(file)?
            {
                anchors.push((head, format!("the last row of {}", file.display())));
            }
            let report = audit::verify(&r.state, &anchors).await?;
            if report.ok() {
                outln!("audit log intact: {} row(s), hash chain verified", report.rows);
                for (head, source) in &anchors {
                    outln!("  and it holds row {} ({source})", head.seq);
                }
                return Ok(());
            }
            for p in &report.problems {
                outln!("{p}");
            }
            Err(anyhow::anyhow!(
                "the audit log in {} was tampered with: {} problem(s) in {} row(s)",
                r.state.spec(),
                report.problems.len(),
                report.rows
            ))
        }
    }
}
