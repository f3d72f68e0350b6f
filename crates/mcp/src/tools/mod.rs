//! The tool table: each tool's name, description (written for a model), input schema
//! (generated from its argument type), tier, and the function that runs it. `read.rs` holds the
//! tools that only look, `operate.rs` those that change guests within limits, and
//! `crate::changes` the change-set tools for everything destructive or large.

mod operate;
mod read;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use proxctl_client::Client;
use proxctl_ops::GuestRef;
use proxctl_ops::views::GuestRow;
use proxctl_types::selector::{Selector, Subject};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Shared;
use crate::access::{Principal, Tier};
use crate::error::{ToolError, ToolResult};

type Run = Arc<
    dyn Fn(Call, Value) -> Pin<Box<dyn Future<Output = ToolResult<Value>> + Send>> + Send + Sync,
>;

/// One tool.
#[derive(Clone)]
pub struct ToolDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub tier: Tier,
    /// Changes nothing in the cluster (an MCP hint for clients).
    pub read_only: bool,
    /// May delete or interrupt something (an MCP hint for clients).
    pub destructive: bool,
    pub input_schema: serde_json::Map<String, Value>,
    run: Run,
}

impl std::fmt::Debug for ToolDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolDef").field("name", &self.name).field("tier", &self.tier).finish()
    }
}

impl ToolDef {
    pub async fn run(&self, call: Call, args: Value) -> ToolResult<Value> {
        (self.run)(call, args).await
    }
}

/// The JSON Schema of a tool's arguments, as MCP wants it: an object schema, inlined.
pub fn schema_of<T: JsonSchema>() -> serde_json::Map<String, Value> {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    match serde_json::to_value(schema) {
        Ok(Value::Object(mut m)) => {
            m.remove("$schema");
            m.remove("title");
            m.entry("type").or_insert_with(|| Value::String("object".into()));
            m
        }
        _ => serde_json::Map::new(),
    }
}

/// Make a tool from a typed async function: arguments are parsed (an unknown or missing field
/// is an error the model sees), the answer serialised.
pub(crate) fn tool<I, O, F, Fut>(
    name: &'static str,
    title: &'static str,
    tier: Tier,
    description: &'static str,
    f: F,
) -> ToolDef
where
    I: DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize,
    F: Fn(Call, I) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = ToolResult<O>> + Send + 'static,
{
    ToolDef {
        name,
        title,
        description,
        tier,
        read_only: tier == Tier::Read,
        destructive: false,
        input_schema: schema_of::<I>(),
        run: Arc::new(move |call, args| {
            Box::pin(async move {
                let args = if args.is_null() { Value::Object(Default::default()) } else { args };
                let input: I =
                    serde_json::from_value(args).map_err(|e| ToolError::Invalid(e.to_string()))?;
                let out = f(call, input).await?;
                serde_json::to_value(out).map_err(|e| ToolError::Internal(e.to_string()))
            })
        }),
    }
}

/// Every tool, read tools first.
pub fn all() -> Vec<ToolDef> {
    let mut t = read::tools();
    t.extend(operate::tools());
    t.extend(crate::changes::tools());
    t
}

pub(crate) use operate::{report, snapshot_each};
pub(crate) use read::plan_of;
pub(crate) use tool as make_tool;

/// One tool call: who makes it, from which client, with what the server shares.
#[derive(Clone)]
pub struct Call {
    pub(crate) shared: Arc<Shared>,
    pub principal: Principal,
    /// The MCP client's name, as it introduced itself.
    pub client_name: String,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("principal", &self.principal)
            .field("client_name", &self.client_name)
            .finish()
    }
}

impl Call {
    /// The actor in the audit log: `mcp:<client name>`.
    pub fn actor(&self) -> String {
        format!("mcp:{}", self.client_name)
    }

    /// The remote's name and client (the default remote when none is named).
    pub fn client(&self, remote: Option<&str>) -> ToolResult<(String, Client)> {
        let name = remote
            .filter(|r| !r.is_empty())
            .map(String::from)
            .unwrap_or_else(|| self.shared.clusters.default_remote());
        match self.shared.clusters.client(&name) {
            Some(c) => Ok((name, c)),
            None => Err(ToolError::NotFound(format!(
                "no remote '{name}'; the remotes are: {}",
                self.shared.clusters.remotes().join(", ")
            ))),
        }
    }

    pub async fn store(&self) -> ToolResult<Arc<dyn proxctl_state::StateStore>> {
        Ok(Arc::clone(self.shared.state.get().await?))
    }

    pub fn state(&self) -> &proxctl_ops::state::StateHandle {
        &self.shared.state
    }

    /// A selector in the `-l` language, narrowed to the caller's scope.
    pub fn selector(&self, text: Option<&str>) -> ToolResult<Selector> {
        let text = text.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("all");
        let sel: Selector =
            text.parse().map_err(|e| ToolError::Invalid(format!("selector '{text}': {e}")))?;
        Ok(self.principal.within(sel))
    }

    pub fn sees(&self, g: &GuestRow) -> bool {
        self.principal.sees(&subject(g))
    }

    /// One guest by name or VMID, which the caller must be allowed to see (a guest outside
    /// the scope is "not found", as if it did not exist).
    pub async fn guest(&self, client: &Client, what: &str) -> ToolResult<(GuestRef, GuestRow)> {
        let rows = proxctl_ops::views::guests(client, None, false).await?;
        let by_id = what.parse::<u32>().ok();
        let found: Vec<&GuestRow> = rows
            .iter()
            .filter(|g| Some(g.vmid) == by_id || g.name == what)
            .filter(|g| self.sees(g))
            .collect();
        match found.as_slice() {
            [one] => Ok((one.guest_ref()?, (*one).clone())),
            [] => Err(ToolError::NotFound(format!(
                "no guest '{what}' (by name or VMID); list_guests shows the ones you can see"
            ))),
            many => Err(ToolError::Invalid(format!(
                "'{what}' names {} guests ({}); use a VMID",
                many.len(),
                many.iter().map(|g| g.vmid.to_string()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The guests a selector picks within the scope (templates left out).
    pub async fn targets(&self, client: &Client, selector: &str) -> ToolResult<Vec<GuestRow>> {
        let sel = self.selector(Some(selector))?;
        Ok(proxctl_ops::bulk::targets(client, &sel).await?)
    }
}

pub fn subject(g: &GuestRow) -> Subject<'_> {
    Subject { vmid: g.vmid, name: &g.name, node: &g.node, pool: g.pool.as_deref(), tags: &g.tags }
}
