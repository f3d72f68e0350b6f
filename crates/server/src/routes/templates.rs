//! Templates over HTTP: versions across remotes, the image catalog, and building, rebuilding
//! and rolling back a template, with the same request the CLI's flags make
//! ([`proxctl_ops::template_source::Source`]). Builds are operations that report each step.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::body::Body;
use crate::operations::Operation;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

/// A template version, with the remote it is on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub remote: String,
    #[serde(flatten)]
    pub version: proxctl_ops::template::Version,
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "guests", params(super::cluster::RemoteQuery),
    responses((status = 200, body = [Template]), (status = 404, body = Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<super::cluster::RemoteQuery>,
) -> ApiResult<Json<Vec<Template>>> {
    let (items, _) = super::cluster::gather(
        &app,
        q.remote.as_deref(),
        |r| {
            let (app, caller) = (Arc::clone(&app), caller.clone());
            async move {
                let all = proxctl_ops::template::versions(&r.client, None).await?;
                if caller.scope.is_none() {
                    return Ok(all);
                }
                // Templates are guests: one outside the scope stays hidden.
                let visible = super::guests::visible_vmids(&app, &caller, &r).await?;
                Ok(all.into_iter().filter(|v| visible.contains(&v.vmid)).collect())
            }
        },
        |remote, version| Template { remote, version },
    )
    .await?;
    Ok(Json(items))
}

/// One image of the catalog (built in, plus the server user's catalog file).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogImage {
    pub id: String,
    pub distro: String,
    pub version: String,
    pub arch: String,
    pub default_user: String,
    /// Where the image comes from.
    pub source: String,
}

#[utoipa::path(get, path = "/api/v1/catalog", tag = "templates",
    responses((status = 200, body = [CatalogImage]), (status = 500, body = Problem)))]
pub async fn catalog() -> ApiResult<Json<Vec<CatalogImage>>> {
    let c = proxctl_ops::image::catalog(&|k| std::env::var(k).ok()).map_err(Problem::from)?;
    Ok(Json(
        c.entries()
            .map(|e| CatalogImage {
                id: e.id.clone(),
                distro: e.distro.clone(),
                version: e.version.clone(),
                arch: e.arch.clone(),
                default_user: e.default_user.clone(),
                source: e.source.clone(),
            })
            .collect(),
    ))
}

/// A template build: a catalog id (`entry`) or an image URL with its checksum file.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildRequest {
    pub entry: Option<String>,
    pub image_url: Option<String>,
    pub checksum_url: Option<String>,
    /// `gnu-sha256` (default), `gnu-sha512`, `bsd-sha256`, `bsd-sha512`, `fedora-checksum`,
    /// `single-sha256` or `single-sha512`.
    pub checksum_format: Option<String>,
    /// The stable name (default: the catalog id, or the URL's file name).
    pub name: Option<String>,
    /// Build on this node (default: the first node of the remote).
    pub node: Option<String>,
    /// Storage with `import` content for the image (default `local`).
    pub storage: Option<String>,
    /// Storage for the template's disks (default `local-lvm`).
    pub vm_storage: Option<String>,
    /// `auto` (default), `download-url` or `upload`.
    pub via: Option<String>,
    /// e.g. `20G` (default: the catalog's recommendation).
    pub disk_size: Option<String>,
    /// Versions to keep (default 3).
    #[schema(minimum = 1, maximum = 100)]
    pub keep: Option<usize>,
    /// The image's SHA-256, for a URL without a checksum file.
    pub sha256: Option<String>,
    /// `seabios` or `ovmf` (UEFI: an EFI disk and q35).
    pub bios: Option<String>,
    /// e.g. `q35`, `pc`.
    pub machine: Option<String>,
    /// PVE's OS type: `l26`, `win11`, `other`, ...
    pub ostype: Option<String>,
    /// e.g. `host`, `x86-64-v2-AES`.
    pub cpu: Option<String>,
    /// The QEMU guest agent (default on).
    pub agent: Option<bool>,
    /// The lowest VMID a new version may take (default 9000).
    #[schema(minimum = 100, maximum = 999_999_999)]
    pub vmid_from: Option<u32>,
}

impl BuildRequest {
    async fn spec(
        self,
        client: &proxctl_client::Client,
    ) -> ApiResult<proxctl_ops::template::BuildSpec> {
        let bad = |what: &str, e: String| Problem::bad_request(format!("{what}: {e}"));
        let source = proxctl_ops::template_source::Source {
            entry: self.entry,
            image_url: self.image_url,
            checksum_url: self.checksum_url,
            checksum_format: self.checksum_format.unwrap_or_else(|| "gnu-sha256".into()),
            name: self.name,
            node: self
                .node
                .as_deref()
                .map(|n| proxctl_types::NodeName::new(n).map_err(|e| bad("node", e.to_string())))
                .transpose()?,
            storage: self
                .storage
                .as_deref()
                .map(|s| {
                    proxctl_types::StorageId::new(s).map_err(|e| bad("storage", e.to_string()))
                })
                .transpose()?,
            vm_storage: self
                .vm_storage
                .as_deref()
                .map(|s| {
                    proxctl_types::StorageId::new(s).map_err(|e| bad("vm_storage", e.to_string()))
                })
                .transpose()?,
            via: self.via.unwrap_or_else(|| "auto".into()),
            disk_size: self.disk_size,
            keep: self.keep.unwrap_or(3),
            image_file: None,
            sha256: self.sha256,
            bios: self.bios,
            machine: self.machine,
            ostype: self.ostype,
            cpu: self.cpu,
            agent: self.agent,
            vmid_from: self.vmid_from,
        };
        // A server has no profile node: the remote's first online node stands in.
        let node = match &source.node {
            Some(_) => None,
            None => proxctl_ops::views::nodes(client)
                .await
                .map_err(Problem::from)?
                .into_iter()
                .find(|n| n.status == "online")
                .and_then(|n| proxctl_types::NodeName::new(n.node.as_str()).ok()),
        };
        let defaults = proxctl_ops::template_source::Defaults { node, bridge: None };
        source.into_spec(&defaults, &|k| std::env::var(k).ok()).map_err(Problem::from)
    }
}

async fn build_op(
    app: &Arc<App>,
    caller: &Caller,
    remote: String,
    req: BuildRequest,
    rebuild: bool,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    caller.unscoped("building a template")?;
    let client = app.remote(&remote)?.client.clone();
    let spec = req.spec(&client).await?;
    let verb = if rebuild { "rebuild" } else { "build" };
    let description = format!("{verb} template {} on remote {remote}", spec.name);
    let op = app.operations.start_reporting(&caller.name, description, move |report| async move {
        let progress = move |m: &str| report.line(m);
        let built = if rebuild {
            proxctl_ops::template::rebuild(&client, &spec, &progress).await
        } else {
            proxctl_ops::template::build(&client, &spec, &progress).await
        }
        .map_err(Problem::from)?;
        Ok(serde_json::to_value(built).unwrap_or_default())
    });
    Ok(super::accepted(app, op).await)
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/templates", tag = "templates",
    params(("remote" = String, Path)), request_body = BuildRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn build(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(remote): Path<String>,
    Body(req): Body<BuildRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    build_op(&app, &caller, remote, req, false).await
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/templates/rebuild", tag = "templates",
    params(("remote" = String, Path)), request_body = BuildRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn rebuild(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(remote): Path<String>,
    Body(req): Body<BuildRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    build_op(&app, &caller, remote, req, true).await
}

/// Which version a template name points at.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to point at (default: the one before the current one).
    pub to: Option<String>,
    /// Follow the newest version again (unpin).
    #[serde(default)]
    pub latest: bool,
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/templates/{name}/rollback", tag = "templates",
    params(("remote" = String, Path), ("name" = String, Path)), request_body = RollbackRequest,
    responses((status = 200, body = proxctl_ops::template::Version), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn rollback(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, name)): Path<(String, String)>,
    Body(req): Body<RollbackRequest>,
) -> ApiResult<Json<proxctl_ops::template::Version>> {
    caller.unscoped("pointing a template name at another version")?;
    if req.latest && req.to.is_some() {
        return Err(Problem::bad_request("give `to` or `latest`, not both"));
    }
    let client = &app.remote(&remote)?.client;
    let change = async {
        if req.latest {
            proxctl_ops::template::unpin(client, &name).await
        } else {
            proxctl_ops::template::rollback(client, &name, req.to.as_deref()).await
        }
    };
    let v =
        proxctl_ops::audit::acting_as(caller.name.clone(), change).await.map_err(Problem::from)?;
    Ok(Json(v))
}
