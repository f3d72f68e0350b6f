//! How proxctl marks the guests it manages, so identity survives migration, HA moves and the
//! loss of the state store: the `proxctl` tag, and a `proxctl:resource=kind/name` line in the
//! description. Safe mode and the engine's re-adoption both read these.

use crate::wire::split_tags;

/// The tag on every guest proxctl manages.
pub const MANAGED_TAG: &str = "proxctl";

/// The description line naming the declared resource a guest belongs to.
pub const RESOURCE_PREFIX: &str = "proxctl:resource=";

/// The description line of a guest a command (not a manifest) created: proxctl made it, so
/// safe mode lets proxctl change it, but no declared resource owns it.
pub const MANAGED_LINE: &str = "proxctl:managed";

/// Whether a guest's `tags` (PVE's `;`-separated string) and `description` mark it as managed.
pub fn is_managed(tags: Option<&str>, description: Option<&str>) -> bool {
    tags.is_some_and(|t| split_tags(t).any(|t| t == MANAGED_TAG))
        || description.and_then(resource_of).is_some()
        || description.is_some_and(|d| d.lines().any(|l| l.trim() == MANAGED_LINE))
}

/// The description for a copy (a clone) a command makes of a guest with `source`'s
/// description: the source's text kept, its resource line dropped (the copy is not that
/// resource: two carriers of one marker are a conflict), and [`MANAGED_LINE`] added, so the
/// copy is proxctl's from its creating call.
pub fn owned_copy_description(source: &str) -> String {
    let mut lines: Vec<&str> = source
        .lines()
        .filter(|l| {
            let l = l.trim();
            !l.starts_with(RESOURCE_PREFIX) && l != MANAGED_LINE
        })
        .collect();
    lines.push(MANAGED_LINE);
    lines.join("\n")
}

/// The description line naming the release (`proxctl release`) a guest belongs to.
pub const RELEASE_PREFIX: &str = "proxctl:release=";

/// The tag a release puts on its guests, so PVE's own views show the owner.
pub fn release_tag(release: &str) -> String {
    format!("release-{release}")
}

/// The release named in a description, if any.
pub fn release_of(description: &str) -> Option<&str> {
    description.lines().find_map(|l| l.trim().strip_prefix(RELEASE_PREFIX)).map(str::trim)
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
    use super::*;

    #[test]
    fn the_release_line_is_found_among_others() {
        let d = "web\nproxctl:release=shop\nproxctl:resource=VirtualMachine/shop-web-1";
        assert_eq!(release_of(d), Some("shop"));
        assert_eq!(resource_of(d), Some("VirtualMachine/shop-web-1"));
        assert_eq!(release_of("web"), None);
        assert_eq!(release_tag("shop"), "release-shop");
    }

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

    #[test]
    fn a_copy_is_managed_but_carries_no_resource() {
        let d = owned_copy_description("web tier\nproxctl:resource=VirtualMachine/web-1");
        assert_eq!(d, "web tier\nproxctl:managed");
        assert!(is_managed(None, Some(&d)));
        assert_eq!(resource_of(&d), None);
        assert_eq!(owned_copy_description(&d), d, "idempotent");
        assert!(!is_managed(Some("web"), Some("hand made")));
    }

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
