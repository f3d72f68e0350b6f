//! Errors the simulator answers with, shaped as PVE shapes them (§1.5): a status, a message
//! (the JSON `message` and the status line's reason), and for 400 the per-parameter `errors`.

use std::collections::BTreeMap;

use proxctl_types::messages::PARAM_VERIFICATION_FAILED;

/// An error response, or a request that must wait for a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PveError {
    Http {
        status: u16,
        message: String,
        errors: BTreeMap<String, String>,
        empty_body: bool,
    },
    /// A flock is held; the server retries the handler until the lock frees or `timeout_ms`
    /// of simulated time passes, then answers 500 with `message`.
    LockBusy {
        timeout_ms: u64,
        message: String,
    },
}

impl PveError {
    /// A plain `die` in a handler: HTTP 500 with the text.
    pub fn die(message: impl Into<String>) -> Self {
        let mut m: String = message.into();
        if !m.ends_with('\n') {
            m.push('\n');
        }
        Self::Http { status: 500, message: m, errors: BTreeMap::new(), empty_body: false }
    }

    pub fn status(status: u16, message: impl Into<String>) -> Self {
        Self::Http { status, message: message.into(), errors: BTreeMap::new(), empty_body: false }
    }

    /// 400 `Parameter verification failed.` with one entry.
    pub fn param(key: &str, text: impl Into<String>) -> Self {
        let mut errors = BTreeMap::new();
        errors.insert(key.to_string(), text.into());
        Self::params(errors)
    }

    pub fn params(errors: BTreeMap<String, String>) -> Self {
        let detail: Vec<String> =
            errors.iter().map(|(k, v)| format!("{k}: {}", v.trim_end())).collect();
        Self::Http {
            status: 400,
            message: format!("{PARAM_VERIFICATION_FAILED}\n{}\n", detail.join("\n")),
            errors,
            empty_body: false,
        }
    }

    /// 401 with an empty body and the given reason (`No ticket`, `Authentication failed!`).
    pub fn unauthorized(reason: &str) -> Self {
        Self::Http {
            status: 401,
            message: reason.to_string(),
            errors: BTreeMap::new(),
            empty_body: true,
        }
    }

    pub fn forbidden(path: &str, privilege: &str) -> Self {
        Self::status(403, format!("Permission check failed ({path}, {privilege})\n"))
    }

    pub fn not_implemented(method: &str, path: &str) -> Self {
        Self::status(501, format!("Method '{method} {path}' not implemented\n"))
    }

    pub fn lock_busy(timeout_ms: u64, message: impl Into<String>) -> Self {
        Self::LockBusy { timeout_ms, message: message.into() }
    }
}

pub type PveResult<T> = Result<T, PveError>;
