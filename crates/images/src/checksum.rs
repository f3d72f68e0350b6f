//! Every checksum file format the catalog uses, parsed to "the hash of this file name".
//! Distros publish: GNU `sha256sum` lines (`HASH  FILE`, `*FILE` for binary mode), BSD tags
//! (`SHA256 (FILE) = HASH`), Fedora's CHECKSUM (BSD lines inside a PGP signed message), and
//! single-hash files (just `HASH`, or `HASH  FILE`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumFormat {
    GnuSha256,
    GnuSha512,
    BsdSha256,
    BsdSha512,
    FedoraChecksum,
    SingleSha256,
    SingleSha512,
    /// Published on the index page (or stream metadata) beside the link, not in a file.
    IndexSha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

impl ChecksumFormat {
    pub fn algorithm(self) -> Algorithm {
        match self {
            ChecksumFormat::GnuSha512
            | ChecksumFormat::BsdSha512
            | ChecksumFormat::SingleSha512 => Algorithm::Sha512,
            _ => Algorithm::Sha256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    #[error("the checksum file lists no {algorithm:?} hash for {file}")]
    NotListed { file: String, algorithm: Algorithm },
    #[error("the checksum file is not in the {0:?} format")]
    Malformed(ChecksumFormat),
    #[error("the {0:?} format has no checksum file; give the hash with --sha256")]
    NoFile(ChecksumFormat),
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The lowercase hex hash `text` gives for `file` (a bare file name).
pub fn find(format: ChecksumFormat, text: &str, file: &str) -> Result<String, ChecksumError> {
    let alg = format.algorithm();
    let len = alg.hex_len();
    let not_listed = || ChecksumError::NotListed { file: file.to_string(), algorithm: alg };
    match format {
        ChecksumFormat::GnuSha256 | ChecksumFormat::GnuSha512 => {
            for line in text.lines() {
                let Some((hash, name)) = line.trim().split_once(char::is_whitespace) else {
                    continue;
                };
                let name = name.trim_start().trim_start_matches('*').trim_start_matches("./");
                if name == file && is_hex(hash, len) {
                    return Ok(hash.to_ascii_lowercase());
                }
            }
            Err(not_listed())
        }
        ChecksumFormat::BsdSha256 | ChecksumFormat::BsdSha512 | ChecksumFormat::FedoraChecksum => {
            let tag = if alg == Algorithm::Sha512 { "SHA512" } else { "SHA256" };
            for line in text.lines() {
                let l = line.trim();
                let Some(rest) = l.strip_prefix(tag) else { continue };
                let Some((name, hash)) = rest.trim_start().split_once(") = ") else { continue };
                let name = name.trim_start_matches('(');
                if name == file && is_hex(hash.trim(), len) {
                    return Ok(hash.trim().to_ascii_lowercase());
                }
            }
            Err(not_listed())
        }
        ChecksumFormat::SingleSha256 | ChecksumFormat::SingleSha512 => {
            let first = text.split_whitespace().next().ok_or(ChecksumError::Malformed(format))?;
            if !is_hex(first, len) {
                return Err(ChecksumError::Malformed(format));
            }
            // When the line names a file, it must be ours.
            match text.split_whitespace().nth(1).map(|n| n.trim_start_matches('*')) {
                Some(name) if name != file && !name.ends_with(&format!("/{file}")) => {
                    Err(not_listed())
                }
                _ => Ok(first.to_ascii_lowercase()),
            }
        }
        ChecksumFormat::IndexSha256 => Err(ChecksumError::NoFile(format)),
    }
}

/// How far after the file name a hash on an index page may be, in bytes: a table row or a JSON
/// artifact object, not the next entry's.
const BESIDE_WINDOW: usize = 2048;

/// The hash an index page gives beside `file` (Oracle's templates page, Fedora CoreOS's stream
/// metadata): the first run of exactly `algorithm`'s hex length after the file's first
/// mention, within a table row's or JSON object's reach.
pub fn beside(text: &str, file: &str, algorithm: Algorithm) -> Result<String, ChecksumError> {
    let not_listed = || ChecksumError::NotListed { file: file.to_string(), algorithm };
    let at = text.find(file).ok_or_else(not_listed)? + file.len();
    let mut end = (at + BESIDE_WINDOW).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[at..end]
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|run| run.len() == algorithm.hex_len())
        .map(str::to_ascii_lowercase)
        .ok_or_else(not_listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn gnu_lines_match_by_name_in_text_and_binary_mode() {
        let text =
            format!("{}  other.img\n{H256} *debian-12-genericcloud-amd64.qcow2\n", "0".repeat(64));
        assert_eq!(
            find(ChecksumFormat::GnuSha256, &text, "debian-12-genericcloud-amd64.qcow2").unwrap(),
            H256
        );
        assert!(find(ChecksumFormat::GnuSha256, &text, "missing.img").is_err());
    }

    #[test]
    fn gnu_sha512_needs_a_512_bit_hash() {
        let h512 = "a".repeat(128);
        let text = format!("{h512}  debian.qcow2\n{H256}  short.qcow2\n");
        assert_eq!(find(ChecksumFormat::GnuSha512, &text, "debian.qcow2").unwrap(), h512);
        assert!(find(ChecksumFormat::GnuSha512, &text, "short.qcow2").is_err());
    }

    #[test]
    fn bsd_tags_and_fedora_signed_checksum_files_parse() {
        let bsd = format!("SHA256 (Rocky-9-GenericCloud-Base.latest.x86_64.qcow2) = {H256}\n");
        assert_eq!(
            find(ChecksumFormat::BsdSha256, &bsd, "Rocky-9-GenericCloud-Base.latest.x86_64.qcow2")
                .unwrap(),
            H256
        );
        let fedora = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# Fedora-Cloud-Base-Generic-43-1.6.x86_64.qcow2: 123 bytes\n\
             SHA256 (Fedora-Cloud-Base-Generic-43-1.6.x86_64.qcow2) = {}\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n",
            H256.to_uppercase()
        );
        assert_eq!(
            find(
                ChecksumFormat::FedoraChecksum,
                &fedora,
                "Fedora-Cloud-Base-Generic-43-1.6.x86_64.qcow2"
            )
            .unwrap(),
            H256
        );
    }

    #[test]
    fn single_hash_files_with_or_without_a_name() {
        assert_eq!(
            find(ChecksumFormat::SingleSha256, &format!("{H256}\n"), "x.qcow2").unwrap(),
            H256
        );
        assert_eq!(
            find(ChecksumFormat::SingleSha256, &format!("{H256}  x.qcow2\n"), "x.qcow2").unwrap(),
            H256
        );
        assert!(
            find(ChecksumFormat::SingleSha256, &format!("{H256}  y.qcow2\n"), "x.qcow2").is_err()
        );
        assert!(
            find(ChecksumFormat::SingleSha512, &format!("{H256}\n"), "x").is_err(),
            "too short"
        );
        assert!(find(ChecksumFormat::SingleSha256, "<html>not found</html>", "x").is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_checksum_text_makes_the_parsers_panic(text in ".{0,400}", file in "[a-z.]{1,20}") {
            for f in [ChecksumFormat::GnuSha256, ChecksumFormat::BsdSha512, ChecksumFormat::FedoraChecksum, ChecksumFormat::SingleSha256] {
                let _ = find(f, &text, &file);
            }
        }
    }

    #[test]
    fn a_hash_beside_the_link_on_an_index_page_is_found_and_the_next_rows_is_not() {
        let h1 = "a".repeat(64);
        let h2 = "b".repeat(64);
        let html = format!(
            "<tr><td><a href=\"https://x/OL9U6_x86_64-kvm-b265.qcow2\">OL9U6_x86_64-kvm-b265.qcow2</a></td>\
             <td>1.1 GB</td><td><tt>{h1}</tt></td></tr><tr><td>OL9U5.qcow2</td><td>{h2}</td></tr>"
        );
        assert_eq!(beside(&html, "OL9U6_x86_64-kvm-b265.qcow2", Algorithm::Sha256).unwrap(), h1);
        let json = format!(
            "{{\"disk\": {{\"location\": \"https://b/fcos-42.1-qemu.x86_64.qcow2.xz\", \
             \"signature\": \"https://b/fcos-42.1-qemu.x86_64.qcow2.xz.sig\", \"sha256\": \"{}\", \
             \"uncompressed-sha256\": \"{h2}\"}}}}",
            H256.to_uppercase()
        );
        assert_eq!(
            beside(&json, "fcos-42.1-qemu.x86_64.qcow2.xz", Algorithm::Sha256).unwrap(),
            H256
        );
        let far = format!("img.qcow2 {} {h1}", " ".repeat(BESIDE_WINDOW));
        assert!(beside(&far, "img.qcow2", Algorithm::Sha256).is_err(), "too far away");
        assert!(beside("nothing", "img.qcow2", Algorithm::Sha256).is_err());
        assert!(
            beside(&format!("img.qcow2 {}", "c".repeat(65)), "img.qcow2", Algorithm::Sha256)
                .is_err()
        );
    }
}
