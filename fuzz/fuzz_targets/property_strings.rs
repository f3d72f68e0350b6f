//! Fuzz target: every property-string parser must never panic, and whatever parses must print
//! to a string that parses back to the same value.

#![no_main]

use std::fmt::Display;
use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use proxctl_types::prop::*;
use proxctl_types::wire::{DiskSize, ResizeTo};

fn round_trip<T>(s: &str)
where
    T: FromStr + Display + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = s.parse::<T>() {
        let printed = v.to_string();
        match printed.parse::<T>() {
            Ok(back) => assert_eq!(back, v, "{s:?} printed as {printed:?}"),
            Err(_) => panic!("{s:?} printed as {printed:?}, which does not parse"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    round_trip::<NetDevice>(s);
    round_trip::<Drive>(s);
    round_trip::<EfiDisk>(s);
    round_trip::<TpmState>(s);
    round_trip::<IpConfig>(s);
    round_trip::<Memory>(s);
    round_trip::<Agent>(s);
    round_trip::<Cpu>(s);
    round_trip::<Vga>(s);
    round_trip::<Boot>(s);
    round_trip::<Smbios1>(s);
    round_trip::<Serial>(s);
    round_trip::<LxcMount>(s);
    round_trip::<LxcNet>(s);
    round_trip::<DriveSlot>(s);
    round_trip::<DiskSize>(s);
    let _ = s.parse::<ResizeTo>();
});
