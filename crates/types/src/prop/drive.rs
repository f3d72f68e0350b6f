//! QEMU disks: `scsiN`/`virtioN`/`sataN`/`ideN`, `efidisk0`, `tpmstate0`, and the slot names.

use std::fmt;
use std::str::FromStr;

use super::{Extra, Fields, PropError, Writer, invalid, prop_string_impls};
use crate::wire::DiskSize;

/// A disk slot, bounded as PVE bounds them: ide0–3, sata0–5, scsi0–30, virtio0–15, unused0–255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriveSlot {
    Ide(u8),
    Sata(u8),
    Scsi(u8),
    Virtio(u8),
    EfiDisk0,
    TpmState0,
    Unused(u8),
}

impl DriveSlot {
    /// All bus slots that hold a `Drive` (not efidisk/tpmstate/unused), in PVE's boot order.
    pub fn bus_slots() -> impl Iterator<Item = DriveSlot> {
        (0..4u8)
            .map(DriveSlot::Ide)
            .chain((0..6).map(DriveSlot::Sata))
            .chain((0..31).map(DriveSlot::Scsi))
            .chain((0..16).map(DriveSlot::Virtio))
    }

    pub fn is_bus(self) -> bool {
        matches!(self, Self::Ide(_) | Self::Sata(_) | Self::Scsi(_) | Self::Virtio(_))
    }
}

impl fmt::Display for DriveSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ide(n) => write!(f, "ide{n}"),
            Self::Sata(n) => write!(f, "sata{n}"),
            Self::Scsi(n) => write!(f, "scsi{n}"),
            Self::Virtio(n) => write!(f, "virtio{n}"),
            Self::EfiDisk0 => f.write_str("efidisk0"),
            Self::TpmState0 => f.write_str("tpmstate0"),
            Self::Unused(n) => write!(f, "unused{n}"),
        }
    }
}

impl FromStr for DriveSlot {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("'{s}' is not a disk slot");
        match s {
            "efidisk0" => return Ok(Self::EfiDisk0),
            "tpmstate0" => return Ok(Self::TpmState0),
            _ => {}
        }
        let split = s.find(|c: char| c.is_ascii_digit()).ok_or_else(err)?;
        let (bus, num) = s.split_at(split);
        if num.len() > 1 && num.starts_with('0') {
            return Err(err());
        }
        let n: u16 = num.parse().map_err(|_| err())?;
        let (max, ctor): (u16, fn(u8) -> DriveSlot) = match bus {
            "ide" => (3, Self::Ide),
            "sata" => (5, Self::Sata),
            "scsi" => (30, Self::Scsi),
            "virtio" => (15, Self::Virtio),
            "unused" => (255, Self::Unused),
            _ => return Err(err()),
        };
        if n > max {
            return Err(err());
        }
        u8::try_from(n).map(ctor).map_err(|_| err())
    }
}

/// `media=disk|cdrom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Media {
    Disk,
    Cdrom,
}

impl fmt::Display for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Media::Disk => "disk",
            Media::Cdrom => "cdrom",
        })
    }
}

impl FromStr for Media {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disk" => Ok(Media::Disk),
            "cdrom" => Ok(Media::Cdrom),
            o => Err(format!("'{o}' is not disk or cdrom")),
        }
    }
}

/// A disk on a bus slot. `file` is a volume ID, `<storage>:<size-in-GiB>` on create, `none`
/// or `cdrom`, or `<storage>:cloudinit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    pub file: String,
    pub media: Option<Media>,
    pub size: Option<DiskSize>,
    pub format: Option<String>,
    pub cache: Option<String>,
    pub discard: Option<String>,
    pub iothread: Option<bool>,
    pub ssd: Option<bool>,
    pub backup: Option<bool>,
    pub replicate: Option<bool>,
    pub ro: Option<bool>,
    pub import_from: Option<String>,
    pub serial: Option<String>,
    pub extra: Extra,
}

impl Drive {
    pub fn new(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            media: None,
            size: None,
            format: None,
            cache: None,
            discard: None,
            iothread: None,
            ssd: None,
            backup: None,
            replicate: None,
            ro: None,
            import_from: None,
            serial: None,
            extra: Vec::new(),
        }
    }

    pub fn is_cdrom(&self) -> bool {
        self.media == Some(Media::Cdrom) || self.file == "cdrom" || self.is_cloudinit()
    }

    /// A cloud-init drive: `<storage>:cloudinit` on create, `...vm-<id>-cloudinit...` after.
    pub fn is_cloudinit(&self) -> bool {
        self.file.ends_with(":cloudinit") || self.file.contains("-cloudinit")
    }

    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("file"))?;
        let file = f.take_default("file").ok_or(PropError::Missing("file"))?;
        Ok(Self {
            file,
            media: f.take_parse("media")?,
            size: f.take_parse("size")?,
            format: f.take("format"),
            cache: f.take("cache"),
            discard: f.take("discard"),
            iothread: f.take_bool("iothread")?,
            ssd: f.take_bool("ssd")?,
            backup: f.take_bool("backup")?,
            replicate: f.take_bool("replicate")?,
            ro: f.take_bool("ro")?,
            import_from: f.take("import-from"),
            serial: f.take("serial"),
            extra: f.rest(),
        })
    }

    fn write_to(&self, w: &mut Writer) {
        w.positional("file", &self.file)
            .opt("media", &self.media)
            .opt("format", &self.format)
            .opt("cache", &self.cache)
            .opt("discard", &self.discard)
            .opt("import-from", &self.import_from)
            .opt_bool("iothread", self.iothread)
            .opt_bool("ssd", self.ssd)
            .opt_bool("backup", self.backup)
            .opt_bool("replicate", self.replicate)
            .opt_bool("ro", self.ro)
            .opt("serial", &self.serial)
            .opt("size", &self.size)
            .extra(&self.extra);
    }
}

prop_string_impls!(Drive);

/// `efidisk0`: the UEFI vars disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfiDisk {
    pub file: String,
    pub efitype: Option<String>,
    pub pre_enrolled_keys: Option<bool>,
    pub format: Option<String>,
    pub size: Option<DiskSize>,
    pub extra: Extra,
}

impl EfiDisk {
    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("file"))?;
        let file = f.take_default("file").ok_or(PropError::Missing("file"))?;
        let efitype = f.take("efitype");
        if let Some(t) = &efitype
            && t != "2m"
            && t != "4m"
        {
            return Err(invalid("efitype", t, "expected 2m or 4m"));
        }
        Ok(Self {
            file,
            efitype,
            pre_enrolled_keys: f.take_bool("pre-enrolled-keys")?,
            format: f.take("format"),
            size: f.take_parse("size")?,
            extra: f.rest(),
        })
    }

    fn write_to(&self, w: &mut Writer) {
        w.positional("file", &self.file)
            .opt("efitype", &self.efitype)
            .opt("format", &self.format)
            .opt_bool("pre-enrolled-keys", self.pre_enrolled_keys)
            .opt("size", &self.size)
            .extra(&self.extra);
    }
}

prop_string_impls!(EfiDisk);

/// `tpmstate0`: the TPM state volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmState {
    pub file: String,
    pub version: Option<String>,
    pub size: Option<DiskSize>,
    pub extra: Extra,
}

impl TpmState {
    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("file"))?;
        let file = f.take_default("file").ok_or(PropError::Missing("file"))?;
        let version = f.take("version");
        if let Some(v) = &version
            && v != "v1.2"
            && v != "v2.0"
        {
            return Err(invalid("version", v, "expected v1.2 or v2.0"));
        }
        Ok(Self { file, version, size: f.take_parse("size")?, extra: f.rest() })
    }

    fn write_to(&self, w: &mut Writer) {
        w.positional("file", &self.file)
            .opt("version", &self.version)
            .opt("size", &self.size)
            .extra(&self.extra);
    }
}

prop_string_impls!(TpmState);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_config_form_pve_writes_after_create() {
        let d: Drive = "local-lvm:vm-100-disk-0,iothread=1,size=32G".parse().unwrap();
        assert_eq!(d.file, "local-lvm:vm-100-disk-0");
        assert_eq!(d.size, Some(DiskSize::gib(32)));
        assert_eq!(d.iothread, Some(true));
        assert_eq!(d.to_string(), "local-lvm:vm-100-disk-0,iothread=1,size=32G");
    }

    #[test]
    fn parses_import_from_and_cloudinit_and_cdrom() {
        let d: Drive = "local-lvm:0,import-from=local:import/debian.qcow2".parse().unwrap();
        assert_eq!(d.import_from.as_deref(), Some("local:import/debian.qcow2"));
        let ci: Drive = "local-lvm:vm-100-cloudinit,media=cdrom".parse().unwrap();
        assert!(ci.is_cloudinit() && ci.is_cdrom());
        let iso: Drive = "file=local:iso/x.iso,media=cdrom".parse().unwrap();
        assert_eq!(iso.file, "local:iso/x.iso");
    }

    #[test]
    fn rejects_two_positional_values_and_bad_media() {
        assert!("a:1,b:2".parse::<Drive>().is_err());
        assert!("a:1,media=floppy".parse::<Drive>().is_err());
        assert!("a:1,file=b:2".parse::<Drive>().is_err());
    }

    #[test]
    fn drive_slots_are_bounded_like_pve() {
        assert_eq!("scsi30".parse::<DriveSlot>().unwrap(), DriveSlot::Scsi(30));
        assert!("scsi31".parse::<DriveSlot>().is_err());
        assert!("ide4".parse::<DriveSlot>().is_err());
        assert!("virtio16".parse::<DriveSlot>().is_err());
        assert!("scsi01".parse::<DriveSlot>().is_err());
        assert_eq!("efidisk0".parse::<DriveSlot>().unwrap().to_string(), "efidisk0");
        assert_eq!(DriveSlot::bus_slots().count(), 4 + 6 + 31 + 16);
    }

    #[test]
    fn efidisk_and_tpmstate_round_trip() {
        let e: EfiDisk =
            "local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M".parse().unwrap();
        assert_eq!(e.to_string(), "local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M");
        let t: TpmState = "local-lvm:vm-100-disk-2,size=4M,version=v2.0".parse().unwrap();
        assert_eq!(t.to_string(), "local-lvm:vm-100-disk-2,version=v2.0,size=4M");
        assert!("x:1,efitype=8m".parse::<EfiDisk>().is_err());
    }
}
