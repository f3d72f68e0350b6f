//! The HTTP side of the client: authentication headers, ticket login and renewal, rate limits,
//! retries with backoff, and mapping PVE's responses into data or typed errors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proxctl_types::api::TicketResponse;
use proxctl_types::secret::Secret;
use proxctl_types::wire::{ErrorBody, FormParams};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex as AsyncMutex, Semaphore};

use crate::auth::Credentials;
use crate::error::{ApiError, ClientError};
use crate::request::{ApiRequest, Endpoint, Retry};
use crate::settings::ClientSettings;
use crate::tls::{TlsMode, TlsObservation, client_config};

/// Counters a caller (or a benchmark) can read.
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub logins: AtomicU64,
}

#[derive(Debug, Clone)]
struct Ticket {
    ticket: Secret,
    csrf: Secret,
    obtained: Instant,
}

/// A Proxmox VE API client. Cheap to clone; clones share connections, auth and limits.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    settings: ClientSettings,
    ticket: AsyncMutex<Option<Ticket>>,
    tls_seen: Arc<Mutex<TlsObservation>>,
    in_flight: Semaphore,
    /// On tokio's clock, so the limiter runs on paused time in tests like every other timer.
    next_slot: AsyncMutex<tokio::time::Instant>,
    metrics: Metrics,
    warnings: Vec<String>,
    hook: std::sync::OnceLock<Arc<dyn crate::MutationHook>>,
    /// Per node, the last list of its running tasks, shared by every `wait_task` on it.
    watches: crate::task::Watches,
}

impl Client {
    pub(crate) fn watches(&self) -> &crate::task::Watches {
        &self.inner.watches
    }

    /// Build a client. With `TlsMode::Insecure` a warning is logged and kept in `warnings()`,
    /// for the CLI to print on every run.
    pub fn new(settings: ClientSettings) -> Result<Self, ClientError> {
        let (tls, tls_seen) = client_config(&settings.tls)?;
        #[allow(clippy::disallowed_methods)] // this is the one place HTTP clients are built
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            // PVE closes idle keep-alive connections after ~5 s; reuse only fresher ones.
            .pool_idle_timeout(Duration::from_secs(3))
            .http1_only()
            .no_proxy()
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build HTTP client: {e}")))?;
        let mut warnings = Vec::new();
        if settings.tls == TlsMode::Insecure {
            let w = format!(
                "TLS verification is disabled for {} (--insecure); anyone on the path can read your credentials. Pin the certificate with --fingerprint instead.",
                settings.url
            );
            tracing::warn!("{w}");
            warnings.push(w);
        }
        let permits = settings.max_in_flight.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                in_flight: Semaphore::new(permits),
                next_slot: AsyncMutex::new(tokio::time::Instant::now()),
                ticket: AsyncMutex::new(None),
                tls_seen,
                metrics: Metrics::default(),
                warnings,
                settings,
                hook: std::sync::OnceLock::new(),
                watches: crate::task::Watches::default(),
            }),
        })
    }

    /// Install the hook every mutating request passes (audit, safe mode). One per client, for
    /// its lifetime: returns false if one was already set.
    pub fn set_hook(&self, hook: Arc<dyn crate::MutationHook>) -> bool {
        self.inner.hook.set(hook).is_ok()
    }

    /// The installed hook, whatever the request (task outcomes reach it too).
    pub(crate) fn hook(&self) -> Option<Arc<dyn crate::MutationHook>> {
        self.inner.hook.get().cloned()
    }

    /// The hook for `req`, if it is a mutation that will really be sent.
    pub(crate) fn hook_for(&self, req: &ApiRequest) -> Option<Arc<dyn crate::MutationHook>> {
        let mutation = req.method().is_mutating() && req.endpoint != Endpoint::AccessTicket;
        if !mutation || self.inner.settings.dry_run {
            return None;
        }
        self.inner.hook.get().cloned()
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Warnings the user must see on every run (e.g. `--insecure`).
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Send a request, retrying transient failures within the retry policy, and return `data`.
    pub async fn send(&self, req: &ApiRequest) -> Result<Value, ClientError> {
        self.send_with_total(req).await.map(|(v, _)| v)
    }

    /// Like `send`, deserialising `data` into `T` straight from the body (no JSON tree first,
    /// which matters for large listings such as `/cluster/resources`).
    pub async fn send_as<T: DeserializeOwned>(&self, req: &ApiRequest) -> Result<T, ClientError> {
        #[derive(serde::Deserialize)]
        struct Data<T> {
            data: T,
        }
        let body = self.send_bytes(req).await?;
        serde_json::from_slice::<Data<T>>(&body).map(|d| d.data).map_err(|e| ClientError::Decode {
            method: req.method().to_string(),
            path: req.path.clone(),
            detail: e.to_string(),
        })
    }

    /// `send`, also returning the envelope's `total` (task lists and logs).
    pub async fn send_with_total(
        &self,
        req: &ApiRequest,
    ) -> Result<(Value, Option<u64>), ClientError> {
        let body = self.send_bytes(req).await?;
        envelope(req, &body)
    }

    /// The raw body of a successful answer, after retries and re-login; a mutation passes the
    /// hook before and after.
    async fn send_bytes(&self, req: &ApiRequest) -> Result<bytes::Bytes, ClientError> {
        let Some(hook) = self.hook_for(req) else {
            return self.send_retrying(req).await;
        };
        hook.before(self, req).await?;
        let result = self.send_retrying(req).await;
        hook.after(req, mutation_result(&result)).await;
        result
    }

    async fn send_retrying(&self, req: &ApiRequest) -> Result<bytes::Bytes, ClientError> {
        let policy = &self.inner.settings.retry;
        let mut attempt = 1;
        let mut relogged = false;
        loop {
            match self.send_once(req).await {
                Ok(v) => return Ok(v),
                // An expired or revoked ticket: log in again once, then resend.
                Err(ClientError::Api(e))
                    if e.kind == crate::ApiErrorKind::Unauthorized
                        && !relogged
                        && req.endpoint != Endpoint::AccessTicket
                        && matches!(
                            self.inner.settings.credentials,
                            Some(Credentials::Password { .. })
                        ) =>
                {
                    tracing::debug!("ticket rejected; logging in again");
                    self.forget_ticket().await;
                    relogged = true;
                }
                Err(e) if attempt < policy.max_attempts && retryable(req.endpoint, &e) => {
                    let wait = policy.delay(attempt);
                    self.inner.metrics.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        method = %req.method(), path = %req.path, attempt, wait_ms = wait.as_millis() as u64,
                        error = %e, "transient failure; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn throttle(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ClientError> {
        let permit = self
            .inner
            .in_flight
            .acquire()
            .await
            .map_err(|_| ClientError::Config("client is shutting down".into()))?;
        if let Some(rps) = self.inner.settings.requests_per_second.filter(|r| *r > 0.0) {
            let gap = Duration::from_secs_f64(1.0 / rps);
            let wait_until = {
                let mut next = self.inner.next_slot.lock().await;
                let now = tokio::time::Instant::now();
                let slot = (*next).max(now);
                *next = slot + gap;
                slot
            };
            tokio::time::sleep_until(wait_until).await;
        }
        Ok(permit)
    }

    async fn send_once(&self, req: &ApiRequest) -> Result<bytes::Bytes, ClientError> {
        let auth = self.auth_headers(req).await?;
        self.send_raw(req, auth).await
    }

    /// One HTTP exchange with the given auth headers; no login, no retry.
    async fn send_raw(
        &self,
        req: &ApiRequest,
        auth: Vec<(&'static str, Secret)>,
    ) -> Result<bytes::Bytes, ClientError> {
        // The one place every request passes: nothing that mutates leaves in a dry run.
        if self.inner.settings.dry_run
            && req.method().is_mutating()
            && req.endpoint != Endpoint::AccessTicket
        {
            return Err(ClientError::DryRun { request: req.to_string() });
        }
        let _permit = self.throttle().await?;
        self.inner.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let method = req.method();
        let mut url = format!("{}/api2/json{}", self.inner.settings.url, req.path);
        let http_method = match method {
            crate::request::Method::Get => reqwest::Method::GET,
            crate::request::Method::Post => reqwest::Method::POST,
            crate::request::Method::Put => reqwest::Method::PUT,
            crate::request::Method::Delete => reqwest::Method::DELETE,
        };
        let body = if method.is_mutating() && method != crate::request::Method::Delete {
            Some(req.params.encode())
        } else {
            if !req.params.is_empty() {
                url.push('?');
                url.push_str(&req.params.encode());
            }
            None
        };
        tracing::debug!(%method, path = %req.path, params = ?req.params, "request");
        let mut rb = self.inner.http.request(http_method, &url);
        for (k, v) in auth {
            rb = rb.header(k, v.expose());
        }
        if let Some(b) = body {
            // A complete body: reqwest sends Content-Length, never chunked (PVE answers 501).
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(b);
        }
        let resp = rb.send().await.map_err(|e| self.map_transport(req, e))?;
        self.read_response(req, resp).await
    }

    pub(crate) async fn read_response(
        &self,
        req: &ApiRequest,
        resp: reqwest::Response,
    ) -> Result<bytes::Bytes, ClientError> {
        let status = resp.status();
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(String::from))
            .unwrap_or_default();
        let bytes = resp.bytes().await.map_err(|e| self.map_transport(req, e))?;
        if status.is_success() {
            tracing::trace!(path = %req.path, status = status.as_u16(), "response");
            return Ok(bytes);
        }
        // JSON error body (PVE >= 8.3), plain-text transport errors, or an empty body (401).
        let (message, errors) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => (b.message.unwrap_or_else(|| reason.clone()), b.errors.unwrap_or_default()),
            Err(_) => {
                let text = String::from_utf8_lossy(&bytes).trim().to_string();
                (if text.is_empty() { reason.clone() } else { text }, BTreeMap::new())
            }
        };
        Err(ApiError::new(
            status.as_u16(),
            req.method().as_str(),
            &req.decoded_path(),
            &message,
            errors,
        )
        .into())
    }

    pub(crate) fn map_transport(&self, req: &ApiRequest, e: reqwest::Error) -> ClientError {
        let url = self.inner.settings.url.clone();
        let rejected = self.inner.tls_seen.lock().ok().and_then(|mut s| s.rejected.take());
        if is_tls_error(&e) || rejected.is_some() {
            let pinned = match &self.inner.settings.tls {
                TlsMode::Pin(p) => Some(p.to_string()),
                _ => None,
            };
            return ClientError::Tls {
                url,
                fingerprint: rejected.map(|f| f.to_string()),
                pinned,
                source: e,
            };
        }
        if e.is_timeout() {
            return ClientError::Timeout {
                method: req.method().to_string(),
                path: req.path.clone(),
                timeout: self.inner.settings.request_timeout,
            };
        }
        if e.is_connect() {
            return ClientError::Connect { url, source: e };
        }
        ClientError::Http { method: req.method().to_string(), path: req.path.clone(), source: e }
    }

    /// Headers for this request: a token, or the ticket cookie (+ CSRF on writes), logging in
    /// or renewing the ticket first when needed.
    async fn auth_headers(
        &self,
        req: &ApiRequest,
    ) -> Result<Vec<(&'static str, Secret)>, ClientError> {
        if req.endpoint == Endpoint::AccessTicket {
            return Ok(Vec::new());
        }
        match &self.inner.settings.credentials {
            None => Ok(Vec::new()),
            Some(Credentials::Token { token_id, secret }) => Ok(vec![(
                "Authorization",
                Secret::new(format!("PVEAPIToken={token_id}={}", secret.expose())),
            )]),
            Some(Credentials::Password { .. }) => {
                let t = self.ticket().await?;
                let mut h =
                    vec![("Cookie", Secret::new(format!("PVEAuthCookie={}", t.ticket.expose())))];
                if req.method().is_mutating() {
                    h.push(("CSRFPreventionToken", t.csrf));
                }
                Ok(h)
            }
        }
    }

    async fn ticket(&self) -> Result<Ticket, ClientError> {
        let mut guard = self.inner.ticket.lock().await;
        if let Some(t) = guard.as_ref() {
            if t.obtained.elapsed() < self.inner.settings.ticket_renew_after {
                return Ok(t.clone());
            }
            // Renew by posting the still-valid ticket as the password; fall back to a full login.
            if let Some(Credentials::Password { user, .. }) = &self.inner.settings.credentials {
                match self.login_with(user.as_str(), &t.ticket, None).await {
                    Ok(n) => {
                        tracing::debug!("ticket renewed");
                        *guard = Some(n.clone());
                        return Ok(n);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "ticket renewal failed; logging in again")
                    }
                }
            }
        }
        let Some(Credentials::Password { user, password, otp }) = &self.inner.settings.credentials
        else {
            return Err(ClientError::Config("no password credentials configured".into()));
        };
        let t = self.login_with(user.as_str(), password, otp.as_ref()).await?;
        *guard = Some(t.clone());
        Ok(t)
    }

    async fn login_with(
        &self,
        user: &str,
        password: &Secret,
        otp: Option<&Secret>,
    ) -> Result<Ticket, ClientError> {
        let mut p = FormParams::new();
        p.push("username", user).push("password", password.expose());
        let req = ApiRequest::new(Endpoint::AccessTicket, &[], p);
        self.inner.metrics.logins.fetch_add(1, Ordering::Relaxed);
        let (v, _) = envelope(&req, &self.send_raw(&req, Vec::new()).await?)?;
        let mut resp: TicketResponse = decode(&req, v)?;
        if resp.need_tfa == Some(1) {
            let Some(otp) = otp else {
                return Err(ClientError::Config(format!(
                    "user {user} has two-factor authentication; set PROXCTL_OTP to the current TOTP code, or use an API token"
                )));
            };
            let mut p = FormParams::new();
            p.push("username", user)
                .push("tfa-challenge", resp.ticket.clone())
                .push("password", format!("totp:{}", otp.expose()));
            let req = ApiRequest::new(Endpoint::AccessTicket, &[], p);
            let (v, _) = envelope(&req, &self.send_raw(&req, Vec::new()).await?)?;
            resp = decode(&req, v)?;
        }
        let csrf = resp.csrf_prevention_token.clone().ok_or_else(|| ClientError::Decode {
            method: "POST".into(),
            path: "/access/ticket".into(),
            detail: "login answer has no CSRFPreventionToken".into(),
        })?;
        Ok(Ticket {
            ticket: Secret::new(resp.ticket),
            csrf: Secret::new(csrf),
            obtained: Instant::now(),
        })
    }

    /// Drop the cached ticket (e.g. after a 401) so the next request logs in again.
    pub async fn forget_ticket(&self) {
        *self.inner.ticket.lock().await = None;
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) async fn auth_for_upload(
        &self,
        req: &ApiRequest,
    ) -> Result<Vec<(&'static str, Secret)>, ClientError> {
        self.auth_headers(req).await
    }
}

/// Split a success body into `data` and the optional `total`.
pub(crate) fn envelope(req: &ApiRequest, body: &[u8]) -> Result<(Value, Option<u64>), ClientError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        method: req.method().to_string(),
        path: req.path.clone(),
        detail: format!("body is not JSON: {e}"),
    })?;
    let total = v.get("total").and_then(Value::as_u64);
    let data = match v {
        Value::Object(mut m) => m.remove("data").unwrap_or(Value::Null),
        _ => Value::Null,
    };
    Ok((data, total))
}

pub(crate) fn decode<T: DeserializeOwned>(req: &ApiRequest, v: Value) -> Result<T, ClientError> {
    serde_json::from_value(v).map_err(|e| ClientError::Decode {
        method: req.method().to_string(),
        path: req.path.clone(),
        detail: e.to_string(),
    })
}

/// Whether `e` may be retried for this endpoint. Creates and clones are retried only when the
/// server provably did not act: the connection never opened, or PVE refused before forking.
fn retryable(ep: Endpoint, e: &ClientError) -> bool {
    // A read, or a PUT that sets values (idempotent by HTTP's rules and PVE's), can be sent
    // again whatever happened to the first: an unexplained 500 (a daemon hiccup, a proxy
    // failure on the way) is worth another try. Known answers ("does not exist", "already
    // running", parameter errors) are classified and stay final.
    let idempotent =
        matches!(ep.method(), crate::request::Method::Get | crate::request::Method::Put)
            && ep.retry() == Retry::Safe;
    if idempotent
        && let ClientError::Api(a) = e
        && a.status >= 500
        && a.kind == crate::ApiErrorKind::Other
    {
        return true;
    }
    if !e.is_transient() {
        return false;
    }
    match ep.retry() {
        Retry::Safe => true,
        Retry::OnlyIfNotProcessed => match e {
            ClientError::Connect { source, .. } => source.is_connect(),
            ClientError::Api(a) => matches!(
                a.kind,
                crate::ApiErrorKind::LockTimeout { .. } | crate::ApiErrorKind::NoWorker
            ),
            _ => false,
        },
    }
}

fn is_tls_error(e: &reqwest::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && inner.downcast_ref::<rustls::Error>().is_some()
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// What a hook is told about a finished mutation.
pub(crate) fn mutation_result(r: &Result<bytes::Bytes, ClientError>) -> crate::MutationResult<'_> {
    match r {
        Ok(body) => {
            let data = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("data").and_then(Value::as_str).map(String::from));
            crate::MutationResult::Ok { data }
        }
        Err(e) => crate::MutationResult::Failed(e),
    }
}

#[cfg(test)]
mod limiter_tests {
    //! The request limiter on paused tokio time: simulated seconds, never wall-clock timing.
    use super::*;

    fn client(rps: Option<f64>, in_flight: usize) -> Client {
        let mut s = crate::ClientSettings::new("https://pve.invalid:8006").unwrap();
        s.requests_per_second = rps;
        s.max_in_flight = in_flight;
        Client::new(s).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_per_second_spaces_requests_evenly() {
        let c = client(Some(10.0), 64);
        let start = tokio::time::Instant::now();
        for _ in 0..11 {
            drop(c.throttle().await.unwrap());
        }
        // The first goes at once, each next one a tenth of a second later.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_rate_nothing_waits() {
        let c = client(None, 64);
        let start = tokio::time::Instant::now();
        for _ in 0..100 {
            drop(c.throttle().await.unwrap());
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn max_in_flight_holds_the_next_request_until_one_finishes() {
        let c = client(None, 2);
        let a = c.throttle().await.unwrap();
        let _b = c.throttle().await.unwrap();
        let third = tokio::time::timeout(Duration::from_secs(3600), c.throttle()).await;
        assert!(third.is_err(), "a third request waits while two are in flight");
        drop(a);
        assert!(tokio::time::timeout(Duration::from_secs(1), c.throttle()).await.is_ok());
    }

    fn api(status: u16, message: &str) -> ClientError {
        ClientError::Api(crate::ApiError::new(status, "GET", "/x", message, Default::default()))
    }

    #[test]
    fn reads_and_idempotent_puts_retry_unexplained_500s_and_nothing_else_does() {
        let hiccup = api(500, "simulated failure (fault injection)");
        assert!(retryable(Endpoint::ClusterNextId, &hiccup), "a read");
        assert!(retryable(Endpoint::QemuConfigGet, &hiccup), "a read");
        assert!(retryable(Endpoint::QemuConfigPut, &hiccup), "setting values again converges");
        assert!(!retryable(Endpoint::QemuClone, &hiccup), "PVE may have cloned already");
        assert!(!retryable(Endpoint::QemuResize, &hiccup), "a relative resize would grow twice");
        let gone = api(500, "Configuration file 'nodes/pve/qemu-server/100.conf' does not exist");
        assert!(!retryable(Endpoint::QemuConfigGet, &gone), "a known answer is final");
        assert!(!retryable(Endpoint::QemuConfigGet, &api(400, "bad")), "4xx is final");
        assert!(retryable(Endpoint::QemuConfigGet, &api(503, "proxy")), "proxy errors as before");
        assert!(!retryable(Endpoint::QemuClone, &api(503, "proxy")), "a clone may have started");
    }
}
