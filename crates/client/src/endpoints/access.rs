//! Access endpoints beyond login: effective permissions.

use std::collections::BTreeMap;

use proxctl_types::wire::FormParams;

use crate::{ApiRequest, Client, ClientError, Endpoint};

/// Effective privileges: ACL path → privilege → propagate flag.
pub type Permissions = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

pub fn permissions(path: Option<&str>) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("path", path);
    ApiRequest::new(Endpoint::AccessPermissions, &[], p)
}

impl Client {
    /// The caller's own effective permissions (a token sees its privilege-separated set).
    pub async fn permissions(&self, path: Option<&str>) -> Result<Permissions, ClientError> {
        self.send_as(&permissions(path)).await
    }
}
