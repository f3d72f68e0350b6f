//! The dashboard over HTTP, as a browser without script uses it: sign-in exchanges a token for
//! a strict session cookie; every page renders for every role; what a viewer sees has no
//! action controls; changes without the session's CSRF token, from another origin, or beyond
//! the role are refused; a bulk snapshot with a TTL is previewed, confirmed, followed and shown;
//! sign-out ends the session; all of it is audited.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use support::Api;

/// A browser: no redirects followed (the test checks them), one session cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

impl Browser {
    fn new(api: &Api) -> Browser {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser { http, base: api.url.clone(), cookie: None, csrf: None }
    }

    async fn signed_in(api: &Api, who: &str) -> Browser {
        let mut b = Browser::new(api);
        let p =
            b.post_raw("/login", &[("token", &api.tokens[who]), ("next", "/guests")], &[]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
        assert_eq!(p.location(), "/guests");
        let set = p.headers.get(SET_COOKIE).unwrap().to_str().unwrap().to_string();
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "__Host-"] {
            assert!(set.contains(part), "{set}");
        }
        b.cookie = Some(set.split(';').next().unwrap().to_string());
        let home = b.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        b.csrf = csrf_of(&home.body);
        assert!(b.csrf.is_some(), "every page carries the CSRF token (the sign-out form)");
        b
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        };
        let resp = req.send().await.unwrap();
        Page {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(fields);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// A form post as the dashboard's own pages send it.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone().unwrap();
        let mut all = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, &[]).await
    }
}

const PAGES: &[&str] = &[
    "/",
    "/guests",
    "/guests?q=web&sort=name&dir=desc",
    "/guests/pve/100",
    "/guests/pve/100?timeframe=week",
    "/tasks",
    "/tasks?running=1&part=1",
    "/operations",
    "/templates",
    "/backups",
    "/plans",
    "/jobs",
];
const ADMIN_PAGES: &[&str] = &["/notifications", "/audit", "/tokens"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_exchanges_a_token_for_a_strict_session_and_every_page_renders() {
    let api = Api::start(false).await;
    let anon = Browser::new(&api);
    let p = anon.get("/guests?q=web").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/login?next=%2Fguests%3Fq%3Dweb");
    assert_eq!(anon.get("/login").await.status, StatusCode::OK);
    let bad = anon.post_raw("/login", &[("token", "pxt_0123456789ab_nope")], &[]).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.body.contains("not valid"), "{}", bad.body);
    assert!(!bad.body.contains("pxt_0123456789ab_nope"), "the token is not echoed");

    let admin = Browser::signed_in(&api, "admin").await;
    for path in PAGES.iter().chain(ADMIN_PAGES) {
        let p = admin.get(path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.body);
        assert!(
            p.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'")
        );
        assert_eq!(p.headers["cache-control"], "no-store", "{path}");
    }
    let guests = admin.get("/guests?q=web").await.body;
    assert!(
        guests.contains("web-1") && guests.contains("web-2") && !guests.contains("db-1"),
        "{guests}"
    );
    let bad_selector = admin.get("/guests?q=(web").await;
    assert_eq!(bad_selector.status, StatusCode::OK, "a bad selector is explained on the page");
    assert!(bad_selector.body.contains("role=\"alert\""), "{}", bad_selector.body);
    assert_eq!(admin.get("/guests/pve/4242").await.status, StatusCode::NOT_FOUND);
    assert_eq!(admin.get("/jobs/no-such-job").await.status, StatusCode::NOT_FOUND);
    let restore = admin.post("/backups/pve/restore", &[("volid", "local:backup/x.vma.zst")]).await;
    assert_eq!(restore.status, StatusCode::OK, "restoring asks first");
    assert!(restore.body.contains("no existing guest is overwritten"), "{}", restore.body);
    let templates = admin.get("/templates").await.body;
    let entry =
        templates.split("name=\"entry\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let build = admin.post("/templates/pve/build", &[("entry", entry)]).await;
    assert_eq!(build.status, StatusCode::OK, "building asks first");
    assert!(build.body.contains(&format!("from the catalog image {entry}")), "{}", build.body);

    // Pages are gzip'd when the browser says it takes gzip (reqwest here does not decode it).
    let page = admin
        .send(admin.http.get(format!("{}/guests", api.url)).header("accept-encoding", "gzip"))
        .await;
    assert_eq!(page.headers["content-encoding"], "gzip");
    // Assets: hashed names, cached forever, gzip'd when asked.
    let css = guests.split("href=\"/assets/").nth(1).unwrap().split('"').next().unwrap();
    let a = admin
        .send(admin.http.get(format!("{}/assets/{css}", api.url)).header("accept-encoding", "gzip"))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-encoding"], "gzip");
    assert!(a.headers["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(admin.get("/assets/app.css").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_action_controls_and_its_forged_changes_are_refused() {
    let api = Api::start(false).await;
    let viewer = Browser::signed_in(&api, "viewer").await;
    for path in PAGES {
        let p = viewer.get(path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        let posts: Vec<&str> = p
            .body
            .match_indices("method=\"post\" action=\"")
            .map(|(i, _)| &p.body[i + 22..i + 40])
            .collect();
        assert!(
            posts.iter().all(|a| a.starts_with("/logout")),
            "{path}: a viewer sees forms {posts:?}"
        );
        assert!(!p.body.contains("type=\"checkbox\" name=\"guest\""), "{path}");
    }
    for path in ADMIN_PAGES {
        assert_eq!(viewer.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    // A forged change with a valid session and even the right CSRF token: the role says no.
    let p = viewer.post("/guests/pve/100/power", &[("action", "start")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("viewer role"), "{}", p.body);
    let p = viewer
        .post("/guests/bulk", &[("guest", "pve/100"), ("action", "start"), ("confirm", "yes")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let (_, g) = api.call(Some("viewer"), "GET", "/api/v1/remotes/pve/guests/100", None).await;
    assert_eq!(g["status"], "stopped", "nothing was started");

    // An operator's session, but the change comes without the token or from elsewhere.
    let op = Browser::signed_in(&api, "operator").await;
    let no_token = op.post_raw("/guests/pve/100/power", &[("action", "start")], &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.body.contains("CSRF"), "{}", no_token.body);
    let wrong = op
        .post_raw("/guests/pve/100/power", &[("_csrf", "forged"), ("action", "start")], &[])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let csrf = op.csrf.clone().unwrap();
    let cross = op
        .post_raw(
            "/guests/pve/100/power",
            &[("_csrf", &csrf), ("action", "start")],
            &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // The viewer's CSRF token does not work for the operator's session.
    let other = op
        .post_raw(
            "/guests/pve/100/power",
            &[("_csrf", viewer.csrf.as_deref().unwrap()), ("action", "start")],
            &[],
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let (_, g) = api.call(Some("viewer"), "GET", "/api/v1/remotes/pve/guests/100", None).await;
    assert_eq!(g["status"], "stopped", "nothing was started");
    // No session at all: a change is refused, not redirected.
    let anon = Browser::new(&api);
    let p = anon.post_raw("/guests/pve/100/power", &[("action", "start")], &[]).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_snapshot_with_a_ttl_is_previewed_confirmed_and_shown_on_the_guest() {
    let api = Api::start(false).await;
    let op = Browser::signed_in(&api, "operator").await;
    let fields = [
        ("guest", "pve/100"),
        ("guest", "pve/101"),
        ("action", "snapshot"),
        ("snapshot", "before-upgrade"),
        ("ttl", "4h"),
    ];
    let preview = op.post("/guests/bulk", &fields).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    for want in ["web-1", "web-2", "before-upgrade", "deleted after 4h", "2 guest(s)"] {
        assert!(preview.body.contains(want), "the preview names {want}: {}", preview.body);
    }
    assert!(!preview.body.contains("db-1"));
    let (_, snaps) =
        api.call(Some("viewer"), "GET", "/api/v1/remotes/pve/guests/100/snapshots", None).await;
    assert_eq!(snaps.as_array().unwrap().len(), 0, "a preview changes nothing");

    let mut confirmed = fields.to_vec();
    confirmed.push(("confirm", "yes"));
    let started = op.post("/guests/bulk", &confirmed).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let id = started.location().strip_prefix("/operations/").unwrap().to_string();
    let following = op.get(started.location()).await;
    assert_eq!(following.status, StatusCode::OK);
    assert!(following.body.contains("snapshot 2 guest(s)"), "{}", following.body);
    let done = api.finished("operator", &id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let part = op.get(&format!("/operations/{id}?part=1")).await;
    assert!(
        part.body.contains("data-state=\"succeeded\"") && !part.body.contains("hx-trigger"),
        "{}",
        part.body
    );

    let tasks = op.get("/tasks").await.body;
    assert!(tasks.contains("class=\"mark-ok\""), "the timeline marks the snapshot tasks: {tasks}");
    let guest = op.get("/guests/pve/101").await.body;
    assert!(guest.contains("before-upgrade"), "{guest}");
    assert!(guest.contains("in 3h 59m") || guest.contains("in 4h 0m"), "a TTL countdown: {guest}");
    let store = api.state.get().await.unwrap();
    assert_eq!(store.snapshot_ttls().await.unwrap().len(), 2, "the sweeper knows both expiries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_starts_at_once_stops_after_asking_and_signing_out_ends_the_session() {
    let api = Api::start(false).await;
    let op = Browser::signed_in(&api, "operator").await;
    let page = op.get("/guests/pve/200").await.body;
    assert!(
        page.contains("value=\"start\"") && !page.contains("value=\"stop\""),
        "a stopped guest offers start"
    );
    let started = op.post("/guests/pve/200/power", &[("action", "start")]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "starting interrupts nothing: no question");
    let id = started.location().strip_prefix("/operations/").unwrap();
    assert_eq!(api.finished("operator", id).await["state"], "succeeded");
    let page = op.get("/guests/pve/200").await.body;
    assert!(page.contains("value=\"stop\"") && page.contains("value=\"shutdown\""), "{page}");
    let ask = op.post("/guests/pve/200/power", &[("action", "stop")]).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.body.contains("stop guest 200 on remote pve"), "{}", ask.body);
    let (_, g) = api.call(Some("viewer"), "GET", "/api/v1/remotes/pve/guests/200", None).await;
    assert_eq!(g["status"], "running", "asking stops nothing");
    let done = op.post("/guests/pve/200/power", &[("action", "stop"), ("confirm", "yes")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let id = done.location().strip_prefix("/operations/").unwrap();
    assert_eq!(api.finished("operator", id).await["state"], "succeeded");
    let (_, g) = api.call(Some("viewer"), "GET", "/api/v1/remotes/pve/guests/200", None).await;
    assert_eq!(g["status"], "stopped");

    let out = op.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.headers[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let after = op.get("/").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the old cookie no longer works");
    let (_, audit) = api.call(Some("admin"), "GET", "/api/v1/audit?actor=operator", None).await;
    let actions: Vec<&str> =
        audit["rows"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"sign-in") && actions.contains(&"sign-out"), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_ends_its_dashboard_sessions() {
    let api = Api::start(false).await;
    let b = Browser::signed_in(&api, "operator").await;
    let store = api.state.get().await.unwrap();
    assert!(store.token_revoke("operator", jiff::Timestamp::now()).await.unwrap());
    // The token is re-read within seconds (the API's own cache); poll for the condition.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let p = b.get("/").await;
        if p.status == StatusCode::SEE_OTHER {
            assert!(p.location().starts_with("/login"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the session outlived its token");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_lists_drift_and_guests_without_backups_as_needing_attention() {
    let api = Api::start(false).await;
    let manifest = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: app-1}\nspec: {template: tpl, cores: 1}\n";
    api.apply_manifests(manifest).await;
    let admin = Browser::signed_in(&api, "admin").await;
    let before = admin.get("/").await.body;
    assert!(before.contains("without a recent backup"), "{before}");
    assert!(!before.contains("drifted"), "no drift check ran yet: {before}");
    // A drift check whose manifest says 2 cores finds the VM's 1 core as drift.
    let job = serde_json::json!({"name": "watch", "schedule": "hourly",
        "action": {"type": "drift-check", "manifests": manifest.replace("cores: 1", "cores: 2")}});
    let (s, made) = api.call(Some("admin"), "POST", "/api/v1/jobs", Some(job)).await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let (_, op) = api.call(Some("admin"), "POST", "/api/v1/jobs/watch/run", None).await;
    api.finished("admin", op["id"].as_str().unwrap()).await;
    let after = admin.get("/").await.body;
    assert!(after.contains("1 resource(s) drifted from their manifests (job watch)"), "{after}");
    let job = admin.get("/jobs/watch").await;
    assert_eq!(job.status, StatusCode::OK);
    assert!(job.body.contains("app-1"), "the run names what it found: {}", job.body);
    // A snapshot older than 30 days is listed, linked to its guest. It was made outside
    // proxctl, so the overview's snapshot scan (kept 5 minutes) finds it once a snapshot change
    // made through the server drops the scan: here another guest's snapshot.
    let now = jiff::Timestamp::now().as_second() as u64;
    assert!(api._sim.put_snapshot(101, "pre-upgrade", now - 50 * 86_400));
    let stale = admin.get("/").await.body;
    assert!(
        !stale.contains("pre-upgrade"),
        "the scan is kept: a page view does not read every snapshot again"
    );
    let (_, op) = api
        .call(
            Some("admin"),
            "POST",
            "/api/v1/remotes/pve/guests/100/snapshots",
            Some(serde_json::json!({"name": "fresh"})),
        )
        .await;
    api.finished("admin", op["id"].as_str().unwrap()).await;
    let later = admin.get("/").await.body;
    assert!(
        later.contains(
            r#"<a href="&#x2f;guests&#x2f;pve&#x2f;101">pve: snapshot pre-upgrade of web-2 (101) is 50 days old</a>"#
        ),
        "{later}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_guest_shows_how_it_differs_from_the_manifest_applied_to_it() {
    let api = Api::start(false).await;
    let manifest = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: app-1}\nspec: {template: tpl, cores: 1}\n";
    api.apply_manifests(manifest).await;
    let (_, list) =
        api.call(Some("viewer"), "GET", "/api/v1/guests?selector=name:app-1", None).await;
    let vmid = list["items"][0]["vmid"].as_u64().unwrap() as u32;
    let desired = format!("/api/v1/remotes/pve/guests/{vmid}/desired");

    // Just applied: in sync, over the API and on the page.
    let (s, d) = api.call(Some("viewer"), "GET", &desired, None).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(
        (d["managed"].as_bool(), d["difference"]["in_sync"].as_bool()),
        (Some(true), Some(true)),
        "{d}"
    );
    let viewer = Browser::signed_in(&api, "viewer").await;
    let page = viewer.get(&format!("/guests/pve/{vmid}")).await.body;
    assert!(
        page.contains("Desired versus actual")
            && page.contains("Matches VirtualMachine&#x2f;app-1"),
        "{page}"
    );

    // Changed behind proxctl's back, straight in PVE: the difference names the field.
    api._sim.with_world(|w| {
        w.guests.get_mut(&vmid).unwrap().conf.insert("cores".into(), "4".into());
    });
    let (_, d) = api.call(Some("viewer"), "GET", &desired, None).await;
    assert_eq!(d["difference"]["in_sync"], false, "{d}");
    assert_eq!(d["difference"]["action"], "update", "{d}");
    let diffs = d["difference"]["change"]["diffs"].as_array().unwrap();
    let cores = diffs.iter().find(|x| x["field"] == "cores").unwrap();
    assert_eq!((cores["from"].as_str(), cores["to"].as_str()), (Some("4"), Some("1")), "{d}");
    let page = viewer.get(&format!("/guests/pve/{vmid}")).await.body;
    assert!(page.contains("Differs from VirtualMachine&#x2f;app-1"), "{page}");
    assert!(page.contains("<td>cores</td><td>4</td><td>1</td>"), "{page}");

    // A guest no manifest manages says so and shows no comparison.
    let (_, d) =
        api.call(Some("viewer"), "GET", "/api/v1/remotes/pve/guests/100/desired", None).await;
    assert_eq!((d["managed"].as_bool(), d["difference"].is_null()), (Some(false), true), "{d}");
    let page = viewer.get("/guests/pve/100").await.body;
    assert!(!page.contains("Desired versus actual"), "{page}");
}
