//! `/access/ticket` and `/version`.

use serde::{Deserialize, Serialize};

/// `POST /access/ticket`. The ticket and CSRF token are secrets: `Debug` redacts them.
#[derive(Clone, Serialize, Deserialize)]
pub struct TicketResponse {
    pub username: String,
    pub ticket: String,
    #[serde(rename = "CSRFPreventionToken", default, skip_serializing_if = "Option::is_none")]
    pub csrf_prevention_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustername: Option<String>,
    #[serde(rename = "NeedTFA", default, skip_serializing_if = "Option::is_none")]
    pub need_tfa: Option<u8>,
}

impl std::fmt::Debug for TicketResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketResponse")
            .field("username", &self.username)
            .field("ticket", &"<redacted>")
            .field("csrf_prevention_token", &"<redacted>")
            .field("clustername", &self.clustername)
            .field("need_tfa", &self.need_tfa)
            .finish()
    }
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    pub release: String,
    pub repoid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
}

impl VersionInfo {
    /// `(major, minor)` of `version`, e.g. `(9, 1)` for `9.1.3`.
    pub fn major_minor(&self) -> Option<(u32, u32)> {
        let mut it = self.version.split('.');
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    }
}
