//! A plan as text, the way terraform shows one: a symbol per resource (`+` create, `~` update,
//! `-/+` replace, `-` delete), its field changes below it, a summary line. Colour is optional
//! so snapshot tests and pipes get plain text.

use std::fmt::Write;

use crate::plan::{Action, Plan};

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const MAGENTA: &str = "\x1b[35m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Render `plan`; `verbose` also lists the resources that do not change.
pub fn text(plan: &Plan, colour: bool, verbose: bool) -> String {
    let paint = |c: &str, s: &str| if colour { format!("{c}{s}{RESET}") } else { s.to_string() };
    let mut out = String::new();
    for w in &plan.warnings {
        let _ = writeln!(out, "{} {w}", paint(YELLOW, "warning:"));
    }
    if !plan.warnings.is_empty() {
        out.push('\n');
    }
    for c in &plan.changes {
        let (sym, colr, verb) = match c.action {
            Action::Create => ("+", GREEN, "create"),
            Action::Update => ("~", YELLOW, "update in place"),
            Action::Replace => ("-/+", MAGENTA, "replace"),
            Action::Delete => ("-", RED, "delete"),
            Action::Noop if verbose => (" ", DIM, "no changes"),
            Action::Noop => continue,
        };
        let at = match (c.vmid, &c.node) {
            (Some(v), Some(n)) => format!(" (VMID {v} on {n})"),
            (Some(v), None) => format!(" (VMID {v})"),
            _ => String::new(),
        };
        let reboot = if c.needs_reboot() { ", needs a reboot to take effect" } else { "" };
        let why = if c.summary.is_empty() { String::new() } else { format!(" — {}", c.summary) };
        let _ =
            writeln!(out, "{} {}{at}: {verb}{reboot}{why}", paint(colr, sym), paint(colr, &c.key));
        for d in &c.diffs {
            let flag = if d.reboot && c.action == Action::Update { "  (reboot)" } else { "" };
            let line = match (&d.from, &d.to) {
                (None, Some(to)) => format!("    + {}: {}", d.field, one_line(to)),
                (Some(from), None) => format!("    - {}: {}", d.field, one_line(from)),
                (Some(from), Some(to)) => {
                    format!("    ~ {}: {} → {}{flag}", d.field, one_line(from), one_line(to))
                }
                (None, None) => continue,
            };
            let _ = writeln!(out, "{}", paint(colr, &line));
        }
    }
    let _ = writeln!(
        out,
        "\nPlan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged.",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Replace),
        plan.count(Action::Delete),
        plan.count(Action::Noop),
    );
    out
}

/// Every call a plan would make, step by step, for `--dry-run`.
pub fn calls(plan: &Plan) -> String {
    let mut out = String::new();
    for c in plan.changes.iter().filter(|c| c.action != Action::Noop || !c.steps.is_empty()) {
        let _ = writeln!(out, "{}:", c.key);
        for s in &c.steps {
            let _ = writeln!(out, "    {}", crate::apply::describe(s));
        }
    }
    out
}

/// Multi-line values (descriptions, SSH keys) shown on one line.
fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    match lines.len() {
        0 => "\"\"".into(),
        1 => s.to_string(),
        _ => format!("{:?}", s),
    }
}
