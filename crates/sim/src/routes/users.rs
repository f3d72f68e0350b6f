//! Users, groups, roles, API tokens and ACLs (`/access/users`, `/access/groups`,
//! `/access/roles`, `/access/acl`): what is written reads back, with PVE's errors. The built-in
//! roles are listed with their privileges and cannot be changed; `root@pam` always exists.
//! Tokens made here authenticate (their secret is kept as a SHA-256), and what they may do is
//! checked against the ACLs (`crate::permissions`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::World;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Access {
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    #[serde(default)]
    pub groups: BTreeMap<String, Group>,
    /// Custom roles and their privileges (the built-ins are [`BUILT_IN`]).
    #[serde(default)]
    pub roles: BTreeMap<String, BTreeSet<String>>,
    #[serde(default)]
    pub acl: Vec<AclEntry>,
    /// Realms made through `/access/domains`, by name: their options (`type`, `server1`, ...).
    #[serde(default)]
    pub realms: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub enable: bool,
    pub expire: i64,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub email: Option<String>,
    pub comment: Option<String>,
    pub keys: Option<String>,
    pub groups: BTreeSet<String>,
    pub tokens: BTreeMap<String, Token>,
    /// Salted SHA-256 of the password set at creation or through `/access/password`
    /// (`passwords.rs`); never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_sha256: Option<String>,
}

impl Default for User {
    fn default() -> Self {
        User {
            enable: true,
            expire: 0,
            firstname: None,
            lastname: None,
            email: None,
            comment: None,
            keys: None,
            groups: BTreeSet::new(),
            tokens: BTreeMap::new(),
            password_sha256: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    pub comment: Option<String>,
    pub expire: i64,
    pub privsep: bool,
    /// SHA-256 (hex) of the secret shown at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sha256: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Group {
    pub comment: Option<String>,
}

/// One ACL entry: a role for a user, group or token on a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    pub path: String,
    /// `user`, `group` or `token`.
    pub kind: String,
    pub ugid: String,
    pub roleid: String,
    pub propagate: bool,
}

/// The privileges of PVE's built-in roles, in groups the roles share.
const VM_USER: &[&str] = &[
    "VM.Audit",
    "VM.Backup",
    "VM.Config.CDROM",
    "VM.Config.Cloudinit",
    "VM.Console",
    "VM.PowerMgmt",
];
const VM_ADMIN_MORE: &[&str] = &[
    "VM.Allocate",
    "VM.Clone",
    "VM.Config.CPU",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Migrate",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];
const DATASTORE_ADMIN: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
];
const USER_ADMIN: &[&str] = &["User.Modify", "Group.Allocate", "Realm.AllocateUser"];
const POOL_ADMIN: &[&str] = &["Pool.Allocate", "Pool.Audit"];
const SDN: &[&str] = &["SDN.Allocate", "SDN.Audit", "SDN.Use"];
const SYS_READ: &[&str] = &["Sys.Audit", "Sys.Console", "Sys.Syslog"];
const ADMIN_ONLY: &[&str] = &[
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Permissions.Modify",
    "Realm.Allocate",
    "Mapping.Audit",
    "Mapping.Modify",
    "Mapping.Use",
];
const AUDITOR: &[&str] =
    &["Sys.Audit", "Pool.Audit", "Datastore.Audit", "VM.Audit", "SDN.Audit", "Mapping.Audit"];

/// PVE's built-in roles, each as the groups of privileges it holds.
pub const BUILT_IN: &[(&str, &[&[&str]])] = &[
    (
        "Administrator",
        &[
            ADMIN_ONLY,
            SYS_READ,
            USER_ADMIN,
            POOL_ADMIN,
            DATASTORE_ADMIN,
            VM_USER,
            VM_ADMIN_MORE,
            SDN,
        ],
    ),
    ("NoAccess", &[]),
    ("PVEAdmin", &[SYS_READ, USER_ADMIN, POOL_ADMIN, DATASTORE_ADMIN, VM_USER, VM_ADMIN_MORE, SDN]),
    ("PVEAuditor", &[AUDITOR]),
    ("PVEDatastoreAdmin", &[DATASTORE_ADMIN]),
    ("PVEDatastoreUser", &[&["Datastore.AllocateSpace", "Datastore.Audit"]]),
    ("PVEPoolAdmin", &[POOL_ADMIN]),
    ("PVEPoolUser", &[&["Pool.Audit"]]),
    ("PVETemplateUser", &[&["VM.Audit", "VM.Clone"]]),
    ("PVEUserAdmin", &[USER_ADMIN]),
    ("PVEVMAdmin", &[VM_USER, VM_ADMIN_MORE]),
    ("PVEVMUser", &[VM_USER]),
];

/// A built-in role's privileges, sorted.
fn built_in(role: &str) -> Option<Vec<&'static str>> {
    let (_, groups) = BUILT_IN.iter().find(|(r, _)| *r == role)?;
    let set: BTreeSet<&'static str> = groups.iter().flat_map(|g| g.iter().copied()).collect();
    Some(set.into_iter().collect())
}

/// A role's privileges, built-in or custom (none for an unknown role).
pub fn role_privileges(access: &Access, role: &str) -> Vec<String> {
    match built_in(role) {
        Some(p) => p.into_iter().map(String::from).collect(),
        None => access.roles.get(role).map(|s| s.iter().cloned().collect()).unwrap_or_default(),
    }
}

/// The identity a token made through `/access` authenticates as (`user@realm!token`), if
/// `secret` is its secret and neither the user nor the token is disabled or expired.
pub fn token_identity(access: &Access, full_id: &str, secret: &str, now_s: i64) -> Option<String> {
    use sha2::Digest as _;
    let (user, tid) = full_id.split_once('!')?;
    let u = access.users.get(user)?;
    let t = u.tokens.get(tid)?;
    let live = |expire: i64| expire == 0 || expire > now_s;
    let hash = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    (u.enable
        && live(u.expire)
        && live(t.expire)
        && t.secret_sha256.as_deref() == Some(hash.as_str()))
    .then(|| full_id.to_string())
}

/// Every privilege PVE knows (what a custom role may hold).
fn known_privilege(p: &str) -> bool {
    built_in("Administrator").is_some_and(|all| all.contains(&p))
}

const REALMS: &[&str] = &["pam", "pve"];

/// `name@realm`, as PVE's `pve-userid` format wants it.
fn check_userid(ctx: &mut Ctx, key: &str, id: &str) {
    let ok = id.split_once('@').is_some_and(|(name, realm)| {
        !name.is_empty()
            && name.len() <= 60
            && !name.chars().any(|c| c.is_whitespace() || c == ':' || c == '/')
            && !realm.is_empty()
    });
    if !ok {
        ctx.p.invalid(key, format!("value '{id}' does not look like a valid user name\n"));
    }
}

fn valid_name(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn list_of(s: Option<String>) -> Vec<String> {
    s.iter()
        .flat_map(|v| v.split([',', ';', ' ']))
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

impl Access {
    /// `root@pam` always exists, as on every PVE node.
    fn user(&self, id: &str) -> Option<User> {
        match self.users.get(id) {
            Some(u) => Some(u.clone()),
            None if id == "root@pam" => Some(User::default()),
            None => None,
        }
    }

    fn user_ids(&self) -> BTreeSet<String> {
        let mut ids: BTreeSet<String> = self.users.keys().cloned().collect();
        ids.insert("root@pam".into());
        ids
    }

    fn role_exists(&self, id: &str) -> bool {
        built_in(id).is_some() || self.roles.contains_key(id)
    }
}

fn user_view(id: &str, u: &User, full: bool) -> Value {
    let mut m = Map::new();
    m.insert("userid".into(), json!(id));
    m.insert("enable".into(), json!(u.enable as u8));
    m.insert("expire".into(), json!(u.expire));
    for (k, v) in [
        ("firstname", &u.firstname),
        ("lastname", &u.lastname),
        ("email", &u.email),
        ("comment", &u.comment),
        ("keys", &u.keys),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if !u.groups.is_empty() {
        m.insert("groups".into(), json!(u.groups.iter().cloned().collect::<Vec<_>>().join(",")));
    }
    if full {
        let tokens: Vec<Value> = u.tokens.iter().map(|(t, tok)| token_view(t, tok)).collect();
        m.insert("tokens".into(), Value::Array(tokens));
    }
    m.insert("realm-type".into(), json!(id.rsplit('@').next().unwrap_or("pve")));
    Value::Object(m)
}

fn token_view(id: &str, t: &Token) -> Value {
    let mut m = Map::new();
    m.insert("tokenid".into(), json!(id));
    m.insert("expire".into(), json!(t.expire));
    m.insert("privsep".into(), json!(t.privsep as u8));
    if let Some(c) = &t.comment {
        m.insert("comment".into(), json!(c));
    }
    Value::Object(m)
}

fn no_user(id: &str) -> PveError {
    PveError::die(format!("no such user ('{id}')"))
}

/// `GET /access/users`.
pub fn users(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let enabled = ctx.p.opt_bool("enabled");
    let full = ctx.p.opt_bool("full").unwrap_or(false);
    ctx.p.finish()?;
    let rows: Vec<Value> = w
        .access
        .user_ids()
        .iter()
        .filter_map(|id| w.access.user(id).map(|u| (id.clone(), u)))
        .filter(|(_, u)| enabled.is_none_or(|e| u.enable == e))
        .map(|(id, u)| user_view(&id, &u, full))
        .collect();
    Ok(Reply::data(Value::Array(rows)))
}

/// `GET /access/users/{userid}`.
pub fn user(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let id = ctx.p.str("userid");
    ctx.p.finish()?;
    let u = w.access.user(&id).ok_or_else(|| no_user(&id))?;
    let mut v = user_view(&id, &u, false);
    if let Value::Object(m) = &mut v {
        m.remove("userid");
        m.insert("groups".into(), json!(u.groups.iter().collect::<Vec<_>>()));
        let tokens: Map<String, Value> = u
            .tokens
            .iter()
            .map(|(t, tok)| {
                let mut tv = token_view(t, tok);
                if let Value::Object(o) = &mut tv {
                    o.remove("tokenid");
                }
                (t.clone(), tv)
            })
            .collect();
        m.insert("tokens".into(), Value::Object(tokens));
    }
    Ok(Reply::data(v))
}

/// The fields `POST` and `PUT` share.
fn user_fields(ctx: &mut Ctx, u: &mut User) {
    for (k, slot) in [
        ("firstname", &mut u.firstname),
        ("lastname", &mut u.lastname),
        ("email", &mut u.email),
        ("comment", &mut u.comment),
        ("keys", &mut u.keys),
    ] {
        if let Some(v) = ctx.p.opt_str(k) {
            *slot = Some(v);
        }
    }
    if let Some(e) = ctx.p.opt_bool("enable") {
        u.enable = e;
    }
    if let Some(x) = ctx.p.opt_int("expire", Some(0), None) {
        u.expire = x;
    }
}

fn check_groups(w: &World, groups: &[String]) -> PveResult<()> {
    match groups.iter().find(|g| !w.access.groups.contains_key(*g)) {
        Some(g) => Err(PveError::die(format!("no such group '{g}'"))),
        None => Ok(()),
    }
}

/// `POST /access/users`.
pub fn user_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("userid");
    check_userid(ctx, "userid", &id);
    let groups = list_of(ctx.p.opt_str("groups"));
    let password = ctx.p.opt_str("password");
    let mut u = User::default();
    user_fields(ctx, &mut u);
    ctx.p.finish()?;
    let realm = id.rsplit('@').next().unwrap_or_default();
    if !REALMS.contains(&realm) && !w.access.realms.contains_key(realm) {
        return Err(PveError::die(format!("create user failed: domain '{realm}' does not exist")));
    }
    if w.access.user(&id).is_some() {
        return Err(PveError::die(format!("create user failed: user '{id}' already exists")));
    }
    if let Some(g) = groups.iter().find(|g| !w.access.groups.contains_key(*g)) {
        return Err(PveError::die(format!("create user failed: no such group '{g}'")));
    }
    u.groups = groups.into_iter().collect();
    u.password_sha256 = password.map(|p| super::passwords::hash(&id, &p));
    w.access.users.insert(id, u);
    Ok(Reply::null())
}

/// `PUT /access/users/{userid}`: fields, and groups (replaced, or added with `append`).
pub fn user_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("userid");
    let groups = ctx.p.opt_str("groups").map(|g| list_of(Some(g)));
    let append = ctx.p.opt_bool("append").unwrap_or(false);
    let mut u = w.access.user(&id).unwrap_or_default();
    user_fields(ctx, &mut u);
    ctx.p.finish()?;
    if w.access.user(&id).is_none() {
        return Err(PveError::die(format!("update user failed: no such user ('{id}')")));
    }
    if append && groups.is_none() {
        return Err(PveError::param("append", "parameter 'append' requires 'groups'"));
    }
    if let Some(groups) = groups {
        check_groups(w, &groups)?;
        if !append {
            u.groups.clear();
        }
        u.groups.extend(groups);
    }
    w.access.users.insert(id, u);
    Ok(Reply::null())
}

/// `DELETE /access/users/{userid}`: the user, its tokens and its ACL entries.
pub fn user_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("userid");
    ctx.p.finish()?;
    if id == "root@pam" || w.access.users.remove(&id).is_none() {
        let why = if id == "root@pam" { "cannot delete user root@pam" } else { "no such user" };
        return Err(PveError::die(format!("delete user failed: {why} ('{id}')")));
    }
    let token_prefix = format!("{id}!");
    w.access.acl.retain(|e| e.ugid != id && !e.ugid.starts_with(&token_prefix));
    Ok(Reply::null())
}

/// `GET /access/groups`.
pub fn groups(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let rows: Vec<Value> = w
        .access
        .groups
        .iter()
        .map(|(id, g)| {
            let members = members_of(w, id).join(",");
            let mut v = json!({"groupid": id, "users": members});
            if let (Some(c), Value::Object(m)) = (&g.comment, &mut v) {
                m.insert("comment".into(), json!(c));
            }
            v
        })
        .collect();
    Ok(Reply::data(Value::Array(rows)))
}

fn members_of(w: &World, group: &str) -> Vec<String> {
    w.access
        .users
        .iter()
        .filter(|(_, u)| u.groups.contains(group))
        .map(|(id, _)| id.clone())
        .collect()
}

/// `GET /access/groups/{groupid}`.
pub fn group(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let id = ctx.p.str("groupid");
    ctx.p.finish()?;
    let g = w
        .access
        .groups
        .get(&id)
        .ok_or_else(|| PveError::die(format!("group '{id}' does not exist")))?;
    let mut v = json!({"members": members_of(w, &id)});
    if let (Some(c), Value::Object(m)) = (&g.comment, &mut v) {
        m.insert("comment".into(), json!(c));
    }
    Ok(Reply::data(v))
}

/// `POST /access/groups`.
pub fn group_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("groupid");
    let comment = ctx.p.opt_str("comment");
    if !valid_name(&id) {
        ctx.p.invalid(
            "groupid",
            format!("invalid format - value '{id}' does not look like a valid group name\n"),
        );
    }
    ctx.p.finish()?;
    if w.access.groups.contains_key(&id) {
        return Err(PveError::die(format!("create group failed: group '{id}' already exists")));
    }
    w.access.groups.insert(id, Group { comment });
    Ok(Reply::null())
}

/// `PUT /access/groups/{groupid}`.
pub fn group_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("groupid");
    let comment = ctx.p.opt_str("comment");
    ctx.p.finish()?;
    let g = w.access.groups.get_mut(&id).ok_or_else(|| {
        PveError::die(format!("update group failed: group '{id}' does not exist"))
    })?;
    if comment.is_some() {
        g.comment = comment;
    }
    Ok(Reply::null())
}

/// `DELETE /access/groups/{groupid}`: members lose it, its ACL entries go.
pub fn group_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("groupid");
    ctx.p.finish()?;
    if w.access.groups.remove(&id).is_none() {
        return Err(PveError::die(format!("delete group failed: group '{id}' does not exist")));
    }
    for u in w.access.users.values_mut() {
        u.groups.remove(&id);
    }
    w.access.acl.retain(|e| !(e.kind == "group" && e.ugid == id));
    Ok(Reply::null())
}

/// `GET /access/roles`.
pub fn roles(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let mut rows: Vec<Value> = BUILT_IN
        .iter()
        .map(|(r, _)| {
            let privs = built_in(r).unwrap_or_default().join(",");
            json!({"roleid": r, "privs": privs, "special": 1})
        })
        .collect();
    rows.extend(w.access.roles.iter().map(|(r, p)| {
        json!({"roleid": r, "privs": p.iter().cloned().collect::<Vec<_>>().join(","), "special": 0})
    }));
    Ok(Reply::data(Value::Array(rows)))
}

/// `GET /access/roles/{roleid}`: its privileges, each as a key.
pub fn role(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let id = ctx.p.str("roleid");
    ctx.p.finish()?;
    let privs: Vec<String> = match (built_in(&id), w.access.roles.get(&id)) {
        (Some(p), _) => p.iter().map(|s| s.to_string()).collect(),
        (None, Some(p)) => p.iter().cloned().collect(),
        (None, None) => return Err(PveError::die(format!("role '{id}' does not exist"))),
    };
    let m: Map<String, Value> = privs.into_iter().map(|p| (p, json!(1))).collect();
    Ok(Reply::data(Value::Object(m)))
}

fn privileges(ctx: &mut Ctx) -> BTreeSet<String> {
    let privs = list_of(ctx.p.opt_str("privs"));
    if let Some(bad) = privs.iter().find(|p| !known_privilege(p)) {
        ctx.p.invalid("privs", format!("invalid privilege '{bad}'\n"));
    }
    privs.into_iter().collect()
}

/// `POST /access/roles`.
pub fn role_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("roleid");
    let privs = privileges(ctx);
    if !valid_name(&id) {
        ctx.p.invalid(
            "roleid",
            format!("invalid format - value '{id}' does not look like a valid role name\n"),
        );
    }
    ctx.p.finish()?;
    if w.access.role_exists(&id) {
        return Err(PveError::die(format!("create role failed: role '{id}' already exists")));
    }
    w.access.roles.insert(id, privs);
    Ok(Reply::null())
}

/// `PUT /access/roles/{roleid}`: privileges replaced, or added with `append`.
pub fn role_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("roleid");
    let privs = privileges(ctx);
    let append = ctx.p.opt_bool("append").unwrap_or(false);
    ctx.p.finish()?;
    if built_in(&id).is_some() {
        return Err(PveError::die(format!(
            "update role failed: cannot modify built-in role '{id}'"
        )));
    }
    let r =
        w.access.roles.get_mut(&id).ok_or_else(|| {
            PveError::die(format!("update role failed: role '{id}' does not exist"))
        })?;
    if !append {
        r.clear();
    }
    r.extend(privs);
    Ok(Reply::null())
}

/// `DELETE /access/roles/{roleid}`: not a built-in one; its ACL entries go.
pub fn role_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("roleid");
    ctx.p.finish()?;
    if built_in(&id).is_some() {
        return Err(PveError::die(format!("cannot delete role '{id}' - built-in role")));
    }
    if w.access.roles.remove(&id).is_none() {
        return Err(PveError::die(format!("delete role failed: role '{id}' does not exist")));
    }
    w.access.acl.retain(|e| e.roleid != id);
    Ok(Reply::null())
}

/// `GET /access/acl`.
pub fn acl(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let rows: Vec<Value> = w
        .access
        .acl
        .iter()
        .map(|e| {
            json!({"path": e.path, "type": e.kind, "ugid": e.ugid, "roleid": e.roleid,
                "propagate": e.propagate as u8})
        })
        .collect();
    Ok(Reply::data(Value::Array(rows)))
}

/// `PUT /access/acl`: give (or with `delete`, take) roles on a path to users, groups and tokens.
pub fn acl_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let path = ctx.p.str("path");
    let roles = list_of(ctx.p.opt_str("roles"));
    let users = list_of(ctx.p.opt_str("users"));
    let groups = list_of(ctx.p.opt_str("groups"));
    let tokens = list_of(ctx.p.opt_str("tokens"));
    let propagate = ctx.p.opt_bool("propagate").unwrap_or(true);
    let delete = ctx.p.opt_bool("delete").unwrap_or(false);
    if !path.starts_with('/') {
        ctx.p.invalid("path", format!("invalid ACL path '{path}'\n"));
    }
    ctx.p.finish()?;
    if users.is_empty() && groups.is_empty() && tokens.is_empty() {
        return Err(PveError::die("either 'users', 'groups' or 'tokens' is required"));
    }
    if roles.is_empty() {
        return Err(PveError::param("roles", "property is missing and it is not optional"));
    }
    for r in &roles {
        if !w.access.role_exists(r) {
            return Err(PveError::die(format!("role '{r}' does not exist")));
        }
    }
    let mut subjects: Vec<(&str, String)> = Vec::new();
    for u in users {
        if !delete && w.access.user(&u).is_none() {
            return Err(PveError::die(format!("user '{u}' does not exist")));
        }
        subjects.push(("user", u));
    }
    for g in groups {
        if !delete && !w.access.groups.contains_key(&g) {
            return Err(PveError::die(format!("group '{g}' does not exist")));
        }
        subjects.push(("group", g));
    }
    for t in tokens {
        let known = t.split_once('!').is_some_and(|(u, id)| {
            w.access.user(u).is_some_and(|user| user.tokens.contains_key(id))
        });
        if !delete && !known {
            return Err(PveError::die(format!("no such token '{t}'")));
        }
        subjects.push(("token", t));
    }
    for (kind, ugid) in subjects {
        for roleid in &roles {
            w.access.acl.retain(|e| {
                !(e.path == path && e.kind == kind && e.ugid == ugid && e.roleid == *roleid)
            });
            if !delete {
                w.access.acl.push(AclEntry {
                    path: path.clone(),
                    kind: kind.to_string(),
                    ugid: ugid.clone(),
                    roleid: roleid.clone(),
                    propagate,
                });
            }
        }
    }
    Ok(Reply::null())
}

/// `GET /access/users/{userid}/token`.
pub fn tokens(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let id = ctx.p.str("userid");
    ctx.p.finish()?;
    let u = w.access.user(&id).ok_or_else(|| no_user(&id))?;
    Ok(Reply::data(Value::Array(u.tokens.iter().map(|(t, tok)| token_view(t, tok)).collect())))
}

/// `GET /access/users/{userid}/token/{tokenid}`.
pub fn token(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let id = ctx.p.str("userid");
    let tid = ctx.p.str("tokenid");
    ctx.p.finish()?;
    let u = w.access.user(&id).ok_or_else(|| no_user(&id))?;
    let t = u
        .tokens
        .get(&tid)
        .ok_or_else(|| PveError::die(format!("no such token '{tid}' for user '{id}'")))?;
    let mut v = token_view(&tid, t);
    if let Value::Object(m) = &mut v {
        m.remove("tokenid");
    }
    Ok(Reply::data(v))
}

fn token_fields(ctx: &mut Ctx, t: &mut Token) {
    if let Some(c) = ctx.p.opt_str("comment") {
        t.comment = Some(c);
    }
    if let Some(x) = ctx.p.opt_int("expire", Some(0), None) {
        t.expire = x;
    }
    if let Some(p) = ctx.p.opt_bool("privsep") {
        t.privsep = p;
    }
}

/// `POST /access/users/{userid}/token/{tokenid}`: the secret is shown this once.
pub fn token_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("userid");
    let tid = ctx.p.str("tokenid");
    let mut t = Token { comment: None, expire: 0, privsep: true, secret_sha256: None };
    token_fields(ctx, &mut t);
    if !valid_name(&tid) {
        ctx.p.invalid(
            "tokenid",
            format!("invalid format - value '{tid}' does not look like a valid token ID\n"),
        );
    }
    ctx.p.finish()?;
    let mut u = w.access.user(&id).ok_or_else(|| no_user(&id))?;
    if u.tokens.contains_key(&tid) {
        return Err(PveError::die("Token already exists."));
    }
    let value = w.random_uuid();
    {
        use sha2::Digest as _;
        t.secret_sha256 = Some(hex::encode(sha2::Sha256::digest(value.as_bytes())));
    }
    let info = token_view(&tid, &t);
    u.tokens.insert(tid.clone(), t);
    w.access.users.insert(id.clone(), u);
    Ok(Reply::data(json!({"full-tokenid": format!("{id}!{tid}"), "info": info, "value": value})))
}

/// `PUT /access/users/{userid}/token/{tokenid}`.
pub fn token_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("userid");
    let tid = ctx.p.str("tokenid");
    let mut u = w.access.user(&id).ok_or_else(|| no_user(&id))?;
    let mut t = u.tokens.get(&tid).cloned().unwrap_or(Token {
        comment: None,
        expire: 0,
        privsep: true,
        secret_sha256: None,
    });
    token_fields(ctx, &mut t);
    ctx.p.finish()?;
    if !u.tokens.contains_key(&tid) {
        return Err(PveError::die(format!("no such token '{tid}' for user '{id}'")));
    }
    let info = token_view(&tid, &t);
    u.tokens.insert(tid, t);
    w.access.users.insert(id, u);
    Ok(Reply::data(info))
}

/// `DELETE /access/users/{userid}/token/{tokenid}`: with its ACL entries.
pub fn token_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("userid");
    let tid = ctx.p.str("tokenid");
    ctx.p.finish()?;
    let mut u = w.access.user(&id).ok_or_else(|| no_user(&id))?;
    if u.tokens.remove(&tid).is_none() {
        return Err(PveError::die(format!("no such token '{tid}' for user '{id}'")));
    }
    w.access.users.insert(id.clone(), u);
    let full = format!("{id}!{tid}");
    w.access.acl.retain(|e| e.ugid != full);
    Ok(Reply::null())
}
