//! The operations layer at cluster scale against the simulator: bulk actions over hundreds of
//! guests with failures mixed in.

mod support;

use proxctl_ops::bulk::{self, BulkAction, Outcome};
use proxctl_sim::{ClockMode, FaultRule, Faults, scenario::Scenario};
use proxctl_types::SnapshotName;
use proxctl_types::selector::Selector;
use support::harness_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_snapshot_of_200_vms_reports_every_item_and_one_failure_stops_nothing() {
    let guests: String = (1000..1200)
        .map(|id| {
            format!(
                "  - {{vmid: {id}, config: {{name: vm-{id}, tags: fleet, \
                 scsi0: \"local-lvm:vm-{id}-disk-0,size=4G\"}}}}\n"
            )
        })
        .collect();
    let mut cfg = support::config(1);
    cfg.clock = ClockMode::Realtime;
    cfg.time_scale = 1000.0;
    cfg.scenario = Some(Scenario::from_yaml(&format!("guests:\n{guests}")).unwrap());
    let h = harness_with(cfg).await;
    h.sim.set_faults(Faults {
        rules: vec![FaultRule::always(
            "POST /nodes/pve/qemu/1150/snapshot",
            500,
            "simulated storage failure",
        )],
        ..Faults::default()
    });

    let sel: Selector = "fleet".parse().unwrap();
    let targets = bulk::targets(&h.client, &sel).await.unwrap();
    assert_eq!(targets.len(), 200);
    let action =
        BulkAction::Snapshot { name: SnapshotName::new("pre-upgrade").unwrap(), expires: None };
    let report = bulk::run(&h.client, &targets, &action, 16, false).await;

    assert_eq!(report.len(), 200, "one report line per guest");
    let failed: Vec<_> = report.iter().filter(|r| r.outcome == Outcome::Failed).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].vmid, 1150);
    assert!(failed[0].detail.contains("simulated storage failure"), "{}", failed[0].detail);
    assert_eq!(report.iter().filter(|r| r.outcome == Outcome::Ok).count(), 199);
    let with_snapshot = h.sim.with_world(|w| {
        w.guests.values().filter(|g| g.snapshots.contains_key("pre-upgrade")).count()
    });
    assert_eq!(with_snapshot, 199, "every other guest really has the snapshot");
}
