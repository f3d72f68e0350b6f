//! The web dashboard's views: page templates (Jinja2, rendered by minijinja with HTML
//! escaping) and the CSS and JavaScript they use, all embedded in the binary so the dashboard
//! works in closed networks. This crate does no I/O and knows nothing of Proxmox: the server's
//! `ui` module gathers each page's data through the same handlers the REST API uses and hands
//! it here to be shown.

pub mod assets;
mod format;

use std::sync::LazyLock;

use minijinja::Environment;
use serde::Serialize;

/// A page that could not be rendered: a bug in a template or in the data handed to it.
#[derive(Debug, thiserror::Error)]
#[error("cannot render the page {page}: {source:#}")]
pub struct ViewError {
    pub page: String,
    #[source]
    pub source: minijinja::Error,
}

/// Every template, by name. Pages extend `base.html`; `*_part.html` are fragments that pages
/// include and that htmx fetches on their own to refresh a part of a page.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("overview.html", include_str!("../templates/overview.html")),
    ("guests.html", include_str!("../templates/guests.html")),
    ("guest.html", include_str!("../templates/guest.html")),
    ("confirm.html", include_str!("../templates/confirm.html")),
    ("operation.html", include_str!("../templates/operation.html")),
    ("operation_part.html", include_str!("../templates/operation_part.html")),
    ("operations.html", include_str!("../templates/operations.html")),
    ("tasks.html", include_str!("../templates/tasks.html")),
    ("tasks_part.html", include_str!("../templates/tasks_part.html")),
    ("task_log.html", include_str!("../templates/task_log.html")),
    ("templates.html", include_str!("../templates/templates.html")),
    ("backups.html", include_str!("../templates/backups.html")),
    ("plans.html", include_str!("../templates/plans.html")),
    ("plan.html", include_str!("../templates/plan.html")),
    ("jobs.html", include_str!("../templates/jobs.html")),
    ("job.html", include_str!("../templates/job.html")),
    ("notifications.html", include_str!("../templates/notifications.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("tokens.html", include_str!("../templates/tokens.html")),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        // The templates are ours and tested; one that does not parse fails every test that
        // renders a page, so a broken one cannot ship. Skipping it here keeps the rest up.
        if let Err(e) = env.add_template(name, source) {
            eprintln!("dashboard template {name} does not parse: {e:#}");
        }
    }
    env.add_function("asset", |name: &str| assets::hashed_name(name));
    env.add_filter("bytes", format::bytes);
    env.add_filter("pct", format::pct);
    env.add_filter("when", format::when);
    env.add_filter("duration", format::duration);
    env
});

/// Render `page` (a template name, e.g. `guests.html`) with `ctx`.
pub fn render(page: &str, ctx: impl Serialize) -> Result<String, ViewError> {
    let fail = |source| ViewError { page: page.to_string(), source };
    ENV.get_template(page).map_err(fail)?.render(ctx).map_err(fail)
}

/// The pages and fragments there are, for tests that render them all.
pub fn pages() -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, source) in TEMPLATES {
            let mut env = Environment::new();
            // Templates that extend or include others need them present.
            for (n, s) in TEMPLATES {
                env.add_template(n, s).unwrap();
            }
            assert!(env.get_template(name).is_ok(), "{name}: {source:.40}");
        }
    }

    #[test]
    fn values_are_escaped_in_pages() {
        let html = render(
            "login.html",
            serde_json::json!({ "error": "<script>alert(1)</script>", "next": "\"><b>" }),
        )
        .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("\"><b>"));
    }
}
