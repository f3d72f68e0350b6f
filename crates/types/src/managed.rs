//! How proxctl marks the guests it manages, so identity survives migration, HA moves and the
//! loss of the state store: the `proxctl` tag, and a `proxctl:resource=kind/name` line in the
//! description. Safe mode and the engine's re-adoption both read these.

use crate::wire::split_tags;

/// The tag on every guest proxctl manages.
pub const MANAGED_TAG: &str = "proxctl";

/// The description line naming the declared resource a guest belongs to.
pub const RESOURCE_PREFIX: &str = "proxctl:resource=";

/// Whether a guest's `tags` (PVE's `;`-separated string) and `description` mark it as managed.
pub fn is_managed(tags: Option<&str>, description: Option<&str>) -> bool {
    tags.is_some_and(|t| split_tags(t).any(|t| t == MANAGED_TAG))
        || description.and_then(resource_of).is_some()
}

/// The `kind/name` recorded in a description, if any.
pub fn resource_of(description: &str) -> Option<&str> {
    description.lines().find_map(|l| l.trim().strip_prefix(RESOURCE_PREFIX)).map(str::trim)
}

/// `description` with its resource line set to `key`, keeping every other line.
pub fn with_resource(description: &str, key: &str) -> String {
    let mut lines: Vec<&str> =
        description.lines().filter(|l| !l.trim().starts_with(RESOURCE_PREFIX)).collect();
    let marker = format!("{RESOURCE_PREFIX}{key}");
    lines.push(&marker);
    lines.join("\n")
}

/// The volume id of the NoCloud seed ISO proxctl made for `vmid`, if `ide2` (a drive string such
/// as `local:iso/proxctl-100-iid-….iso,media=cdrom`) holds one.
pub fn seed_iso_of(ide2: Option<&str>, vmid: u32) -> Option<String> {
    let vol = ide2?.split(',').next()?;
    let file = vol.split_once(":iso/")?.1;
    file.starts_with(&format!("proxctl-{vmid}-")).then(|| vol.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_proxctls_own_seed_for_that_vmid_counts() {
        let d = "local:iso/proxctl-100-iid-0123456789abcdef.iso,media=cdrom";
        assert_eq!(
            super::seed_iso_of(Some(d), 100).as_deref(),
            Some("local:iso/proxctl-100-iid-0123456789abcdef.iso")
        );
        assert_eq!(super::seed_iso_of(Some(d), 101), None);
        assert_eq!(super::seed_iso_of(Some("local:iso/debian.iso,media=cdrom"), 100), None);
        assert_eq!(super::seed_iso_of(Some("local-lvm:vm-100-cloudinit,media=cdrom"), 100), None);
    }

    use super::*;

    #[test]
    fn the_tag_or_the_description_line_marks_a_guest() {
        assert!(is_managed(Some("env-prod;proxctl"), None));
        assert!(!is_managed(Some("proxctl-old;env-prod"), None), "whole tags only");
        assert!(is_managed(None, Some("web\nproxctl:resource=VirtualMachine/web-1")));
        assert!(!is_managed(None, Some("handmade")));
        assert!(!is_managed(None, None));
    }

    #[test]
    fn the_resource_line_is_replaced_not_repeated() {
        let d = with_resource("notes\nproxctl:resource=VirtualMachine/a", "VirtualMachine/b");
        assert_eq!(d, "notes\nproxctl:resource=VirtualMachine/b");
        assert_eq!(resource_of(&d), Some("VirtualMachine/b"));
        assert_eq!(with_resource("", "Container/c"), "proxctl:resource=Container/c");
    }
}
