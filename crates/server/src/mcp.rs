//! `/mcp`: the MCP face over streamable HTTP, behind the same token guard as every route. The
//! token's role and scope become the MCP principal; the MCP crate does the rest (modes,
//! change sets, audit). The remotes are the server's.

use std::sync::{Arc, Weak};

use axum::Extension;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use proxctl_client::Client;
use proxctl_mcp::{Clusters, Principal};
use tower::ServiceExt;

use crate::problem::Problem;
use crate::{App, Caller};

/// The server's remotes, seen from the MCP face (weak: the app owns the endpoint).
struct AppClusters(Weak<App>);

impl Clusters for AppClusters {
    fn default_remote(&self) -> String {
        self.0.upgrade().map(|a| a.default_remote.clone()).unwrap_or_default()
    }
    fn client(&self, remote: &str) -> Option<Client> {
        self.0.upgrade()?.remote(remote).ok().map(|r| r.client)
    }
    fn remotes(&self) -> Vec<String> {
        self.0
            .upgrade()
            .map(|a| a.remotes().into_iter().map(|r| r.name).collect())
            .unwrap_or_default()
    }
}

/// Make the endpoint for `app`.
pub fn endpoint(app: &Arc<App>, config: proxctl_mcp::Config) -> proxctl_mcp::HttpEndpoint {
    let clusters = Arc::new(AppClusters(Arc::downgrade(app)));
    proxctl_mcp::Mcp::new(clusters, Arc::clone(&app.state), config, app.default_remote.clone())
        .http_service(crate::routes::MAX_BODY)
}

fn principal(c: &Caller) -> Principal {
    Principal { token: Some(c.name.clone()), role: c.role, scope: c.scope.clone() }
}

#[utoipa::path(post, path = "/mcp", tag = "mcp",
    request_body(content = Object, description = "A JSON-RPC message of the Model Context Protocol"),
    responses((status = 200, description = "The JSON-RPC answer", body = Object),
        (status = 202, description = "A notification, accepted"),
        (status = 401, body = Problem)))]
pub async fn handle(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    mut req: Request,
) -> Response {
    let Some(endpoint) = app.mcp.get().cloned() else {
        return Problem::unavailable("the MCP endpoint is starting; try again").into_response();
    };
    req.extensions_mut().insert(principal(&caller));
    match endpoint.service().oneshot(req).await {
        Ok(resp) => resp.map(axum::body::Body::new),
        Err(never) => match never {},
    }
}
