//! proxctl's MCP face: the tools AI assistants call (read tools always on; operate tools and
//! change sets only in `operate` mode and for the roles that allow them), resources and
//! prompts, over stdio (`proxctl mcp`) or streamable HTTP (`/mcp` on `proxctl serve`). Every
//! tool is a call into the operations layer or the engine, as for the other faces; every call
//! is audited as `mcp:<client name>`.

pub mod access;
pub mod changes;
pub mod error;
mod operations;
mod resources;
pub mod tools;

use std::sync::Arc;

use proxctl_client::Client;
use proxctl_ops::state::StateHandle;
use proxctl_state::NewAuditEntry;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};

pub use access::{Config, Mode, Principal, Role};
pub use error::ToolError;

/// The streamable HTTP endpoint: a tower service (`service()`), for a server to mount.
#[derive(Clone)]
pub struct HttpEndpoint(
    rmcp::transport::streamable_http_server::StreamableHttpService<
        Mcp,
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
    >,
);

impl HttpEndpoint {
    pub fn service(
        &self,
    ) -> rmcp::transport::streamable_http_server::StreamableHttpService<
        Mcp,
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
    > {
        self.0.clone()
    }
}

impl std::fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpEndpoint")
    }
}

/// The clusters a face serves: `proxctl mcp` has one, `proxctl serve` its remotes.
pub trait Clusters: Send + Sync + 'static {
    fn default_remote(&self) -> String;
    fn client(&self, remote: &str) -> Option<Client>;
    fn remotes(&self) -> Vec<String>;
}

/// One cluster under one name (what `proxctl mcp` serves).
#[derive(Debug, Clone)]
pub struct OneCluster {
    pub name: String,
    pub client: Client,
}

impl Clusters for OneCluster {
    fn default_remote(&self) -> String {
        self.name.clone()
    }
    fn client(&self, remote: &str) -> Option<Client> {
        (remote == self.name).then(|| self.client.clone())
    }
    fn remotes(&self) -> Vec<String> {
        vec![self.name.clone()]
    }
}

/// What every call shares.
pub struct Shared {
    pub(crate) clusters: Arc<dyn Clusters>,
    pub(crate) state: Arc<StateHandle>,
    pub(crate) config: Config,
    pub(crate) limiter: access::RateLimiter,
    pub(crate) tools: Vec<tools::ToolDef>,
    /// The profile (or server) name audit rows carry.
    pub(crate) profile: String,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The MCP server: an rmcp handler. Over stdio it serves one fixed principal (the local
/// user); over HTTP the principal of each request is what the server's token guard put in its
/// extensions.
#[derive(Debug, Clone)]
pub struct Mcp {
    shared: Arc<Shared>,
    fixed: Option<Principal>,
}

impl Mcp {
    pub fn new(
        clusters: Arc<dyn Clusters>,
        state: Arc<StateHandle>,
        config: Config,
        profile: impl Into<String>,
    ) -> Self {
        Mcp {
            shared: Arc::new(Shared {
                clusters,
                state,
                config,
                limiter: access::RateLimiter::default(),
                tools: tools::all(),
                profile: profile.into(),
            }),
            fixed: None,
        }
    }

    /// Serve one principal whatever the request says (stdio).
    pub fn for_principal(mut self, p: Principal) -> Self {
        self.fixed = Some(p);
        self
    }

    /// Serve over stdin/stdout until the client goes away.
    pub async fn serve_stdio(self) -> Result<(), std::io::Error> {
        use rmcp::ServiceExt;
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        running.waiting().await.map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(())
    }

    /// The streamable HTTP endpoint, as a tower service for `proxctl serve` to mount behind
    /// its token guard. Stateless (no session is kept between requests), so any instance
    /// sharing the state store answers any request.
    pub fn http_service(&self, max_body: usize) -> HttpEndpoint {
        use rmcp::transport::streamable_http_server::{
            StreamableHttpServerConfig, StreamableHttpService,
        };
        let mut config = StreamableHttpServerConfig::default().disable_allowed_hosts();
        // Every request carries a bearer token the server checked; the Host check guards
        // unauthenticated local servers against DNS rebinding, which does not apply.
        config.legacy_session_mode = false;
        config.json_response = true;
        config.max_request_body_bytes = max_body;
        let me = self.clone();
        HttpEndpoint(StreamableHttpService::new(move || Ok(me.clone()), Arc::default(), config))
    }

    fn principal(&self, ctx: &RequestContext<RoleServer>) -> Option<Principal> {
        if let Some(p) = &self.fixed {
            return Some(p.clone());
        }
        ctx.extensions.get::<http::request::Parts>()?.extensions.get::<Principal>().cloned()
    }

    fn instructions(&self, p: Option<&Principal>) -> String {
        let mode = self.shared.config.mode;
        let who = match p {
            Some(p) => format!(
                "You act as {} with the {} role{}.",
                p.token
                    .as_deref()
                    .map(|t| format!("token '{t}'"))
                    .unwrap_or("the local user".into()),
                p.role.as_str(),
                if p.scope.is_some() { ", limited to some guests" } else { "" }
            ),
            None => String::new(),
        };
        let tier = match mode {
            Mode::ReadOnly => {
                "Read-only mode: read tools and plan work; operate tools and change sets are \
                 refused."
            }
            Mode::Operate => {
                "Operate mode: operate tools act on up to 20 guests (several need a \
                 confirmation id); anything destructive or large goes through propose_change, a \
                 person's approval, then apply_change."
            }
        };
        format!(
            "proxctl manages Proxmox VE clusters. Mode: {}. {tier} {who} Remotes: {}. Find \
             guests with list_guests (selector language: resource proxctl://selectors). Every \
             call is audited. Read proxctl://safety for the rules.",
            mode.as_str(),
            self.shared.clusters.remotes().join(", ")
        )
    }

    /// Run one tool call: rate limit, the mode and role check, the audit rows, the tool.
    pub async fn call(
        &self,
        principal: Principal,
        client_name: &str,
        name: &str,
        args: Value,
    ) -> Result<Value, ToolError> {
        let Some(def) = self.shared.tools.iter().find(|t| t.name == name).cloned() else {
            return Err(ToolError::NotFound(format!(
                "no tool '{name}'; tools/list shows the ones there are"
            )));
        };
        self.shared.limiter.check(&principal, self.shared.config.calls_per_minute)?;
        let call = tools::Call {
            shared: Arc::clone(&self.shared),
            principal: principal.clone(),
            client_name: clean_name(client_name),
        };
        let allowed = access::allow(self.shared.config.mode, &principal, name, def.tier);
        // What changes things is recorded before it runs; if it cannot be, it does not run.
        if def.tier == access::Tier::Operate && allowed.is_ok() {
            self.audit(&call, name, &args, "called".into()).await.map_err(|e| {
                ToolError::Refused(format!(
                    "the audit log cannot record this call ({e}), so it was not made"
                ))
            })?;
        }
        let outcome = match allowed {
            Ok(()) => def.run(call.clone(), args.clone()).await,
            Err(e) => Err(e),
        };
        let result = match &outcome {
            Ok(_) => "ok".to_string(),
            Err(e @ ToolError::Refused(_)) => e.to_string(),
            Err(e) => format!("error: {e}"),
        };
        if let Err(e) = self.audit(&call, name, &args, result).await {
            tracing::warn!(tool = name, error = %e, "cannot audit an MCP tool call");
        }
        outcome
    }

    async fn audit(
        &self,
        call: &tools::Call,
        tool: &str,
        args: &Value,
        result: String,
    ) -> Result<(), ToolError> {
        let target = ["guest", "id", "upid", "selector", "template", "name"]
            .iter()
            .find_map(|k| args.get(*k).and_then(|v| v.as_str()).map(|v| format!("{k}:{v}")))
            .unwrap_or_else(|| "-".into());
        let entry = NewAuditEntry {
            time: jiff::Timestamp::now(),
            actor: call.actor(),
            profile: self.shared.profile.clone(),
            target,
            action: format!("mcp tool {tool}"),
            params: json!({ "token": call.principal.token, "arguments": shorten(args) }),
            result,
        };
        self.shared.state.get().await?.append_audit(&entry).await?;
        Ok(())
    }

    fn tool_list(&self) -> Vec<Tool> {
        self.shared
            .tools
            .iter()
            .filter_map(|t| {
                let mut ann = ToolAnnotations::with_title(t.title).read_only(t.read_only);
                if !t.read_only {
                    ann = ann.destructive(t.destructive);
                }
                let description = match t.tier {
                    access::Tier::Read => t.description.to_string(),
                    access::Tier::Operate => format!(
                        "{} [{} tier{}]",
                        t.description,
                        t.tier.as_str(),
                        if self.shared.config.mode == Mode::ReadOnly {
                            ": disabled, this server runs read-only"
                        } else {
                            ""
                        }
                    ),
                };
                let v = json!({
                    "name": t.name,
                    "title": t.title,
                    "description": description,
                    "inputSchema": t.input_schema,
                    "annotations": ann,
                });
                serde_json::from_value(v).ok()
            })
            .collect()
    }
}

/// A client's name as the audit log records it: printable, short.
fn clean_name(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .take(64)
        .collect();
    if n.is_empty() { "unknown".into() } else { n }
}

/// Arguments as the audit log keeps them: long strings (manifests) cut to their start.
fn shorten(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() > 2048 => {
            let cut: String = s.chars().take(2048).collect();
            Value::String(format!("{cut}… ({} bytes)", s.len()))
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shorten(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shorten).collect()),
        other => other.clone(),
    }
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    hex::encode(b)
}

fn tool_answer(outcome: Result<Value, ToolError>) -> CallToolResult {
    match outcome {
        Ok(v) => {
            let text = serde_json::to_string_pretty(&v).unwrap_or_default();
            let structured = match v {
                Value::Object(_) => v,
                other => json!({ "result": other }),
            };
            let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
            r.structured_content = Some(structured);
            r
        }
        Err(e) => {
            let class = format!("{:?}", e.class()).to_lowercase();
            let mut r = CallToolResult::error(vec![ContentBlock::text(e.to_string())]);
            r.structured_content = Some(json!({ "error": e.to_string(), "class": class }));
            r
        }
    }
}

impl ServerHandler for Mcp {
    fn get_info(&self) -> ServerConfig {
        let caps = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .build();
        let mut info = Implementation::from_build_env();
        info.name = "proxctl".into();
        info.version = env!("CARGO_PKG_VERSION").into();
        ServerConfig::new(caps)
            .with_server_info(info)
            .with_instructions(self.instructions(self.fixed.as_ref()))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        serde_json::from_value(json!({ "tools": self.tool_list(), "resultType": "complete" }))
            .map_err(|e| McpError::internal_error(e.to_string(), None))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(principal) = self.principal(&ctx) else {
            return Ok(tool_answer(Err(ToolError::Refused(
                "no authenticated caller: send the API token as `Authorization: Bearer`".into(),
            )))
            .into());
        };
        let client_name = ctx.client_info().map(|i| i.name).unwrap_or_default();
        let args = request.arguments.map(Value::Object).unwrap_or(Value::Null);
        let outcome = self.call(principal, &client_name, &request.name, args).await;
        Ok(tool_answer(outcome).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        serde_json::from_value(resources::list_resources())
            .map_err(|e| McpError::internal_error(e.to_string(), None))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let Some((text, mime)) = resources::read(&request.uri, self.shared.config.mode.as_str())
        else {
            return Err(McpError::resource_not_found(
                format!("no resource '{}'; resources/list shows them", request.uri),
                None,
            ));
        };
        let r: ReadResourceResult = serde_json::from_value(json!({
            "contents": [{ "uri": request.uri, "mimeType": mime, "text": text }],
            "resultType": "complete",
        }))
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(r.into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        serde_json::from_value(resources::list_prompts())
            .map_err(|e| McpError::internal_error(e.to_string(), None))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        let Some((description, text)) = resources::prompt(&request.name, &args) else {
            return Err(McpError::invalid_params(format!("no prompt '{}'", request.name), None));
        };
        let r: GetPromptResult = serde_json::from_value(json!({
            "description": description,
            "messages": [{ "role": "user", "content": { "type": "text", "text": text } }],
            "resultType": "complete",
        }))
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(r.into())
    }
}
