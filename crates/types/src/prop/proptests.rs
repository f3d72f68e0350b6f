//! Round-trip property tests: typed value → string → typed value is the identity, and any
//! string that parses reaches a fixed point after one print.

use proptest::prelude::*;

use super::*;
use crate::wire::DiskSize;

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}"
}

fn extra() -> impl Strategy<Value = Extra> {
    prop::collection::vec(("x-[a-z]{1,6}", "[a-z0-9]{1,6}"), 0..3).prop_map(|mut v| {
        v.sort();
        v.dedup_by(|a, b| a.0 == b.0);
        v
    })
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn size() -> impl Strategy<Value = DiskSize> {
    (1u64..1 << 40).prop_map(DiskSize)
}

fn model() -> impl Strategy<Value = NetModel> {
    prop_oneof![
        Just(NetModel::Virtio),
        Just(NetModel::E1000),
        Just(NetModel::E1000e),
        Just(NetModel::Rtl8139),
        Just(NetModel::Vmxnet3),
        Just(NetModel::Other("pcnet".into())),
    ]
}

prop_compose! {
    fn net()(model in model(), macaddr in prop::option::of(mac()), bridge in prop::option::of(word()),
             tag in prop::option::of(1u16..4095), firewall in prop::option::of(any::<bool>()),
             link_down in prop::option::of(any::<bool>()), mtu in prop::option::of(576u16..9000),
             queues in prop::option::of(1u8..64), extra in extra()) -> NetDevice {
        NetDevice { model, macaddr, bridge, tag, firewall, link_down, mtu, queues, rate: None, trunks: None, extra }
    }
}

prop_compose! {
    fn drive()(store in word(), vol in word(), size in prop::option::of(size()),
               media in prop::option::of(prop_oneof![Just(Media::Disk), Just(Media::Cdrom)]),
               iothread in prop::option::of(any::<bool>()), ssd in prop::option::of(any::<bool>()),
               import_from in prop::option::of(word().prop_map(|w| format!("local:import/{w}.qcow2"))),
               cache in prop::option::of(prop_oneof![Just("none".to_string()), Just("writeback".to_string())]),
               extra in extra()) -> Drive {
        Drive { file: format!("{store}:{vol}"), media, size, format: None, cache, discard: None, iothread, ssd,
                backup: None, replicate: None, ro: None, import_from, serial: None, extra }
    }
}

prop_compose! {
    fn ipconfig()(net4 in prop::option::of((any::<[u8; 4]>(), 0u8..=32)),
                  dhcp in any::<bool>(), gw in prop::option::of(any::<[u8; 4]>()),
                  v6 in prop::option::of(prop_oneof![Just(Ipv6Setting::Auto), Just(Ipv6Setting::Dhcp),
                      (any::<[u16; 8]>(), 0u8..=128).prop_map(|(a, p)| Ipv6Setting::Static(
                          ipnet::Ipv6Net::new(a.into(), p).expect("prefix in range")))]),
                  extra in extra()) -> IpConfig {
        let ip = net4.map(|(a, p)| if dhcp { Ipv4Setting::Dhcp } else {
            Ipv4Setting::Static(ipnet::Ipv4Net::new(a.into(), p).expect("prefix in range")) });
        let gw = if ip.is_some() { gw.map(Into::into) } else { None };
        IpConfig { ip, gw, ip6: v6, gw6: None, extra }
    }
}

prop_compose! {
    fn lxc_net()(name in word(), bridge in prop::option::of(word()), hwaddr in prop::option::of(mac()),
                 tag in prop::option::of(1u16..4095), firewall in prop::option::of(any::<bool>()),
                 extra in extra()) -> LxcNet {
        LxcNet { name, bridge, hwaddr, ip: Some(Ipv4Setting::Dhcp), tag, firewall, extra, ..LxcNet::default() }
    }
}

prop_compose! {
    fn lxc_mount()(vol in word(), mp in prop::option::of(word().prop_map(|w| format!("/{w}"))),
                   size in prop::option::of(size()), backup in prop::option::of(any::<bool>()),
                   extra in extra()) -> LxcMount {
        LxcMount { mp, size, backup, extra, ..LxcMount::new(format!("local-lvm:{vol}")) }
    }
}

fn round_trips<T>(v: &T) -> Result<(), TestCaseError>
where
    T: std::fmt::Display + std::str::FromStr<Err = PropError> + PartialEq + std::fmt::Debug,
{
    let s = v.to_string();
    let back: T =
        s.parse().map_err(|e| TestCaseError::fail(format!("{s:?} did not parse: {e}")))?;
    prop_assert_eq!(&back, v, "printed as {:?}", s);
    Ok(())
}

/// Parse arbitrary input; whatever parses must print to a string that parses to the same value.
fn fixed_point<T>(s: &str) -> Result<(), TestCaseError>
where
    T: std::fmt::Display + std::str::FromStr<Err = PropError> + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = s.parse::<T>() {
        round_trips(&v)?;
    }
    Ok(())
}

/// Inputs the fuzzer (fuzz/fuzz_targets/property_strings.rs) found, kept as regressions.
#[test]
fn fuzzer_findings_round_trip() {
    fixed_point::<LxcMount>("volume==").unwrap();
    fixed_point::<Vga>("type=1\0\u{11}\0\u{5}O=,i===,ip=1").unwrap();
    fixed_point::<Drive>("file=a=b,size=1G").unwrap();
    fixed_point::<Cpu>("cputype=").unwrap();
    fixed_point::<Boot>("legacy=x=y").unwrap();
    assert!("vmxnet3=,e1000=BC:24:11:00:00:01".parse::<NetDevice>().is_err(), "two models");
}

proptest! {
    #[test]
    fn net_device_round_trips(v in net()) { round_trips(&v)?; }

    #[test]
    fn drive_round_trips(v in drive()) { round_trips(&v)?; }

    #[test]
    fn ipconfig_round_trips(v in ipconfig()) { round_trips(&v)?; }

    #[test]
    fn lxc_net_round_trips(v in lxc_net()) { round_trips(&v)?; }

    #[test]
    fn lxc_mount_round_trips(v in lxc_mount()) { round_trips(&v)?; }

    #[test]
    fn prune_backups_round_trips(counts in prop::collection::vec(prop::option::of(0u32..1000), 6),
                                 extra in extra()) {
        let v = PruneBackups { keep_all: None, keep_last: counts[0], keep_hourly: counts[1],
            keep_daily: counts[2], keep_weekly: counts[3], keep_monthly: counts[4],
            keep_yearly: counts[5], extra };
        round_trips(&v)?;
    }

    #[test]
    fn memory_agent_cpu_vga_boot_smbios_round_trip(mib in 16u64..1 << 24, en in any::<bool>(),
            fstrim in prop::option::of(any::<bool>()), cpu in word(), vga in prop::option::of(word()),
            vmem in prop::option::of(1u32..512), order in prop::collection::vec("(scsi|net|ide)[0-9]", 0..4),
            uuid in prop::option::of("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
            extra in extra()) {
        round_trips(&Memory { current: mib, extra: extra.clone() })?;
        round_trips(&Agent { enabled: en, fstrim_cloned_disks: fstrim, agent_type: None, extra: extra.clone() })?;
        round_trips(&Cpu { cputype: cpu, flags: None, hidden: None, extra: extra.clone() })?;
        round_trips(&Vga { vga_type: vga, memory: vmem, clipboard: None, extra: extra.clone() })?;
        round_trips(&Boot { order: Some(order), legacy: None, extra: extra.clone() })?;
        round_trips(&Smbios1 { uuid, base64: None, extra })?;
    }

    #[test]
    fn efidisk_and_tpmstate_round_trip(vol in word(), s in prop::option::of(size()), extra in extra()) {
        round_trips(&EfiDisk { file: format!("local-lvm:{vol}"), efitype: Some("4m".into()),
            pre_enrolled_keys: Some(true), format: None, size: s, extra: extra.clone() })?;
        round_trips(&TpmState { file: format!("local-lvm:{vol}"), version: Some("v2.0".into()), size: s, extra })?;
    }

    #[test]
    fn disk_size_round_trips(n in any::<u64>()) {
        let s = DiskSize(n).to_string();
        prop_assert_eq!(s.parse::<DiskSize>().map_err(|e| TestCaseError::fail(e.to_string()))?, DiskSize(n));
    }

    #[test]
    fn arbitrary_input_never_panics_and_reaches_a_fixed_point(s in "[a-z0-9=,:;./+-]{0,40}") {
        fixed_point::<NetDevice>(&s)?;
        fixed_point::<Drive>(&s)?;
        fixed_point::<EfiDisk>(&s)?;
        fixed_point::<TpmState>(&s)?;
        fixed_point::<IpConfig>(&s)?;
        fixed_point::<Memory>(&s)?;
        fixed_point::<Agent>(&s)?;
        fixed_point::<Cpu>(&s)?;
        fixed_point::<Vga>(&s)?;
        fixed_point::<Boot>(&s)?;
        fixed_point::<Smbios1>(&s)?;
        fixed_point::<LxcMount>(&s)?;
        fixed_point::<LxcNet>(&s)?;
        let _ = s.parse::<Serial>();
    }
}
