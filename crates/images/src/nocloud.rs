//! cloud-init NoCloud seeds: `meta-data`, `user-data` (`#cloud-config`) and `network-config`
//! (version 2) rendered from typed settings, packed into an ISO labelled `cidata`. The
//! instance-id is a hash of the content, so changed settings give a new instance-id and
//! cloud-init applies them on the next boot, without replacing the VM.

use std::fmt::Write;

use sha2::Digest;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seed {
    pub hostname: String,
    pub user: Option<String>,
    pub ssh_keys: Vec<String>,
    /// `dhcp`, or an IPv4 address with prefix.
    pub ipv4: Option<String>,
    pub gateway4: Option<String>,
    /// `dhcp`, `auto` (SLAAC) or an IPv6 address with prefix.
    pub ipv6: Option<String>,
    pub gateway6: Option<String>,
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    /// The NIC's MAC, to match it whatever the guest names it.
    pub mac: Option<String>,
    /// A user's own `#cloud-config`. It is the base: `user` and `ssh_keys` are merged into it
    /// (a `user:` it sets wins; keys are appended), and it is used byte for byte when they add
    /// nothing. The hostname reaches the guest through meta-data's `local-hostname`.
    pub user_data: Option<String>,
}

/// Why a user's own user-data cannot go into a seed.
#[derive(Debug, thiserror::Error)]
pub enum UserDataError {
    #[error("user-data must start with the line #cloud-config")]
    NotCloudConfig,
    #[error("user-data is not valid YAML")]
    Yaml(#[source] serde_yaml_ng::Error),
    #[error("user-data must be a YAML mapping of cloud-config keys, not a list or a scalar")]
    NotAMapping,
}

impl UserDataError {
    /// The whole reason on one line, the YAML parser's words included, for places that show a
    /// single message (a manifest diagnostic, a CLI error).
    pub fn reason(&self) -> String {
        match std::error::Error::source(self) {
            Some(cause) => format!("{self}: {cause}"),
            None => self.to_string(),
        }
    }
}

/// Checks a user's `#cloud-config` and returns its keys.
pub fn parse_user_data(text: &str) -> Result<serde_yaml_ng::Mapping, UserDataError> {
    if !text.starts_with("#cloud-config") {
        return Err(UserDataError::NotCloudConfig);
    }
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).map_err(UserDataError::Yaml)? {
        serde_yaml_ng::Value::Mapping(m) => Ok(m),
        // A file of nothing but the header is an empty cloud-config.
        serde_yaml_ng::Value::Null => Ok(serde_yaml_ng::Mapping::new()),
        _ => Err(UserDataError::NotAMapping),
    }
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

impl Seed {
    pub fn user_data(&self) -> String {
        if let Some(u) = &self.user_data {
            return self.merged_into(u);
        }
        let mut s = String::from("#cloud-config\n");
        let _ = writeln!(s, "hostname: {}", yaml_str(&self.hostname));
        let _ = writeln!(s, "manage_etc_hosts: true");
        if let Some(u) = &self.user {
            let _ = writeln!(s, "user: {}", yaml_str(u));
        }
        if !self.ssh_keys.is_empty() {
            let _ = writeln!(s, "ssh_authorized_keys:");
            for k in &self.ssh_keys {
                let _ = writeln!(s, "  - {}", yaml_str(k));
            }
        }
        s
    }

    /// The flags' `user` and keys on top of the user's own cloud-config. Unparsable text is
    /// passed through (callers check it with [`parse_user_data`] first).
    fn merged_into(&self, own: &str) -> String {
        use serde_yaml_ng::Value;
        let Ok(mut map) = parse_user_data(own) else {
            return own.to_string();
        };
        let mut changed = false;
        if let Some(u) = &self.user
            && !map.contains_key("user")
        {
            map.insert("user".into(), Value::String(u.clone()));
            changed = true;
        }
        if !self.ssh_keys.is_empty() {
            let entry = map
                .entry("ssh_authorized_keys".into())
                .or_insert_with(|| Value::Sequence(Vec::new()));
            if let Value::Sequence(list) = entry {
                for k in &self.ssh_keys {
                    let k = Value::String(k.clone());
                    if !list.contains(&k) {
                        list.push(k);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            return own.to_string();
        }
        match serde_yaml_ng::to_string(&map) {
            Ok(body) => format!("#cloud-config\n{body}"),
            Err(_) => own.to_string(),
        }
    }

    pub fn network_config(&self) -> String {
        let mut s = String::from("version: 2\nethernets:\n  nic0:\n");
        match &self.mac {
            Some(m) => {
                let _ =
                    writeln!(s, "    match:\n      macaddress: {}", yaml_str(&m.to_lowercase()));
            }
            None => {
                let _ = writeln!(s, "    match:\n      name: \"e*\"");
            }
        }
        let dhcp4 = self.ipv4.as_deref().is_none_or(|a| a == "dhcp");
        let _ = writeln!(s, "    dhcp4: {dhcp4}");
        if self.ipv6.as_deref() == Some("dhcp") {
            let _ = writeln!(s, "    dhcp6: true");
        }
        let mut addrs = Vec::new();
        if let Some(a) = self.ipv4.as_deref().filter(|a| *a != "dhcp") {
            addrs.push(a.to_string());
        }
        if let Some(a) = self.ipv6.as_deref().filter(|a| *a != "dhcp" && *a != "auto") {
            addrs.push(a.to_string());
        }
        if !addrs.is_empty() {
            let _ = writeln!(
                s,
                "    addresses: [{}]",
                addrs.iter().map(|a| yaml_str(a)).collect::<Vec<_>>().join(", ")
            );
        }
        let routes: Vec<(&str, &str)> =
            [("0.0.0.0/0", self.gateway4.as_deref()), ("::/0", self.gateway6.as_deref())]
                .into_iter()
                .filter_map(|(to, via)| via.map(|v| (to, v)))
                .collect();
        if !routes.is_empty() {
            let _ = writeln!(s, "    routes:");
            for (to, via) in routes {
                let _ = writeln!(s, "      - to: {}\n        via: {}", yaml_str(to), yaml_str(via));
            }
        }
        if !self.nameservers.is_empty() || !self.search.is_empty() {
            let list = |v: &[String]| v.iter().map(|a| yaml_str(a)).collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                s,
                "    nameservers:\n      addresses: [{}]\n      search: [{}]",
                list(&self.nameservers),
                list(&self.search)
            );
        }
        s
    }

    /// `iid-` and the first 16 hex digits of the content's SHA-256.
    pub fn instance_id(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(self.user_data().as_bytes());
        h.update([0]);
        h.update(self.network_config().as_bytes());
        h.update([0]);
        h.update(self.hostname.as_bytes());
        format!("iid-{}", &hex::encode(h.finalize())[..16])
    }

    pub fn meta_data(&self) -> String {
        format!(
            "instance-id: {}\nlocal-hostname: {}\n",
            self.instance_id(),
            yaml_str(&self.hostname)
        )
    }

    /// The three files, in name order (the order the ISO records them in).
    pub fn files(&self) -> Vec<(&'static str, String)> {
        vec![
            ("meta-data", self.meta_data()),
            ("network-config", self.network_config()),
            ("user-data", self.user_data()),
        ]
    }

    /// The seed ISO (volume id `cidata`).
    pub fn iso(&self) -> Vec<u8> {
        let files = self.files();
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
        crate::iso::build("cidata", &refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seed {
            hostname: "web-1".into(),
            user: Some("debian".into()),
            ssh_keys: vec!["ssh-ed25519 AAAA test@x".into()],
            ipv4: Some("10.0.0.5/24".into()),
            gateway4: Some("10.0.0.1".into()),
            nameservers: vec!["10.0.0.2".into()],
            search: vec!["example.internal".into()],
            mac: Some("BC:24:11:00:00:01".into()),
            ..Seed::default()
        }
    }

    #[test]
    fn the_seed_renders_cloud_config_and_network_config_v2() {
        let s = seed();
        let u = s.user_data();
        assert!(u.starts_with("#cloud-config\n"));
        assert!(u.contains("ssh_authorized_keys:\n  - \"ssh-ed25519 AAAA test@x\""), "{u}");
        let n = s.network_config();
        assert!(n.contains("macaddress: \"bc:24:11:00:00:01\""), "{n}");
        assert!(n.contains("dhcp4: false") && n.contains("addresses: [\"10.0.0.5/24\"]"), "{n}");
        assert!(n.contains("- to: \"0.0.0.0/0\"\n        via: \"10.0.0.1\""), "{n}");
        assert!(s.meta_data().starts_with(&format!("instance-id: {}", s.instance_id())));
    }

    #[test]
    fn changing_the_user_data_changes_the_instance_id_and_nothing_else_does_not() {
        let a = seed();
        assert_eq!(a.instance_id(), seed().instance_id());
        let mut b = seed();
        b.ssh_keys.push("ssh-ed25519 BBBB other@x".into());
        assert_ne!(a.instance_id(), b.instance_id());
    }

    #[test]
    fn own_user_data_is_kept_verbatim_when_the_flags_add_nothing() {
        let own = "#cloud-config\n# my comment\npackages: [nginx]\n";
        let s = Seed { hostname: "a".into(), user_data: Some(own.into()), ..Seed::default() };
        assert_eq!(s.user_data(), own);
    }

    #[test]
    fn flags_merge_into_own_user_data_without_overriding_it() {
        let own = "#cloud-config\nuser: admin\nssh_authorized_keys:\n  - ssh-ed25519 OLD a@b\npackages: [nginx]\n";
        let s = Seed { user_data: Some(own.into()), ..seed() };
        let u = s.user_data();
        let back = parse_user_data(&u).unwrap();
        assert_eq!(back["user"], "admin", "the file's user wins: {u}");
        let keys = back["ssh_authorized_keys"].as_sequence().unwrap();
        assert_eq!(keys.len(), 2, "{u}");
        assert_eq!(keys[1], "ssh-ed25519 AAAA test@x");
        assert_eq!(back["packages"][0], "nginx");
        let mut again = s.clone();
        again.user_data = Some(u.clone());
        assert_eq!(again.user_data(), u, "merging twice adds nothing");
    }

    #[test]
    fn user_data_that_is_not_cloud_config_is_refused_with_the_reason() {
        assert!(matches!(parse_user_data("packages: []"), Err(UserDataError::NotCloudConfig)));
        assert!(matches!(parse_user_data("#cloud-config\n[1, 2"), Err(UserDataError::Yaml(_))));
        assert!(matches!(parse_user_data("#cloud-config\n- a\n"), Err(UserDataError::NotAMapping)));
        assert!(parse_user_data("#cloud-config\n").unwrap().is_empty());
    }

    #[test]
    fn the_iso_holds_the_three_files() {
        let s = seed();
        let back = crate::iso::read_joliet(&s.iso()).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["meta-data", "network-config", "user-data"]);
        assert_eq!(String::from_utf8(back[2].1.clone()).unwrap(), s.user_data());
        let mut reversed = s.files();
        reversed.reverse();
        let refs: Vec<(&str, &[u8])> = reversed.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
        assert_eq!(crate::iso::build("cidata", &refs), s.iso(), "order does not matter");
    }
}
