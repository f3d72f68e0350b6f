//! Benchmarks live in `benches/`; run them with `cargo bench -p proxctl-bench`. They write
//! figures, they never assert timings. This file holds the fixtures they share.

/// A simulator scenario with a `debian-12` template (VMID 9000) and `n` VMs that proxctl
/// manages (tag and description marker), named `fleet-0000`...
pub fn managed_fleet_scenario(n: usize) -> String {
    let mut s = String::from(
        "guests:\n  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: \"local-lvm:base-9000-disk-0,size=2G\"}}\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "  - {{vmid: {}, config: {{name: fleet-{i:04}, cores: \"1\", memory: \"512\", tags: \"fleet;proxctl\", \
             description: \"proxctl:resource=VirtualMachine/fleet-{i:04}\", scsi0: \"local-lvm:vm-{}-disk-0,size=4G\"}}}}\n",
            1000 + i,
            1000 + i
        ));
    }
    s
}

/// Manifests for the same fleet: applied to `managed_fleet_scenario(n)` they plan no changes.
pub fn fleet_manifests(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: fleet-{i:04}}}\n\
                 spec: {{template: debian-12, cores: 1, memory: 512, tags: [fleet]}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}
