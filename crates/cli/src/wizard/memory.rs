//! The wizards' last choices, per profile and wizard, offered as defaults next time. Kept in
//! `$XDG_STATE_HOME/proxctl/wizard.toml` (else `~/.local/state/proxctl/wizard.toml`): state, not
//! configuration, and never a secret (passwords are not asked for; keys are paths).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// profile → wizard → question → answer.
type Choices = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

#[derive(Debug, Clone)]
pub struct Memory {
    path: Option<PathBuf>,
    profile: String,
    wizard: &'static str,
    all: Choices,
}

impl Memory {
    /// The default place, from the environment.
    pub fn default_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        let base = env("XDG_STATE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".local/state")))?;
        Some(base.join("proxctl").join("wizard.toml"))
    }

    /// What is remembered for `wizard` under `profile`. An unreadable or damaged file is
    /// treated as empty (it only holds defaults) and replaced on the next save.
    pub fn load(path: Option<PathBuf>, profile: &str, wizard: &'static str) -> Self {
        let all = path
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| toml::from_str::<Choices>(&t).ok())
            .unwrap_or_default();
        Self { path, profile: profile.to_string(), wizard, all }
    }

    pub fn get(&self, question: &str) -> Option<&str> {
        self.all.get(&self.profile)?.get(self.wizard)?.get(question).map(String::as_str)
    }

    pub fn set(&mut self, question: &str, answer: impl Into<String>) {
        self.all
            .entry(self.profile.clone())
            .or_default()
            .entry(self.wizard.to_string())
            .or_default()
            .insert(question.to_string(), answer.into());
    }

    /// Write the file; a failure is reported, not fatal (the work itself was done).
    pub fn save(&self) -> Result<(), String> {
        let Some(path) = &self.path else { return Ok(()) };
        let text = toml::to_string(&self.all).map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_kept_per_profile_and_wizard_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/proxctl/wizard.toml");
        let mut m = Memory::load(Some(path.clone()), "lab", "vm-create");
        m.set("cores", "4");
        m.save().unwrap();
        assert_eq!(Memory::load(Some(path.clone()), "lab", "vm-create").get("cores"), Some("4"));
        assert_eq!(Memory::load(Some(path.clone()), "prod", "vm-create").get("cores"), None);
        assert_eq!(Memory::load(Some(path.clone()), "lab", "template-build").get("cores"), None);
        std::fs::write(&path, "not = [toml").unwrap();
        assert_eq!(Memory::load(Some(path), "lab", "vm-create").get("cores"), None);
    }

    #[test]
    fn the_file_lives_under_xdg_state_home_or_home() {
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
        assert_eq!(
            Memory::default_path(&env),
            Some(PathBuf::from("/home/u/.local/state/proxctl/wizard.toml"))
        );
        let env = |k: &str| (k == "XDG_STATE_HOME").then(|| "/s".to_string());
        assert_eq!(Memory::default_path(&env), Some(PathBuf::from("/s/proxctl/wizard.toml")));
    }
}
