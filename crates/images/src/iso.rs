//! A minimal ISO 9660 writer for cloud-init NoCloud seeds: one root directory of small files,
//! a primary volume descriptor (8.3 names) and a Joliet supplementary descriptor (the real
//! names, such as `user-data`, which Linux mounts by preference). Deterministic: the same files
//! and volume id give the same bytes, so a seed's hash says whether it changed.

const SECTOR: usize = 2048;

fn both_u32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

fn both_u16(v: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&v.to_le_bytes());
    b[2..].copy_from_slice(&v.to_be_bytes());
    b
}

/// A fixed recording date: the seed's bytes depend only on its content.
const DIR_DATE: [u8; 7] = [126, 1, 1, 0, 0, 0, 0];
const VOL_DATE: &[u8; 17] = b"2026010100000000\0";

fn dir_record(name: &[u8], extent: u32, size: u32, dir: bool) -> Vec<u8> {
    let len = 33 + name.len() + usize::from(name.len() % 2 == 0);
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    r[2..10].copy_from_slice(&both_u32(extent));
    r[10..18].copy_from_slice(&both_u32(size));
    r[18..25].copy_from_slice(&DIR_DATE);
    r[25] = if dir { 2 } else { 0 };
    r[28..32].copy_from_slice(&both_u16(1));
    r[32] = name.len() as u8;
    r[33..33 + name.len()].copy_from_slice(name);
    r
}

/// `user-data` → `USER_DAT.;1`: ISO 9660 level 1 for readers without Joliet.
fn iso_name(name: &str, taken: &mut Vec<String>) -> Vec<u8> {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
            .take(n)
            .collect()
    };
    let mut base = clean(stem, 8);
    let ext = clean(ext, 3);
    let mut n = 1;
    while taken.contains(&base) {
        let suffix = n.to_string();
        base = format!("{}{suffix}", &clean(stem, 8 - suffix.len()));
        n += 1;
    }
    taken.push(base.clone());
    format!("{base}.{ext};1").into_bytes()
}

fn ucs2(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

fn padded(text: &[u8], len: usize, fill: &[u8]) -> Vec<u8> {
    let mut v = text[..text.len().min(len)].to_vec();
    while v.len() < len {
        v.extend_from_slice(fill);
    }
    v.truncate(len);
    v
}

struct Layout {
    root: u32,
    root_size: u32,
    path_l: u32,
    path_m: u32,
}

fn volume_descriptor(joliet: bool, volume_id: &str, total: u32, l: &Layout) -> Vec<u8> {
    let mut d = vec![0u8; SECTOR];
    d[0] = if joliet { 2 } else { 1 };
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    // Joliet text is UCS-2 big-endian, padded with UCS-2 spaces.
    let text = |s: &str| if joliet { ucs2(s) } else { s.as_bytes().to_vec() };
    let fill: &[u8] = if joliet { &[0, 0x20] } else { b" " };
    d[8..40].copy_from_slice(&padded(&text(""), 32, fill));
    d[40..72].copy_from_slice(&padded(&text(volume_id), 32, fill));
    d[80..88].copy_from_slice(&both_u32(total));
    if joliet {
        d[88..91].copy_from_slice(b"%/E"); // UCS-2 level 3
    }
    d[120..124].copy_from_slice(&both_u16(1));
    d[124..128].copy_from_slice(&both_u16(1));
    d[128..132].copy_from_slice(&both_u16(SECTOR as u16));
    d[132..140].copy_from_slice(&both_u32(10));
    d[140..144].copy_from_slice(&l.path_l.to_le_bytes());
    d[148..152].copy_from_slice(&l.path_m.to_be_bytes());
    let root = dir_record(&[0], l.root, l.root_size, true);
    d[156..190].copy_from_slice(&root);
    for (from, to) in [(190, 318), (318, 446), (446, 574), (574, 702)] {
        d[from..to].copy_from_slice(&padded(&text(""), to - from, fill));
    }
    for (from, to) in [(702, 739), (739, 776), (776, 813)] {
        d[from..to].copy_from_slice(&padded(&text(""), to - from, fill));
    }
    for at in [813, 830, 864] {
        d[at..at + 17].copy_from_slice(VOL_DATE);
    }
    d[847..863].copy_from_slice(b"0000000000000000");
    d[881] = 1;
    d
}

fn path_table(extent: u32, big_endian: bool) -> Vec<u8> {
    let mut t = vec![0u8; SECTOR];
    t[0] = 1;
    let (loc, parent) = if big_endian {
        (extent.to_be_bytes(), 1u16.to_be_bytes())
    } else {
        (extent.to_le_bytes(), 1u16.to_le_bytes())
    };
    t[2..6].copy_from_slice(&loc);
    t[6..8].copy_from_slice(&parent);
    t
}

fn sectors(len: usize) -> u32 {
    u32::try_from(len.div_ceil(SECTOR).max(1)).unwrap_or(u32::MAX)
}

/// An ISO image holding `files` (name, content) in its root, labelled `volume_id`.
/// Files are recorded in name order, as ISO 9660 requires of directory records, so the same
/// set of files gives the same image whatever order the caller lists them in.
pub fn build(volume_id: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut files = files.to_vec();
    files.sort_by_key(|(name, _)| *name);
    // Sectors: 16 descriptors PVD, 17 Joliet, 18 terminator, 19-22 path tables, 23 and 24 the
    // two root directories (one sector is plenty for a seed's few files), then file data.
    let (pvd_root, joliet_root) = (23u32, 24u32);
    let mut next = 25u32;
    let extents: Vec<u32> = files
        .iter()
        .map(|(_, data)| {
            let at = next;
            next += sectors(data.len());
            at
        })
        .collect();
    let total = next;
    let mut taken = Vec::new();
    let mut dirs = [Vec::new(), Vec::new()];
    for (i, root) in [pvd_root, joliet_root].into_iter().enumerate() {
        dirs[i].extend(dir_record(&[0], root, SECTOR as u32, true));
        dirs[i].extend(dir_record(&[1], root, SECTOR as u32, true));
    }
    for ((name, data), extent) in files.iter().zip(&extents) {
        let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
        dirs[0].extend(dir_record(&iso_name(name, &mut taken), *extent, size, false));
        dirs[1].extend(dir_record(&ucs2(name), *extent, size, false));
    }
    let mut out = vec![0u8; SECTOR * 16];
    let pvd_layout = Layout { root: pvd_root, root_size: SECTOR as u32, path_l: 19, path_m: 20 };
    let joliet_layout =
        Layout { root: joliet_root, root_size: SECTOR as u32, path_l: 21, path_m: 22 };
    out.extend(volume_descriptor(false, volume_id, total, &pvd_layout));
    out.extend(volume_descriptor(true, volume_id, total, &joliet_layout));
    let mut term = vec![0u8; SECTOR];
    term[0] = 255;
    term[1..6].copy_from_slice(b"CD001");
    term[6] = 1;
    out.extend(term);
    out.extend(path_table(pvd_root, false));
    out.extend(path_table(pvd_root, true));
    out.extend(path_table(joliet_root, false));
    out.extend(path_table(joliet_root, true));
    for d in &dirs {
        out.extend(padded(d, SECTOR, &[0]));
    }
    for (_, data) in &files {
        out.extend_from_slice(data);
        let pad = (SECTOR - data.len() % SECTOR) % SECTOR;
        out.extend(std::iter::repeat_n(0u8, if data.is_empty() { SECTOR } else { pad }));
    }
    out
}

/// Read back the files of an ISO made by [`build`], by their Joliet names (used by tests and
/// by `cloudinit render` to check what it wrote).
pub fn read_joliet(iso: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let svd = iso.get(17 * SECTOR..18 * SECTOR)?;
    if svd[0] != 2 || &svd[1..6] != b"CD001" || &svd[88..91] != b"%/E" {
        return None;
    }
    let root = &svd[156..190];
    let extent = u32::from_le_bytes(root[2..6].try_into().ok()?) as usize;
    let size = u32::from_le_bytes(root[10..14].try_into().ok()?) as usize;
    let dir = iso.get(extent * SECTOR..extent * SECTOR + size)?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < dir.len() && dir[at] != 0 {
        let len = dir[at] as usize;
        let rec = dir.get(at..at + len)?;
        let name_len = rec[32] as usize;
        let name = &rec[33..33 + name_len];
        if name_len > 1 {
            let units: Vec<u16> =
                name.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            let name = String::from_utf16(&units).ok()?;
            let ext = u32::from_le_bytes(rec[2..6].try_into().ok()?) as usize;
            let sz = u32::from_le_bytes(rec[10..14].try_into().ok()?) as usize;
            out.push((name, iso.get(ext * SECTOR..ext * SECTOR + sz)?.to_vec()));
        }
        at += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_read_back_by_their_joliet_names_and_the_image_is_deterministic() {
        let files: &[(&str, &[u8])] = &[
            ("meta-data", b"instance-id: i-1\n"),
            ("user-data", b"#cloud-config\nhostname: web-1\n"),
            ("network-config", b"version: 2\n"),
        ];
        let iso = build("cidata", files);
        assert_eq!(iso.len() % SECTOR, 0);
        assert_eq!(&iso[16 * SECTOR + 1..16 * SECTOR + 6], b"CD001");
        assert_eq!(&iso[16 * SECTOR + 40..16 * SECTOR + 46], b"cidata");
        let back = read_joliet(&iso).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["meta-data", "network-config", "user-data"], "in name order");
        assert_eq!(back[2].1, files[1].1);
        assert_eq!(build("cidata", files), iso, "same input, same bytes");
    }

    #[test]
    fn short_names_are_unique_8_3_uppercase() {
        let mut taken = Vec::new();
        assert_eq!(iso_name("user-data", &mut taken), b"USER_DAT.;1");
        assert_eq!(iso_name("network-config", &mut taken), b"NETWORK_.;1");
        assert_eq!(iso_name("network-config2", &mut taken), b"NETWORK1.;1");
    }
}
