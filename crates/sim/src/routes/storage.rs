//! Storage (§7) and vzdump (§8): storage lists and status, content listing, notes and
//! protection, deletion, multipart upload with checksum verification, download-url, and backups.

use flate2::read::GzDecoder;
use proxctl_types::VmId;
use proxctl_types::api::{ContentItem, StorageStatus};
use proxctl_types::messages::GuestKind;
use serde_json::{Value, json};
use sha2::Digest;

use super::common::{find_volume, insert_volume, node, remove_volume, user};
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::{StorageDef, World};
use crate::task::Plan;

fn storage_def(w: &World, id: &str) -> PveResult<StorageDef> {
    w.storages
        .get(id)
        .cloned()
        .ok_or_else(|| PveError::die(format!("storage '{id}' does not exist")))
}

fn used_on(w: &World, def: &StorageDef, node: &str) -> u64 {
    let scope = def.scope(node);
    w.volumes
        .iter()
        .filter(|((s, _), v)| *s == scope && v.storage == def.id)
        .map(|(_, v)| v.size)
        .sum()
}

fn status_of(w: &World, def: &StorageDef, node: &str) -> StorageStatus {
    let used = used_on(w, def, node);
    StorageStatus {
        storage: def.id.clone(),
        storage_type: def.storage_type.clone(),
        content: def.content.join(","),
        shared: def.shared,
        enabled: !def.disabled(),
        active: !def.disabled(),
        total: def.total,
        used,
        avail: def.total.saturating_sub(used),
        used_fraction: Some(used as f64 / def.total.max(1) as f64),
    }
}

pub fn list(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let content = ctx.p.opt_str("content");
    let _enabled = ctx.p.opt_bool("enabled");
    let _format = ctx.p.opt_bool("format");
    let only = ctx.p.opt_str("storage");
    let _target = ctx.p.opt_str("target");
    ctx.p.finish()?;
    if let Some(s) = &only
        && !w.storages.contains_key(s)
    {
        return Err(PveError::param("storage", "No such storage."));
    }
    let wanted: Vec<String> =
        content.map(|c| c.split([',', ';', ' ']).map(String::from).collect()).unwrap_or_default();
    let out: Vec<StorageStatus> = w
        .storages
        .values()
        .filter(|d| only.as_ref().is_none_or(|o| *o == d.id))
        .filter(|d| d.on_node(&n))
        .filter(|d| wanted.is_empty() || wanted.iter().any(|c| d.supports(c)))
        .map(|d| status_of(w, d, &n))
        .collect();
    Ok(Reply::json(&out))
}

pub fn status(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let s = ctx.p.str("storage");
    ctx.p.finish()?;
    let def = storage_def(w, &s)?;
    let st = status_of(w, &def, &n);
    let mut v = serde_json::to_value(&st).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("storage");
    }
    Ok(Reply::data(v))
}

fn content_item(v: &crate::state::Volume) -> ContentItem {
    ContentItem {
        volid: v.volid.clone(),
        content: v.content.clone(),
        format: v.format.clone(),
        size: v.size,
        ctime: Some(v.ctime),
        vmid: v.vmid.and_then(|id| VmId::new(id).ok()),
        parent: v.parent.clone(),
        used: (v.content == "images" || v.content == "rootdir").then_some(v.size / 10),
        notes: v.notes.as_ref().map(|n| n.lines().next().unwrap_or("").to_string()),
        protected: v.protected.then_some(true),
        subtype: (v.content == "backup")
            .then(|| if v.volid.contains("vzdump-lxc") { "lxc" } else { "qemu" }.to_string()),
        verification: None,
    }
}

pub fn content(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let s = ctx.p.str("storage");
    let content = ctx.p.opt_str("content");
    let vmid = ctx.p.opt_vmid("vmid");
    ctx.p.finish()?;
    let def = storage_def(w, &s)?;
    let scope = def.scope(&n);
    let out: Vec<ContentItem> = w
        .volumes
        .iter()
        .filter(|((sc, _), v)| *sc == scope && v.storage == s)
        .filter(|(_, v)| content.as_ref().is_none_or(|c| *c == v.content))
        .filter(|(_, v)| vmid.is_none_or(|id| v.vmid == Some(id.get())))
        .map(|(_, v)| content_item(v))
        .collect();
    Ok(Reply::json(&out))
}

fn volume_param(ctx: &mut Ctx) -> String {
    let storage = ctx.p.opt_str("storage");
    let v = ctx.p.str("volume");
    // The volume may be given without its storage prefix when the path names the storage.
    match storage {
        Some(s) if !v.contains(':') => format!("{s}:{v}"),
        _ => v,
    }
}

pub fn content_get(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let volid = volume_param(ctx);
    ctx.p.finish()?;
    let v = find_volume(w, &n, &volid)
        .ok_or_else(|| PveError::die(format!("volume '{volid}' does not exist")))?;
    Ok(Reply::data(json!({
        "path": format!("/var/lib/vz/{}", v.volname()),
        "size": v.size,
        "used": v.size,
        "format": v.format,
        "notes": v.notes,
        "protected": u8::from(v.protected),
    })))
}

pub fn content_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let volid = volume_param(ctx);
    let notes = ctx.p.opt_str("notes");
    let protected = ctx.p.opt_bool("protected");
    ctx.p.finish()?;
    let scope_key = w
        .volumes
        .keys()
        .find(|(s, v)| (*s == n || s.is_empty()) && *v == volid)
        .cloned()
        .ok_or_else(|| PveError::die(format!("volume '{volid}' does not exist")))?;
    let def = storage_def(w, volid.split(':').next().unwrap_or(""))?;
    if !def.is_file_based() {
        return Err(PveError::die(format!(
            "notes and protection are not supported on storage type '{}'",
            def.storage_type
        )));
    }
    if let Some(v) = w.volumes.get_mut(&scope_key) {
        if let Some(nt) = notes {
            v.notes = if nt.is_empty() { None } else { Some(nt) };
        }
        if let Some(p) = protected {
            v.protected = p;
        }
    }
    Ok(Reply::null())
}

pub fn content_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let volid = volume_param(ctx);
    let delay = ctx.p.opt_int("delay", Some(1), Some(30));
    ctx.p.finish()?;
    let v = find_volume(w, &n, &volid)
        .cloned()
        .ok_or_else(|| PveError::die(format!("volume '{volid}' does not exist")))?;
    let id = match v.vmid {
        Some(vm) => format!("{vm}@{}", v.storage),
        None => v.storage.clone(),
    };
    let nn = n.clone();
    let vol = volid.clone();
    let plan = Plan::new().sleep(300).act(move |w, _| {
        let v = find_volume(w, &nn, &vol)
            .cloned()
            .ok_or_else(|| format!("volume '{vol}' does not exist"))?;
        if v.protected {
            return Err(format!(
                "cannot remove protected archive '/var/lib/vz/dump/{}'",
                v.volname().trim_start_matches("backup/")
            ));
        }
        if w.volumes.values().any(|x| x.parent.as_deref() == Some(vol.as_str())) {
            return Err(format!("base volume '{}' is still in use by linked clones", v.volname()));
        }
        remove_volume(w, &nn, &vol);
        Ok(())
    });
    let who = user(ctx);
    let upid = w.spawn(&n, "imgdel", &id, &who, plan);
    if delay.is_some() {
        let t = w.now + 300;
        w.advance_to(t);
        if let Some(t) = w.task_by_upid(&upid.to_string())
            && let Some(e) = t.exitstatus()
        {
            return if e == "OK" { Ok(Reply::null()) } else { Err(PveError::die(e.to_string())) };
        }
    }
    Ok(Reply::data(upid.to_string()))
}

/// PVE's file-name normalisation: strip any path, map characters outside `[a-zA-Z0-9_.-]` to `_`.
fn normalize_filename(f: &str) -> String {
    let base = f.rsplit(['/', '\\']).next().unwrap_or(f);
    base.chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' })
        .collect()
}

fn extension_ok(content: &str, name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    match content {
        "iso" => l.ends_with(".iso") || l.ends_with(".img"),
        "vztmpl" => [".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.bz2"]
            .iter()
            .any(|e| l.ends_with(e)),
        "import" => {
            [".ova", ".ovf", ".qcow2", ".raw", ".vmdk", ".img"].iter().any(|e| l.ends_with(e))
        }
        _ => false,
    }
}

fn digest_hex(alg: &str, data: &[u8]) -> Option<String> {
    Some(match alg {
        "sha256" => hex::encode(sha2::Sha256::digest(data)),
        "sha512" => hex::encode(sha2::Sha512::digest(data)),
        "sha384" => hex::encode(sha2::Sha384::digest(data)),
        "sha224" => hex::encode(sha2::Sha224::digest(data)),
        "sha1" => hex::encode(sha1::Sha1::digest(data)),
        _ => return None,
    })
}

const CHECKSUM_ALGS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// The parameters upload and download-url share.
struct Transfer {
    storage: String,
    content: String,
    filename: String,
    /// (algorithm, expected hex digest).
    checksum: Option<(String, String)>,
}

/// Shared parameter checks of upload and download-url.
fn transfer_checks(ctx: &mut Ctx, download: bool) -> Transfer {
    let storage = ctx.p.str("storage");
    let content = ctx.p.opt_enum("content", &["iso", "vztmpl", "import"]);
    if !ctx.p.has("content") {
        ctx.p.invalid("content", proxctl_types::messages::MISSING_PARAM);
    }
    let filename = if download {
        ctx.p.str("filename")
    } else {
        ctx.p.opt_str("filename").unwrap_or_default()
    };
    let alg = ctx.p.opt_enum("checksum-algorithm", CHECKSUM_ALGS);
    let sum = ctx.p.opt_str("checksum");
    match (&alg, &sum) {
        (Some(_), None) => {
            ctx.p.invalid("checksum", "missing property required by 'checksum-algorithm'")
        }
        (None, Some(_)) => {
            ctx.p.invalid("checksum-algorithm", "missing property required by 'checksum'")
        }
        _ => {}
    }
    if ctx.p.has("tmpfilename") {
        ctx.p.invalid("tmpfilename", proxctl_types::messages::UNKNOWN_PARAM);
    }
    Transfer { storage, content: content.unwrap_or_default(), filename, checksum: alg.zip(sum) }
}

pub fn upload(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let Transfer { storage, content, checksum, .. } = transfer_checks(ctx, false);
    ctx.p.finish()?;
    let def = storage_def(w, &storage)?;
    let Some((raw_name, data)) = ctx.file.clone() else {
        return Err(PveError::param("filename", proxctl_types::messages::MISSING_PARAM));
    };
    let filename = normalize_filename(&raw_name);
    if !def.is_file_based() {
        return Err(PveError::param(
            "filename",
            format!("can't upload to storage type '{}'", def.storage_type),
        ));
    }
    if !def.supports(&content) {
        return Err(PveError::param(
            "filename",
            format!("storage '{}' does not support '{content}' content", def.id),
        ));
    }
    if !extension_ok(&content, &filename) {
        let msg = if content == "import" {
            "invalid filename or wrong extension"
        } else {
            "wrong file extension"
        };
        return Err(PveError::param("filename", msg));
    }
    let tmp = format!("/var/tmp/pveupload-{}", w.random_hex(16));
    let size = data.len() as u64;
    let sha = hex::encode(sha2::Sha256::digest(&data));
    let volid = format!("{}:{content}/{filename}", def.id);
    let scope = def.scope(&n);
    let mut plan = Plan::new().log(format!("starting file import from: {tmp}"));
    if let Some((alg, want)) = checksum {
        let got = digest_hex(&alg, &data).unwrap_or_else(|| want.clone());
        if got.eq_ignore_ascii_case(&want) {
            plan = plan.log("calculating checksum...OK, checksum verified");
        } else {
            plan = plan
                .act(move |_, _| Err(format!("checksum mismatch: got '{got}' != expect '{want}'")));
        }
    }
    let target = format!("{}/{content}/{filename}", def.path.clone().unwrap_or_default());
    plan = plan
        .log(format!("target node: {n}"))
        .log(format!("target file: {target}"))
        .log(format!("file size is: {size}"))
        .log(format!("command: cp -- {tmp} {target}"))
        .sleep(500)
        .act(move |w, _| {
            // An existing file is silently overwritten.
            let fmt = filename.rsplit('.').next().unwrap_or("raw").to_string();
            insert_volume(w, &scope, &volid, &def.id, &content, &fmt, size, None);
            if let Some(v) = w.volumes.get_mut(&(scope.clone(), volid.clone())) {
                v.sha256 = Some(sha.clone());
            }
            Ok(())
        })
        .log("finished file import successfully");
    let who = user(ctx);
    let upid = w.spawn(&n, "imgcopy", "", &who, plan);
    Ok(Reply::data(upid.to_string()))
}

pub fn download_url(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let url = ctx.p.str("url");
    let compression = ctx.p.opt_enum("compression", &["gz", "lzo", "zst", "bz2"]);
    let _verify = ctx.p.opt_bool("verify-certificates");
    let Transfer { storage, content, filename, checksum } = transfer_checks(ctx, true);
    let http = url.starts_with("http://") || url.starts_with("https://");
    if !url.is_empty() && !http {
        ctx.p.invalid("url", "value does not match the regex pattern");
    }
    ctx.p.finish()?;
    let def = storage_def(w, &storage)?;
    if !def.is_file_based() {
        return Err(PveError::die(format!(
            "can't upload to storage type '{}', not a file based storage!",
            def.storage_type
        )));
    }
    if !def.supports(&content) {
        return Err(PveError::die(format!(
            "storage '{}' is not configured for content-type '{content}'",
            def.id
        )));
    }
    let filename = normalize_filename(&filename);
    if !extension_ok(&content, &filename) {
        return Err(PveError::param("filename", "wrong file extension"));
    }
    let volid = format!("{}:{content}/{filename}", def.id);
    let path = format!("{}/{content}/{filename}", def.path.clone().unwrap_or_default());
    let scope = def.scope(&n);
    let fetched = ctx.fetched.clone().unwrap_or_else(|| Err("download not attempted".into()));
    let existing = find_volume(w, &n, &volid).cloned();
    let mut plan = Plan::new().log(format!("downloading {url} to {path}"));
    let id = percent_encoding::utf8_percent_encode(&filename, &FILENAME_ESCAPE).to_string();
    if let Some(ex) = existing {
        match &checksum {
            Some((alg, want))
                if alg == "sha256"
                    && ex.sha256.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(want)) =>
            {
                plan = plan.log("OK, got correct file already, no need to download");
                let who = user(ctx);
                let upid = w.spawn(&n, "download", &id, &who, plan);
                return Ok(Reply::data(upid.to_string()));
            }
            Some((_, want)) => {
                let got = ex.sha256.clone().unwrap_or_default();
                let want = want.clone();
                plan = plan.act(move |_, _| {
                    Err(format!("checksum mismatch: got '{got}' != expect '{want}', aborting"))
                });
            }
            None => {
                let p = path.clone();
                plan =
                    plan.act(move |_, _| Err(format!("refusing to override existing file '{p}'")));
            }
        }
    }
    match fetched {
        Err(e) => plan = plan.sleep(500).act(move |_, _| Err(e)),
        Ok(bytes) => {
            let ms = (bytes.len() as u64).saturating_mul(1000) / w.bandwidth.max(1);
            let data = match compression.as_deref() {
                Some("gz") => {
                    let mut out = Vec::new();
                    match std::io::Read::read_to_end(
                        &mut GzDecoder::new(bytes.as_slice()),
                        &mut out,
                    ) {
                        Ok(_) => Ok(out),
                        Err(e) => Err(format!("decompression failed: {e}")),
                    }
                }
                Some(other) => Err(format!("compression '{other}' is not simulated")),
                None => Ok(bytes.clone()),
            };
            // The checksum covers the downloaded file, before decompression.
            if let Some((alg, want)) = checksum {
                let got = digest_hex(&alg, &bytes).unwrap_or_else(|| want.clone());
                if !got.eq_ignore_ascii_case(&want) {
                    plan = plan.sleep(ms).act(move |_, _| {
                        Err(format!("checksum mismatch: got '{got}' != expect '{want}'"))
                    });
                }
            }
            let tmp = format!("{path}.tmp_dwnl.{}", w.next_pid);
            plan =
                plan.sleep(ms).log(format!("download finished: {} bytes into {tmp}", bytes.len()));
            let u = url.clone();
            plan = plan.act(move |w, task| {
                let data = data?;
                let fmt = filename.rsplit('.').next().unwrap_or("raw").to_string();
                insert_volume(w, &scope, &volid, &def.id, &content, &fmt, data.len() as u64, None);
                if let Some(v) = w.volumes.get_mut(&(scope.clone(), volid.clone())) {
                    v.sha256 = Some(hex::encode(sha2::Sha256::digest(&data)));
                }
                w.task_log(task, format!("download of '{u}' to '{path}' finished"));
                Ok(())
            });
        }
    }
    let who = user(ctx);
    let upid = w.spawn(&n, "download", &id, &who, plan);
    Ok(Reply::data(upid.to_string()))
}

const FILENAME_ESCAPE: percent_encoding::AsciiSet = percent_encoding::CONTROLS.add(b':').add(b'%');

/// `POST /nodes/{node}/vzdump`: one archive per selected local guest, or `"OK"` when none of
/// them is on this node.
pub fn vzdump(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let vmids = ctx.p.opt_str("vmid").unwrap_or_default();
    let all = ctx.p.flag("all");
    let storage = ctx.p.opt_str("storage").unwrap_or_else(|| "local".into());
    let mode = ctx
        .p
        .opt_enum("mode", &["snapshot", "suspend", "stop"])
        .unwrap_or_else(|| "snapshot".into());
    let compress = ctx
        .p
        .opt_enum("compress", &["0", "1", "gzip", "lzo", "zstd"])
        .unwrap_or_else(|| "0".into());
    let notes_tpl = ctx.p.opt_str("notes-template");
    let protected = ctx.p.flag("protected");
    let _remove = ctx.p.opt_bool("remove");
    let _prune = ctx.p.opt_str("prune-backups");
    if ctx.p.opt_bool("stdout").is_some() {
        ctx.p.invalid("stdout", "option 'stdout' is only available on the command line");
    }
    for k in [
        "exclude",
        "pool",
        "bwlimit",
        "ionice",
        "lockwait",
        "stopwait",
        "mailto",
        "mailnotification",
        "notification-mode",
        "fleecing",
        "performance",
        "pbs-change-detection-mode",
        "script",
        "tmpdir",
        "stdexcludes",
        "quiet",
        "stop",
        "zstd",
        "pigz",
        "dumpdir",
        "maxfiles",
        "job-id",
    ] {
        let _ = ctx.p.opt_str(k);
    }
    let _ = ctx.p.list("exclude-path");
    if let Some(t) = &notes_tpl
        && let Err(e) = check_notes_template(t)
    {
        ctx.p.invalid("notes-template", e);
    }
    ctx.p.finish()?;
    let def = storage_def(w, &storage)?;
    if !def.supports("backup") {
        return Err(PveError::die(format!("storage '{storage}' does not support backups")));
    }
    let selected: Vec<u32> = if all {
        w.guests.values().filter(|g| g.node == n).map(|g| g.vmid).collect()
    } else {
        vmids
            .split([',', ';', ' '])
            .filter_map(|v| v.parse::<u32>().ok())
            .filter(|id| w.guests.get(id).is_some_and(|g| g.node == n))
            .collect()
    };
    if selected.is_empty() {
        return Ok(Reply::data("OK"));
    }
    let ext = match compress.as_str() {
        "zstd" => ".zst",
        "gzip" => ".gz",
        "1" | "lzo" => ".lzo",
        _ => "",
    };
    let id = if selected.len() == 1 { selected[0].to_string() } else { String::new() };
    let mut plan = Plan::new();
    let scope = def.scope(&n);
    for vid in selected {
        let Some(g) = w.guests.get(&vid) else {
            continue;
        };
        let (kind, arch) = match g.kind {
            GuestKind::Qemu => ("qemu", "vma"),
            GuestKind::Lxc => ("lxc", "tar"),
        };
        let size = (g.boot_disk_size() / 3).max(1024 * 1024);
        let name = g.name().map(String::from).unwrap_or_else(|| format!("VM {vid}"));
        let ts = backup_timestamp(w.now_secs() + u64::from(vid % 7));
        let file = format!("vzdump-{kind}-{vid}-{ts}.{arch}{ext}");
        let volid = format!("{storage}:backup/{file}");
        let notes = notes_tpl.as_ref().map(|t| {
            t.replace("{{guestname}}", &name)
                .replace("{{node}}", &n)
                .replace("{{vmid}}", &vid.to_string())
                .replace("{{cluster}}", &w.cluster_name)
                .replace("\\n", "\n")
        });
        let ms = size.saturating_mul(1000) / (200 * 1024 * 1024);
        let (sc, st, vol) = (scope.clone(), storage.clone(), volid.clone());
        let fmt = format!("{arch}{ext}");
        plan = plan
            .log(format!("INFO: Starting Backup of VM {vid} ({kind})"))
            .act(move |w, _| {
                let g = w
                    .guests
                    .get_mut(&vid)
                    .ok_or(format!("ERROR: Backup of VM {vid} failed - guest vanished"))?;
                if let Some(l) = g.lock() {
                    return Err(format!(
                        "ERROR: Backup of VM {vid} failed - {}",
                        proxctl_types::messages::guest_locked(g.kind, l)
                    ));
                }
                g.conf.insert("lock".into(), "backup".into());
                Ok(())
            })
            .log(format!("INFO: backup mode: {mode}"))
            .log(format!("INFO: creating vzdump archive '/var/lib/vz/dump/{file}'"))
            .sleep(ms.max(1000))
            .act(move |w, task| {
                if w.faults.full_storages.contains(&st) {
                    return Err(format!(
                        "ERROR: Backup of VM {vid} failed - vma_queue_write: write error - No space left on device"
                    ));
                }
                let conf = w.guests.get_mut(&vid).map(|g| {
                    g.conf.remove("lock");
                    g.conf.clone()
                });
                insert_volume(w, &sc, &vol, &st, "backup", &fmt, size, Some(vid));
                if let Some(v) = w.volumes.get_mut(&(sc.clone(), vol.clone())) {
                    v.notes = notes.clone();
                    v.protected = protected;
                    v.guest_conf = conf;
                }
                w.task_log(
                    task,
                    format!("INFO: archive file size: {}", proxctl_types::wire::DiskSize(size)),
                );
                w.task_log(task, format!("INFO: Finished Backup of VM {vid}"));
                Ok(())
            })
            .on_fail(move |w, _| {
                if let Some(g) = w.guests.get_mut(&vid)
                    && g.lock() == Some("backup")
                {
                    g.conf.remove("lock");
                }
                Ok(())
            });
    }
    // One notification per run, routed by the matchers (PVE: `vzdump backup status`).
    let (ok_node, fail_node) = (n.clone(), n.clone());
    plan = plan
        .act(move |w, _| {
            let now = w.now_secs();
            w.notifications.backup_status(&ok_node, true, now);
            Ok(())
        })
        .on_fail(move |w, _| {
            let now = w.now_secs();
            w.notifications.backup_status(&fail_node, false, now);
            Ok(())
        });
    let who = user(ctx);
    let upid = w.spawn(&n, "vzdump", &id, &who, plan);
    Ok(Reply::data(upid.to_string()))
}

/// Only `{{cluster}}`, `{{guestname}}`, `{{node}}`, `{{vmid}}` and the `\n`, `\\` escapes.
fn check_notes_template(t: &str) -> Result<(), String> {
    let mut rest = t;
    let mut pos = 0;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        let var = &after[..j];
        if !matches!(var, "cluster" | "guestname" | "node" | "vmid") {
            return Err(format!("found unknown: variable '{var}' at char {}", pos + i));
        }
        pos += i + 2 + j + 2;
        rest = &after[j + 2..];
    }
    Ok(())
}

/// `YYYY_MM_DD-HH_MM_SS` in the node's local time (UTC in the simulator).
fn backup_timestamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}_{m:02}_{d:02}-{:02}_{:02}_{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_use_pve_timestamp_format() {
        assert_eq!(backup_timestamp(1_735_689_600), "2025_01_01-00_00_00");
    }

    #[test]
    fn filenames_are_normalised_like_pve() {
        assert_eq!(normalize_filename("../x/my image(1).iso"), "my_image_1_.iso");
    }

    #[test]
    fn notes_templates_reject_unknown_variables() {
        assert!(check_notes_template("{{guestname}} on {{node}}").is_ok());
        assert!(check_notes_template("{{nope}}").is_err());
    }
}
