//! The HTTPS front end: TLS, PVE's transport rules (§1.1–1.2), authentication, schema
//! validation, dispatch, the `{"data": ...}` envelope and PVE's error shapes (§1.5).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use proxctl_schema::{ApiSchema, Violation};

use crate::schema_permissions::Verdict;
use proxctl_types::messages::INVALID_CSRF;
use proxctl_types::wire::FormParams;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::auth::{Principal, Role, cookie_ticket};
use crate::clock::{Clock, ClockMode};
use crate::error::PveError;
use crate::faults::FaultAction;
use crate::params::Params;
use crate::router::{self, Ctx, Env, Handler, Match, ReadHandler, Reply, Route};
use crate::state::World;

/// Non-upload bodies are capped at 512 KiB (PVE >= 8.4).
const MAX_BODY: usize = 512 * 1024;

/// PVE streams uploads to disk without a limit; the simulator keeps them in memory, so it caps
/// them (far above any test image) rather than let one request take the machine's memory.
const MAX_UPLOAD: usize = 8 * 1024 * 1024 * 1024;

/// How long a connection may take to finish its TLS handshake, and to send a request's
/// headers, before it is dropped (half-open connections must not pile up).
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the request handlers share.
pub struct Shared {
    /// Reads share it; anything that changes the world (time passing included) takes it alone.
    pub world: RwLock<World>,
    /// Bumped each time the world is taken for writing: a read answer made at one generation
    /// holds until the next.
    pub generation: AtomicU64,
    /// The big read answers (`/cluster/resources`), as response bodies, kept until the world
    /// changes.
    pub read_cache: Mutex<HashMap<String, (u64, Bytes)>>,
    /// Requests per route pattern, for benchmarks and tests to count API calls.
    pub counters: Mutex<crate::state::Counters>,
    pub clock: Clock,
    pub env: Arc<Env>,
    pub schema: Option<Arc<ApiSchema>>,
    pub routes: Vec<Route>,
    pub changed: Notify,
    /// Simulated delay of 401 answers (3 s on real PVE), in simulated ms.
    pub auth_failure_delay_ms: u64,
    /// Requests answered with a schema violation (kept so test suites can assert none).
    pub schema_violations: Mutex<Vec<String>>,
    /// Requests currently waiting for a lock, so tests can wait on a condition, not a sleep.
    pub waiting: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("clock", &self.clock).finish_non_exhaustive()
    }
}

impl Shared {
    /// Take the world alone, brought to the clock's present.
    pub fn world(&self) -> RwLockWriteGuard<'_, World> {
        let mut w = self.world.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = self.clock.target() {
            w.advance_to(t);
        }
        w
    }

    /// Take the world to read, beside other readers. When time has moved past an event (a
    /// task step), or far enough that the clock shown would be stale, the world is brought to
    /// the present first, alone.
    pub fn read(&self) -> RwLockReadGuard<'_, World> {
        loop {
            let w = self.world.read().unwrap_or_else(|p| p.into_inner());
            match self.clock.target() {
                Some(t) if w.behind(t) => {
                    drop(w);
                    drop(self.world());
                }
                _ => return w,
            }
        }
    }

    pub fn count(&self, route: &str) {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        match c.get_mut(route) {
            Some(n) => *n += 1,
            None => {
                c.insert(route.to_string(), 1);
            }
        }
    }

    /// Run a read handler, from the cache when the world has not changed since.
    fn read_response(&self, route: &Route, h: ReadHandler, ctx: &mut Ctx, key: &str) -> Resp {
        let w = self.read();
        if route.template != "/cluster/resources" {
            return match h(ctx, &w) {
                Ok(reply) => ok_response(reply),
                Err(e) => error_response(&e),
            };
        }
        // Readers hold the lock, so no writer can bump the generation under them.
        let generation = self.generation.load(Ordering::Relaxed);
        let cached = {
            let c = self.read_cache.lock().unwrap_or_else(|p| p.into_inner());
            c.get(key).filter(|(g, _)| *g == generation).map(|(_, b)| b.clone())
        };
        if let Some(body) = cached {
            return json_body_response(body);
        }
        let body = match h(ctx, &w) {
            Ok(reply) => ok_body(reply),
            Err(e) => return error_response(&e),
        };
        let mut c = self.read_cache.lock().unwrap_or_else(|p| p.into_inner());
        c.retain(|_, (g, _)| *g == generation);
        c.insert(key.to_string(), (generation, body.clone()));
        json_body_response(body)
    }
}

pub type Resp = Response<Full<Bytes>>;

/// Accept TLS connections until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    shutdown: Arc<Notify>,
    io_timeout: Duration,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.notified() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(io_timeout, acceptor.accept(tcp)).await else {
                return;
            };
            let io = hyper_util::rt::TokioIo::new(tls);
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { handle(shared, req).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(io_timeout)
                .serve_connection(io, svc)
                .with_upgrades()
                .await;
        });
    }
}

#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset (fault injection)")
    }
}

impl std::error::Error for ResetConnection {}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, ResetConnection> {
    let method = req.method().clone();
    let uri_path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();

    if !matches!(method, Method::GET | Method::POST | Method::PUT | Method::DELETE) {
        return Ok(plain(501, &format!("method '{method}' not available")));
    }
    if let Some(te) = headers.get(http::header::TRANSFER_ENCODING) {
        let te = te.to_str().unwrap_or("").to_ascii_lowercase();
        return Ok(if te.contains("chunked") {
            plain(501, "chunked transfer encoding not supported")
        } else {
            plain(501, &format!("Unknown transfer encoding '{te}'"))
        });
    }
    let decoded = percent_encoding::percent_decode_str(&uri_path).decode_utf8_lossy().into_owned();
    if decoded.starts_with("/_sim/") || decoded == "/_sim" {
        let Some(body) = read_body(req, MAX_BODY).await else {
            return Ok(plain(501, "for data too large"));
        };
        return Ok(
            crate::control::handle(&shared, &method, &decoded, &query, &headers, &body).await
        );
    }
    let Some(rest) = decoded.strip_prefix("/api2/") else {
        return Ok(plain(501, "no such uri"));
    };
    let (format, api_path) = rest.split_once('/').map_or((rest, ""), |(f, p)| (f, p));
    if format.is_empty() {
        return Ok(plain(501, "no such uri"));
    }
    let api_path = format!("/{}", api_path.trim_end_matches('/'));
    let api_path = if api_path.len() > 1 { api_path } else { "/".to_string() };
    if format != "json" {
        return Ok(plain(501, &format!("no formatter for uri {api_path}, {format}")));
    }

    let is_upload = api_path.ends_with("/upload") && method == Method::POST;
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let content_len: usize = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    if matches!(method, Method::GET | Method::DELETE) && content_len > 0 {
        return Ok(plain(501, &format!("Unexpected content for method '{method}'")));
    }
    if !is_upload && content_len > MAX_BODY {
        return Ok(plain(501, "for data too large"));
    }
    // Authentication comes before the body is read (a stranger's upload is never taken in)
    // and before routing (an unknown path still gets 401).
    let who = match authenticate(&shared, &method, &api_path, &headers, is_upload) {
        Ok(w) => w,
        Err(e) => {
            delay_auth_failure(&shared).await;
            return Ok(error_response(&e));
        }
    };
    if crate::console_ws::wanted(&method, &api_path, &headers) {
        return Ok(crate::console_ws::upgrade(&shared, req, &who, &api_path, &query));
    }
    let body = match read_body(req, if is_upload { MAX_UPLOAD } else { MAX_BODY }).await {
        Some(b) => b,
        None => return Ok(plain(501, "for data too large")),
    };

    // Parameters: body first, then the query string, whose values win.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut file = None;
    if !body.is_empty() {
        let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match ct.as_str() {
            "" | "application/x-www-form-urlencoded" => {
                pairs = FormParams::decode(&String::from_utf8_lossy(&body)).into_vec();
            }
            "application/json" => match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(m)) => pairs = json_pairs(m),
                _ => return Ok(error_response(&PveError::die("malformed JSON string"))),
            },
            "multipart/form-data" if is_upload => {
                match crate::multipart::parse(&content_type, &body) {
                    Ok((fields, f)) => {
                        pairs = fields;
                        file = f;
                    }
                    Err(e) => return Ok(error_response(&PveError::status(400, e))),
                }
            }
            _ => {
                return Ok(plain(
                    506,
                    &format!("upload 'Content-Type '{content_type}' not implemented"),
                ));
            }
        }
    }
    let query_pairs = FormParams::decode(&query).into_vec();
    pairs.retain(|(k, _)| !query_pairs.iter().any(|(qk, _)| qk == k));
    pairs.extend(query_pairs);

    let m = method.as_str().to_string();
    // Deciding a fault draws from the world's random numbers, so only when there are faults.
    let faulty = !shared.read().faults.is_empty();
    let fault = if faulty {
        let mut w = shared.world();
        let f = w.faults.clone();
        f.decide(&mut w.rng, &m, &api_path)
    } else {
        FaultAction::None
    };
    match fault {
        FaultAction::Reset => return Err(ResetConnection),
        FaultAction::Error { status, message } => {
            return Ok(error_response(&PveError::status(status, message)));
        }
        FaultAction::Slow(ms) => wait_sim(&shared, ms).await,
        FaultAction::None => {}
    }

    if let Some(refusal) = cluster_refusal(&shared.read(), &m, &api_path) {
        return Ok(error_response(&refusal));
    }

    let (route, path_params) = match router::find(&shared.routes, &m, &api_path) {
        Match::Found(r, p) => (r, p),
        Match::NoRoute => {
            if let Some(refusal) = acl_refusal(&shared, &who, &m, &api_path, &api_path, &pairs) {
                return Ok(error_response(&refusal));
            }
            return Ok(generic_answer(&shared, &who, &m, &api_path, &pairs));
        }
    };
    shared.count(&format!("{m} {}", route.template));

    if let Some(schema) = &shared.schema {
        let mut all = pairs.clone();
        if let Some((name, _)) = &file {
            all.push(("filename".into(), name.clone()));
        }
        match schema.validate(&m, &api_path, &all) {
            Ok(_) => {}
            Err(Violation::NoRoute { .. }) => {
                note_violation(&shared, format!("{m} {api_path}: not in schema"));
                return Ok(error_response(&PveError::not_implemented(&m, &api_path)));
            }
            Err(Violation::Params(e)) => {
                note_violation(&shared, format!("{m} {api_path}: {e:?}"));
                return Ok(error_response(&PveError::params(e)));
            }
        }
    }

    // Path parameters join the others; a conflicting duplicate is PVE's 400.
    let mut conflicts = BTreeMap::new();
    for (k, v) in &path_params {
        if pairs.iter().any(|(pk, pv)| pk == k && pv != v) {
            conflicts.insert(
                k.clone(),
                "duplicate parameter (already defined in URI) with conflicting values!".into(),
            );
        }
    }
    if !conflicts.is_empty() {
        return Ok(error_response(&PveError::params(conflicts)));
    }
    pairs.retain(|(k, _)| !path_params.iter().any(|(pk, _)| pk == k));
    pairs.extend(path_params);

    if route.write && who.role == Role::Auditor {
        return Ok(error_response(&PveError::forbidden(
            &crate::permissions::acl_path(&api_path),
            crate::permissions::write_privilege(route.template),
        )));
    }
    if let Some(refusal) = acl_refusal(&shared, &who, &m, route.template, &api_path, &pairs) {
        return Ok(error_response(&refusal));
    }

    let fetched = if route.template.ends_with("/download-url") {
        Some(crate::fetch::prefetch(&pairs).await)
    } else {
        None
    };
    let params = Params::new(pairs);
    let handler = match route.handler {
        Handler::Write(h) => h,
        Handler::Read(h) => {
            let key = format!("{api_path}?{}", params.cache_key());
            let mut ctx = Ctx {
                method: m.clone(),
                path: api_path.clone(),
                template: route.template,
                p: params,
                who: who.clone(),
                file,
                env: shared.env.clone(),
                fetched,
            };
            if who.role == Role::Acl && crate::permissions::is_filtered_list(route.template) {
                // Filtered per caller, so never from (or into) the shared read cache.
                let w = shared.read();
                return Ok(match h(&mut ctx, &w) {
                    Ok(mut reply) => {
                        if let Ok(mut v) = serde_json::from_str::<Value>(&reply.data) {
                            crate::permissions::filter_list(&w, &who.user, route.template, &mut v);
                            reply.data = v.to_string();
                        }
                        ok_response(reply)
                    }
                    Err(e) => error_response(&e),
                });
            }
            return Ok(shared.read_response(route, h, &mut ctx, &key));
        }
    };
    let mut deadline: Option<u64> = None;
    loop {
        // Registered before the attempt, so a change that lands in between is not missed.
        let notified = shared.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut ctx = Ctx {
            method: m.clone(),
            path: api_path.clone(),
            template: route.template,
            p: params.clone(),
            who: who.clone(),
            file: file.clone(),
            env: shared.env.clone(),
            fetched: fetched.clone(),
        };
        let (result, now) = {
            let mut w = shared.world();
            let r = handler(&mut ctx, &mut w);
            // Start spawned tasks right away: their first steps happen before the answer.
            let now = w.now;
            w.advance_to(now);
            (r, now)
        };
        // A lock wait changed nothing; waking waiters (ourselves included) would only spin.
        if !matches!(result, Err(PveError::LockBusy { .. })) {
            shared.changed.notify_waiters();
        }
        match result {
            Ok(reply) => return Ok(ok_response(reply)),
            Err(PveError::LockBusy { timeout_ms, message }) => {
                let d = *deadline.get_or_insert(now + timeout_ms);
                if now >= d {
                    return Ok(error_response(&PveError::die(message)));
                }
                shared.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match shared.clock.mode() {
                    // A test that never advances time should not hang forever.
                    ClockMode::Manual => {
                        let _ = tokio::time::timeout(Duration::from_secs(60), notified).await;
                    }
                    ClockMode::Realtime => {
                        let real =
                            shared.clock.real_duration(d - now).min(Duration::from_millis(20));
                        tokio::time::sleep(real.max(Duration::from_millis(1))).await;
                    }
                }
                shared.waiting.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
            Err(e) => return Ok(error_response(&e)),
        }
    }
}

/// A method the routes do not implement: answered from the schema when one is loaded
/// ([`crate::generic`]), else PVE's 501.
fn generic_answer(
    shared: &Shared,
    who: &crate::auth::Principal,
    m: &str,
    api_path: &str,
    pairs: &[(String, String)],
) -> Resp {
    use crate::generic::{self, Generic};
    let Some(schema) = &shared.schema else {
        return error_response(&PveError::not_implemented(m, api_path));
    };
    match generic::decide(schema, who, m, api_path, pairs) {
        Generic::NotInSchema => error_response(&PveError::not_implemented(m, api_path)),
        Generic::Invalid(e, note) => {
            note_violation(shared, note);
            error_response(&e)
        }
        Generic::Refused(e) => error_response(&e),
        Generic::Data(reply) => {
            shared.count(&format!("{m} (generic)"));
            ok_response(reply)
        }
        Generic::Task { node, task_type } => {
            shared.count(&format!("{m} (generic)"));
            let upid = {
                let mut w = shared.world();
                let node =
                    node.filter(|n| w.nodes.contains_key(n)).unwrap_or_else(|| w.first_node());
                let user = if who.user.is_empty() { "root@pam" } else { who.user.as_str() };
                let upid = w.spawn(&node, &task_type, "", user, generic::plan(m, api_path));
                let now = w.now;
                w.advance_to(now);
                upid
            };
            shared.changed.notify_waiters();
            ok_response(Reply::data(upid.to_string()))
        }
    }
}

fn note_violation(shared: &Shared, v: String) {
    tracing::warn!(violation = %v, "request violates the PVE schema");
    shared.schema_violations.lock().unwrap_or_else(|p| p.into_inner()).push(v);
}

/// Let `ms` of simulated time pass for this request (slow-response faults, 401 delay).
async fn wait_sim(shared: &Shared, ms: u64) {
    if shared.clock.mode() == ClockMode::Realtime && ms > 0 {
        tokio::time::sleep(shared.clock.real_duration(ms)).await;
    }
}

async fn delay_auth_failure(shared: &Shared) {
    wait_sim(shared, shared.auth_failure_delay_ms).await;
}

fn authenticate(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
    is_upload: bool,
) -> Result<Principal, PveError> {
    // The login form's two calls need no credentials; making realms does.
    let open = path == "/access/ticket" || (path == "/access/domains" && *method == Method::GET);
    let (now, lifetime) = {
        let w = shared.read();
        (w.now_secs(), w.faults.ticket_lifetime())
    };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let ticket = header("cookie").and_then(|c| cookie_ticket(&c)).or_else(|| {
        header("authorization").and_then(|a| a.strip_prefix("PVEAuthCookie=").map(str::to_string))
    });
    if let Some(t) = ticket {
        if let Some(user) = shared.env.auth.verify_ticket_within(&t, now, lifetime) {
            let writes = *method != Method::GET;
            if writes && !is_upload && !open {
                let csrf = header("csrfpreventiontoken").unwrap_or_default();
                if !shared.env.auth.verify_csrf(&csrf, &user, now) {
                    return Err(PveError::unauthorized(INVALID_CSRF));
                }
            }
            if user == "root@pam" {
                return Ok(Principal { user, role: Role::Admin, via_ticket: true });
            }
            // A user made through /access: still active, and held to their ACLs.
            let w = shared.read();
            let now = i64::try_from(w.now_secs()).unwrap_or(i64::MAX);
            if !crate::routes::passwords::active(&w.access, &user, now) {
                return Err(PveError::unauthorized("Authentication failed!"));
            }
            return Ok(Principal { user, role: Role::Acl, via_ticket: true });
        }
        if !open {
            return Err(PveError::unauthorized("Authentication failed!"));
        }
    }
    if let Some(a) = header("authorization")
        && a.starts_with("PVEAPIToken")
    {
        if open && path == "/access/ticket" && *method == Method::POST {
            return Err(PveError::status(
                403,
                "Permission check failed (URI '/access/ticket' not available with API token, need proper ticket.\n)",
            ));
        }
        if let Some(p) = shared.env.auth.verify_token_header(&a) {
            return Ok(p);
        }
        // A token a user made through /access: its ACLs say what it may do.
        let w = shared.read();
        let now = i64::try_from(w.now_secs()).unwrap_or(i64::MAX);
        return crate::auth::token_header_parts(&a)
            .and_then(|(id, secret)| {
                crate::routes::users::token_identity(&w.access, &id, &secret, now)
            })
            .map(|user| Principal { user, role: Role::Acl, via_ticket: false })
            .ok_or_else(|| PveError::unauthorized("Authentication failed!"));
    }
    if open {
        return Ok(Principal { user: String::new(), role: Role::Admin, via_ticket: false });
    }
    Err(PveError::unauthorized("No ticket"))
}

/// For a token made through `/access`: PVE's 403 when its ACLs lack what the request needs.
fn acl_refusal(
    shared: &Shared,
    who: &Principal,
    method: &str,
    template: &str,
    path: &str,
    params: &[(String, String)],
) -> Option<PveError> {
    if who.role != Role::Acl {
        return None;
    }
    let w = shared.read();
    // The method's own `permissions` when a schema was given; else the route's rule.
    if let Some(schema) = &shared.schema {
        // Methods the generic layer answers come with a concrete path: find their template
        // and take its path parameters too.
        let mut params = params.to_vec();
        let mut template = template.to_string();
        if schema.method(method, &template).is_none()
            && let Some((t, path_params)) = schema.match_path(path)
        {
            template = t.to_string();
            params.extend(path_params);
        }
        let declared = schema.method(method, &template).and_then(|m| m.get("permissions"));
        match crate::schema_permissions::check(&w, &who.user, declared, &params) {
            Verdict::Allowed => return None,
            Verdict::Denied { path, privilege } => {
                return Some(PveError::forbidden(&path, &privilege));
            }
            Verdict::Unknown => {}
        }
    }
    let (at, privilege) = crate::permissions::required(method, template, path)?;
    (!crate::permissions::allowed(&w, &who.user, &at, privilege))
        .then(|| PveError::forbidden(&at, privilege))
}

fn json_pairs(m: serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in m {
        match v {
            Value::Array(items) => out.extend(items.into_iter().map(|i| (k.clone(), scalar(i)))),
            other => out.push((k, scalar(other))),
        }
    }
    out
}

fn scalar(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The body, or `None` once it passes `limit`: reading stops there, so a body that lies about
/// (or leaves out) its length cannot fill memory.
async fn read_body(req: Request<Incoming>, limit: usize) -> Option<Vec<u8>> {
    let limited = http_body_util::Limited::new(req.into_body(), limit);
    Some(limited.collect().await.ok()?.to_bytes().to_vec())
}

fn base_headers(resp: &mut Resp) {
    let h = resp.headers_mut();
    h.insert("server", HeaderValue::from_static("pve-api-daemon/3.0"));
    h.insert("cache-control", HeaderValue::from_static("max-age=0"));
    h.insert("pragma", HeaderValue::from_static("no-cache"));
    if let Ok(d) = HeaderValue::from_str(&httpdate_now()) {
        h.insert("expires", d);
    }
}

fn httpdate_now() -> String {
    // hyper adds Date; Expires repeats it. A fixed past date means "already expired".
    "Thu, 01 Jan 1970 00:00:00 GMT".to_string()
}

pub fn ok_response(r: Reply) -> Resp {
    json_body_response(ok_body(r))
}

/// The `{"data": ...}` envelope of a reply.
fn ok_body(r: Reply) -> Bytes {
    let mut body = format!("{{\"data\":{}", r.data);
    if let Some(t) = r.total {
        body.push_str(&format!(",\"total\":{t}"));
    }
    if let Some(c) = r.changes {
        body.push_str(&format!(",\"changes\":{}", serde_json::Value::String(c)));
    }
    body.push('}');
    Bytes::from(body)
}

fn json_body_response(body: Bytes) -> Resp {
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json;charset=UTF-8"));
    base_headers(&mut resp);
    resp
}

/// PVE's error shape: the first line of the message is the status line's reason phrase.
pub fn error_response(e: &PveError) -> Resp {
    let (status, message, errors, empty) = match e {
        PveError::Http { status, message, errors, empty_body } => {
            (*status, message.clone(), errors.clone(), *empty_body)
        }
        PveError::LockBusy { message, .. } => (500, message.clone(), BTreeMap::new(), false),
    };
    let body = if empty {
        Bytes::new()
    } else {
        let mut b = json!({ "data": null, "message": message });
        if !errors.is_empty()
            && let Some(m) = b.as_object_mut()
        {
            m.insert("errors".into(), serde_json::to_value(&errors).unwrap_or(Value::Null));
        }
        Bytes::from(b.to_string())
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !empty {
        resp.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json;charset=UTF-8"));
    }
    set_reason(&mut resp, &message);
    base_headers(&mut resp);
    resp.headers_mut().insert("connection", HeaderValue::from_static("close"));
    resp
}

/// Transport-level errors: plain text body, no Content-Type.
pub fn plain(status: u16, message: &str) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(message.to_string())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    set_reason(&mut resp, message);
    base_headers(&mut resp);
    resp.headers_mut().insert("connection", HeaderValue::from_static("close"));
    resp
}

fn set_reason(resp: &mut Resp, message: &str) {
    let first = message.lines().next().unwrap_or("").trim();
    let cleaned: String = first.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).collect();
    if cleaned.is_empty() {
        return;
    }
    if let Ok(r) = hyper::ext::ReasonPhrase::try_from(cleaned.into_bytes()) {
        resp.extensions_mut().insert(r);
    }
}

/// Infallible version for the control API.
pub fn json_response(status: u16, v: Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(v.to_string())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

/// What the cluster's state refuses before any handler runs: a request for a node that is down
/// (pveproxy cannot forward it: 595), and a change without quorum (pmxcfs is read-only).
fn cluster_refusal(w: &World, method: &str, api_path: &str) -> Option<PveError> {
    if let Some(node) = api_path.strip_prefix("/nodes/").map(|r| r.split('/').next().unwrap_or(r))
        && w.nodes.contains_key(node)
        && !w.node_online(node)
    {
        return Some(PveError::status(595, "No route to host"));
    }
    let login = api_path == "/access/ticket";
    if method != "GET" && !login && !w.is_quorate() {
        return Some(PveError::die("cluster not ready - no quorum?"));
    }
    None
}
