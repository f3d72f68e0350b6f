//! The CSS and JavaScript the pages load, embedded in the binary and served under names that
//! carry a hash of their content (`app.3fa2b1c4d5e6.css`), so browsers may keep them forever and
//! a new release is fetched at once. Each is gzip'd once, at first use.

use std::io::Write;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One file the pages load.
#[derive(Debug)]
pub struct Asset {
    /// What templates ask for, e.g. `app.css`.
    pub name: &'static str,
    /// What the URL says, e.g. `app.3fa2b1c4d5e6.css`.
    pub hashed: String,
    pub body: &'static [u8],
    pub gzip: Vec<u8>,
    pub content_type: &'static str,
    /// A strong validator: the hash.
    pub etag: String,
}

/// The files: our own, and the vendored libraries copied from npm by `assets/vendor.sh` at the
/// versions `assets/package-lock.json` pins.
const FILES: &[(&str, &[u8])] = &[
    ("app.css", include_bytes!("../assets/app.css")),
    ("app.js", include_bytes!("../assets/app.js")),
    ("htmx.min.js", include_bytes!("../assets/vendor/htmx.min.js")),
];

static ASSETS: LazyLock<Vec<Asset>> =
    LazyLock::new(|| FILES.iter().map(|(n, b)| asset(n, b)).collect());

fn asset(name: &'static str, body: &'static [u8]) -> Asset {
    let digest = hex::encode(Sha256::digest(body));
    let short = &digest[..12];
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let content_type = match ext {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    };
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail; an empty gzip body would only cost the compression.
    let gzip = enc.write_all(body).and_then(|()| enc.finish()).unwrap_or_default();
    Asset {
        name,
        hashed: format!("{stem}.{short}.{ext}"),
        body,
        gzip,
        content_type,
        etag: format!("\"{short}\""),
    }
}

/// The URL name of an asset (the plain name when there is no such asset, so a typo shows as a
/// 404 in the browser rather than breaking the page).
pub fn hashed_name(name: &str) -> String {
    ASSETS.iter().find(|a| a.name == name).map_or_else(|| name.to_string(), |a| a.hashed.clone())
}

/// The asset a URL names.
pub fn get(hashed: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.hashed == hashed)
}

/// Every asset, for the size figures.
pub fn all() -> &'static [Asset] {
    &ASSETS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn assets_are_found_by_their_hashed_names_and_gzip_round_trips() {
        for a in all() {
            assert_eq!(get(&hashed_name(a.name)).unwrap().name, a.name);
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a.gzip[..]), &mut out)
                .unwrap();
            assert_eq!(out, a.body);
        }
        assert!(get("app.css").is_none(), "only hashed names are served");
        assert_eq!(hashed_name("nope.js"), "nope.js");
    }
}
