//! Fuzz target: whole manifest files (several documents, any kind, any nesting, a BOM, bad
//! UTF-8 turned into replacement characters) never panic the loader, and what it accepts
//! has a key and a spec hash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proxctl_engine::manifest;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(declared) = manifest::parse(std::path::Path::new("fuzz.yaml"), &text) {
        for d in &declared {
            assert!(!d.key().is_empty());
            let _ = proxctl_engine::plan::spec_hash(&d.body);
        }
    }
});
