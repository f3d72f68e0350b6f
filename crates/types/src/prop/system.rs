//! QEMU machine-level property strings: `memory`, `agent`, `cpu`, `serialN`, `vga`, `boot`,
//! `smbios1`.

use std::fmt;
use std::str::FromStr;

use super::{Extra, Fields, PropError, Writer, invalid, prop_string_impls};

/// `memory`: `[current=]<MiB>` (a property string since PVE 8.x).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    pub current: u64,
    pub extra: Extra,
}

impl Memory {
    pub fn mib(current: u64) -> Self {
        Self { current, extra: Vec::new() }
    }
    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("current"))?;
        let v = f.take_default("current").ok_or(PropError::Missing("current"))?;
        let current =
            v.parse().map_err(|_| invalid("current", &v, "expected MiB as an integer"))?;
        Ok(Self { current, extra: f.rest() })
    }
    fn write_to(&self, w: &mut Writer) {
        w.raw(self.current).extra(&self.extra);
    }
}
prop_string_impls!(Memory);

/// `agent`: `[enabled=]<1|0>[,fstrim_cloned_disks=<1|0>][,type=<virtio|isa>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub enabled: bool,
    pub fstrim_cloned_disks: Option<bool>,
    pub agent_type: Option<String>,
    pub extra: Extra,
}

impl Agent {
    pub fn enabled() -> Self {
        Self { enabled: true, fstrim_cloned_disks: None, agent_type: None, extra: Vec::new() }
    }
    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("enabled"))?;
        let v = f.take_default("enabled").ok_or(PropError::Missing("enabled"))?;
        Ok(Self {
            enabled: super::parse_bool("enabled", &v)?,
            fstrim_cloned_disks: f.take_bool("fstrim_cloned_disks")?,
            agent_type: f.take("type"),
            extra: f.rest(),
        })
    }
    fn write_to(&self, w: &mut Writer) {
        w.raw(u8::from(self.enabled))
            .opt_bool("fstrim_cloned_disks", self.fstrim_cloned_disks)
            .opt("type", &self.agent_type)
            .extra(&self.extra);
    }
}
prop_string_impls!(Agent);

/// `cpu`: `[cputype=]<type>[,flags=<+f;-g>][,hidden=<1|0>]...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpu {
    pub cputype: String,
    pub flags: Option<String>,
    pub hidden: Option<bool>,
    pub extra: Extra,
}

impl Cpu {
    pub fn of_type(t: impl Into<String>) -> Self {
        Self { cputype: t.into(), flags: None, hidden: None, extra: Vec::new() }
    }
    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("cputype"))?;
        Ok(Self {
            cputype: f.take_default("cputype").ok_or(PropError::Missing("cputype"))?,
            flags: f.take("flags"),
            hidden: f.take_bool("hidden")?,
            extra: f.rest(),
        })
    }
    fn write_to(&self, w: &mut Writer) {
        w.positional("cputype", &self.cputype)
            .opt("flags", &self.flags)
            .opt_bool("hidden", self.hidden)
            .extra(&self.extra);
    }
}
prop_string_impls!(Cpu);

/// `serialN`: `socket` or a host device path `/dev/...`. Not a key=value string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serial {
    Socket,
    Device(String),
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Serial::Socket => f.write_str("socket"),
            Serial::Device(d) => f.write_str(d),
        }
    }
}

impl FromStr for Serial {
    type Err = PropError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "socket" {
            Ok(Serial::Socket)
        } else if s.starts_with("/dev/") && s.len() > 5 && !s.contains(',') {
            Ok(Serial::Device(s.to_string()))
        } else {
            Err(invalid("serial", s, "expected 'socket' or a /dev/ path"))
        }
    }
}

/// `vga`: `[type=]<std|serial0|virtio|qxl|none|...>[,memory=<MiB>][,clipboard=vnc]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vga {
    pub vga_type: Option<String>,
    pub memory: Option<u32>,
    pub clipboard: Option<String>,
    pub extra: Extra,
}

impl Vga {
    pub fn of_type(t: impl Into<String>) -> Self {
        Self { vga_type: Some(t.into()), memory: None, clipboard: None, extra: Vec::new() }
    }
    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("type"))?;
        Ok(Self {
            vga_type: f.take_default("type"),
            memory: f.take_parse("memory")?,
            clipboard: f.take("clipboard"),
            extra: f.rest(),
        })
    }
    fn write_to(&self, w: &mut Writer) {
        if let Some(t) = &self.vga_type {
            w.positional("type", t);
        }
        w.opt("memory", &self.memory).opt("clipboard", &self.clipboard).extra(&self.extra);
    }
}
prop_string_impls!(Vga);

/// `boot`: `order=scsi0;ide2;net0`, or a legacy drive-letter string such as `cdn`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Boot {
    pub order: Option<Vec<String>>,
    pub legacy: Option<String>,
    pub extra: Extra,
}

impl Boot {
    pub fn order<I: IntoIterator<Item = S>, S: Into<String>>(devs: I) -> Self {
        Self { order: Some(devs.into_iter().map(Into::into).collect()), ..Self::default() }
    }
    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("legacy"))?;
        let order = f
            .take("order")
            .map(|o| o.split(';').filter(|d| !d.is_empty()).map(String::from).collect());
        Ok(Self { order, legacy: f.take_default("legacy"), extra: f.rest() })
    }
    fn write_to(&self, w: &mut Writer) {
        if let Some(l) = &self.legacy {
            w.positional("legacy", l);
        }
        if let Some(o) = &self.order {
            w.kv("order", o.join(";"));
        }
        w.extra(&self.extra);
    }
}
prop_string_impls!(Boot);

/// `smbios1`: `uuid=...[,base64=1][,manufacturer=...]...`; other fields are kept in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Smbios1 {
    pub uuid: Option<String>,
    pub base64: Option<bool>,
    pub extra: Extra,
}

impl Smbios1 {
    pub fn with_uuid(uuid: impl Into<String>) -> Self {
        Self { uuid: Some(uuid.into()), ..Self::default() }
    }
    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, None)?;
        Ok(Self { uuid: f.take("uuid"), base64: f.take_bool("base64")?, extra: f.rest() })
    }
    fn write_to(&self, w: &mut Writer) {
        w.opt("uuid", &self.uuid).opt_bool("base64", self.base64).extra(&self.extra);
    }
}
prop_string_impls!(Smbios1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_accepts_bare_and_keyed_forms() {
        assert_eq!("2048".parse::<Memory>().unwrap(), Memory::mib(2048));
        assert_eq!("current=2048".parse::<Memory>().unwrap().to_string(), "2048");
        assert!("lots".parse::<Memory>().is_err());
    }

    #[test]
    fn agent_reads_plain_one_and_options() {
        assert!("1".parse::<Agent>().unwrap().enabled);
        let a: Agent = "enabled=1,fstrim_cloned_disks=1".parse().unwrap();
        assert_eq!(a.to_string(), "1,fstrim_cloned_disks=1");
        assert!(!"0".parse::<Agent>().unwrap().enabled);
    }

    #[test]
    fn boot_order_keeps_device_order() {
        let b: Boot = "order=scsi0;ide2;net0".parse().unwrap();
        assert_eq!(b.order.as_deref().unwrap(), ["scsi0", "ide2", "net0"]);
        assert_eq!(b.to_string(), "order=scsi0;ide2;net0");
        assert_eq!("cdn".parse::<Boot>().unwrap().legacy.as_deref(), Some("cdn"));
    }

    #[test]
    fn cpu_vga_serial_smbios_parse() {
        assert_eq!("host,flags=+aes".parse::<Cpu>().unwrap().cputype, "host");
        assert_eq!("serial0".parse::<Vga>().unwrap().vga_type.as_deref(), Some("serial0"));
        assert_eq!("socket".parse::<Serial>().unwrap(), Serial::Socket);
        assert!("tcp:1".parse::<Serial>().is_err());
        let s: Smbios1 = "uuid=5b2b0f3e-0000-4000-8000-000000000001,manufacturer=QUNNRQ==,base64=1"
            .parse()
            .unwrap();
        assert_eq!(s.base64, Some(true));
        assert_eq!(s.extra.len(), 1);
    }
}
