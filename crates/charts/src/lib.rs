//! Charts and releases. A **chart** packages a shape admins deploy again and again as
//! parameterised manifests (`chart`, `values`, `render`, `package`, `repo`, `builtin`,
//! `create`, `lint`); a **release** is one installed copy with a revision history, planned and
//! applied through the declarative engine, upgraded with a plan shown first and rolled back
//! (`release`).

pub mod builtin;
pub mod chart;
pub mod create;
pub mod lint;
pub mod package;
pub mod release;
pub mod render;
pub mod repo;
pub mod values;

pub use chart::Chart;

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// A chart, values or index file that is wrong, with the place (`file:line`).
    #[error("{place}: {message}")]
    Invalid { place: String, message: String },
    /// A template that does not render.
    #[error("{place}: {message}")]
    Template { place: String, message: String },
    #[error("the values do not match values.schema.json:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Values(Vec<String>),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    NotFound(String),
    #[error("cannot download {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{what}: the package's SHA-256 is {got}, the index says {expected}; not used")]
    Digest { what: String, expected: String, got: String },
}
