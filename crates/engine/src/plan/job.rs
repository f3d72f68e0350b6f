//! The Job planner: a declared job is created in the state store, updated where its settings
//! differ (each differing setting is a diff line), and a job the manifests made but no longer
//! declare is deleted with `--prune`. Jobs made by hand with the same name are taken over,
//! with a warning.

use super::*;
use crate::manifest::JobSpec;

/// Job resources.
pub(super) struct Jobs;

fn diff(field: &str, from: String, to: String) -> Option<FieldDiff> {
    (from != to).then(|| FieldDiff {
        field: field.into(),
        from: Some(from),
        to: Some(to),
        reboot: false,
    })
}

/// The settings in which `have` differs from `want`.
fn diffs(have: &proxctl_ops::jobs::Job, want: &proxctl_ops::jobs::Job) -> Vec<FieldDiff> {
    let action = |j: &proxctl_ops::jobs::Job| serde_json::to_string(&j.action).unwrap_or_default();
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let missed = |j: &proxctl_ops::jobs::Job| {
        serde_json::to_value(j.missed)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    };
    [
        diff("schedule", have.schedule.clone(), want.schedule.clone()),
        diff("timezone", opt(&have.timezone), opt(&want.timezone)),
        diff("action", action(have), action(want)),
        diff("selector", have.selector.clone(), want.selector.clone()),
        diff("remote", opt(&have.remote), opt(&want.remote)),
        diff("enabled", have.enabled.to_string(), want.enabled.to_string()),
        diff("missed", missed(have), missed(want)),
        diff("history", have.history.to_string(), want.history.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn change(
    key: String,
    action: Action,
    summary: String,
    diffs: Vec<FieldDiff>,
    steps: Vec<Step>,
) -> Change {
    Change { key, action, vmid: None, node: None, summary, diffs, steps }
}

fn save(name: &str, spec: &JobSpec, hash: String) -> Vec<Step> {
    vec![
        Step::SaveJob { name: name.to_string(), spec: spec.clone() },
        Step::Record { vmid: None, node: None, spec_hash: hash, expect_running: false, spec: None },
    ]
}

impl KindPlanner for Jobs {
    fn plan(&self, cx: &mut Context<'_>, d: &Declared) -> Result<Option<Change>, String> {
        let Body::Job { metadata, spec } = &d.body else { return Ok(None) };
        let (key, name) = (d.key(), metadata.name.as_str());
        let hash = spec_hash(&d.body);
        let Some(have) = cx.input.jobs.iter().find(|j| j.name == name) else {
            let summary =
                format!("{} on '{}' ({})", spec.action.name(), spec.selector, spec.schedule);
            return Ok(Some(change(
                key,
                Action::Create,
                summary,
                Vec::new(),
                save(name, spec, hash),
            )));
        };
        let want = spec.job(name, have.created_at, &have.created_by);
        let diffs = diffs(have, &want);
        let managed = cx.records.contains_key(&key);
        if !managed {
            cx.warnings.push(format!(
                "{key}: job {name} was made by {} outside the manifests; applying takes it over",
                have.created_by
            ));
        }
        if diffs.is_empty() && managed {
            return Ok(Some(change(key, Action::Noop, "in sync".into(), Vec::new(), Vec::new())));
        }
        let summary = if diffs.is_empty() {
            "take over the job as it is".into()
        } else {
            "settings differ".into()
        };
        Ok(Some(change(key, Action::Update, summary, diffs, save(name, spec, hash))))
    }

    fn stale(&self, cx: &mut Context<'_>, key: &str) -> Option<Change> {
        let name = key.split_once('/')?.1;
        if !cx.input.jobs.iter().any(|j| j.name == name) {
            let summary = "gone from the store; forget its record".into();
            return Some(change(
                key.into(),
                Action::Delete,
                summary,
                Vec::new(),
                vec![Step::Forget],
            ));
        }
        if cx.input.prune {
            let steps = vec![Step::DeleteJob { name: name.to_string() }, Step::Forget];
            return Some(change(
                key.into(),
                Action::Delete,
                "not declared (--prune)".into(),
                Vec::new(),
                steps,
            ));
        }
        cx.warnings
            .push(format!("{key} is managed but no longer declared; pass --prune to delete it"));
        None
    }
}
