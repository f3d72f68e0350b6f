//! Fuzz target: the `-l` selector parser never panics (deep nesting included), and whatever
//! parses prints to text that parses to the same tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proxctl_types::selector::Selector;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(sel) = s.parse::<Selector>() {
        let printed = sel.to_string();
        match printed.parse::<Selector>() {
            Ok(back) => assert_eq!(back, sel, "{s:?} printed as {printed:?}"),
            Err(e) => panic!("{s:?} printed as {printed:?}, which does not parse: {e}"),
        }
    }
});
