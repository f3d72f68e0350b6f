//! Reading manifest files as hostile input: regular files only (a FIFO or a device would hang
//! or grow without end), each read with a size cap, each file once however many paths or
//! symlinks lead to it (directory cycles included), a UTF-8 byte-order mark accepted, and the
//! nesting depth checked before any YAML parser sees the text.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::manifest::Diagnostic;

/// The largest manifest file read. Real fleets are kilobytes; this only stops runaway input.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The deepest nesting (block indentation levels or flow brackets) a manifest may have. The
/// manifest schema needs about six; YAML parsers slow down badly on extreme depths.
pub const MAX_DEPTH: usize = 64;

/// One manifest file's text, by the path the user gave (or found under a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

fn problem(file: &Path, line: usize, column: usize, message: String) -> Diagnostic {
    Diagnostic { file: file.to_path_buf(), line, column, message }
}

/// Every manifest under `paths` (files, or directories searched for `*.yaml`/`*.yml`), each
/// once, in a stable order; and every file that could not be used, with the reason.
pub fn read_all(paths: &[PathBuf]) -> (Vec<Source>, Vec<Diagnostic>) {
    let mut walk = Walk::default();
    for root in paths {
        walk.visit(root);
    }
    (walk.sources, walk.problems)
}

#[derive(Default)]
struct Walk {
    /// Canonical paths of the directories entered and files read: each once.
    dirs: BTreeSet<PathBuf>,
    files: BTreeSet<PathBuf>,
    sources: Vec<Source>,
    problems: Vec<Diagnostic>,
}

impl Walk {
    fn visit(&mut self, path: &Path) {
        let fail = |e: std::io::Error| format!("cannot read: {e}");
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return self.problems.push(problem(path, 1, 1, fail(e))),
        };
        let canonical = match std::fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) => return self.problems.push(problem(path, 1, 1, fail(e))),
        };
        if meta.is_dir() {
            // A symlink back up the tree leads here again: enter each directory once.
            if !self.dirs.insert(canonical) {
                return;
            }
            let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(e) => return self.problems.push(problem(path, 1, 1, fail(e))),
            };
            entries.sort();
            for p in entries {
                let yaml = p.extension().is_some_and(|e| e == "yaml" || e == "yml");
                if p.is_dir() || yaml {
                    self.visit(&p);
                }
            }
            return;
        }
        if !meta.is_file() {
            // Opening a FIFO blocks until a writer comes, and /dev/zero never ends.
            let what = file_type(&meta);
            return self.problems.push(problem(
                path,
                1,
                1,
                format!("is {what}, not a regular file; give manifest files or directories"),
            ));
        }
        if !self.files.insert(canonical) {
            return;
        }
        match read_capped(path) {
            Ok(text) => self.sources.push(Source { path: path.to_path_buf(), text }),
            Err(message) => self.problems.push(problem(path, 1, 1, message)),
        }
    }
}

fn file_type(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    let _ = meta;
    "not a file"
}

/// Read a regular file of at most [`MAX_FILE_BYTES`], as UTF-8 without a byte-order mark.
fn read_capped(path: &Path) -> Result<String, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "is larger than {} MiB; manifests are small text files",
            MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        format!("is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to())
    })?;
    Ok(strip_bom(&text).to_string())
}

/// Editors on Windows write a byte-order mark; YAML allows it at the start of a stream.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Where the text nests deeper than [`MAX_DEPTH`], as (line, column, message). Counts flow
/// brackets outside quotes and comments, and block levels from indentation and `- ` markers.
pub fn too_deep(text: &str) -> Option<(usize, usize, String)> {
    let mut flow: usize = 0;
    for (i, line) in text.lines().enumerate() {
        // Block depth: each indentation step or sequence marker opens at most one level.
        let mut block = 0;
        let mut rest = line;
        loop {
            let trimmed = rest.trim_start_matches(' ');
            block += rest.len() - trimmed.len();
            match trimmed.strip_prefix("- ").or_else(|| (trimmed == "-").then_some("")) {
                Some(after) => {
                    block += 2;
                    rest = after;
                }
                None => break,
            }
        }
        // Two columns per level is the usual style; one per level is the worst case.
        if block > MAX_DEPTH * 4 {
            return Some((i + 1, 1, format!("nests deeper than {MAX_DEPTH} levels")));
        }
        let (mut single, mut double) = (false, false);
        let mut prev = ' ';
        for (col, ch) in line.chars().enumerate() {
            match ch {
                '\'' if !double => single = !single,
                '"' if !single && prev != '\\' => double = !double,
                '#' if !single && !double && (prev == ' ' || col == 0) => break,
                '[' | '{' if !single && !double => {
                    flow += 1;
                    if flow > MAX_DEPTH {
                        return Some((
                            i + 1,
                            col + 1,
                            format!("nests deeper than {MAX_DEPTH} levels"),
                        ));
                    }
                }
                ']' | '}' if !single && !double => flow = flow.saturating_sub(1),
                _ => {}
            }
            prev = ch;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_and_block_nesting_are_refused_and_normal_manifests_pass() {
        assert_eq!(too_deep("spec: {disks: {scsi0: {size: 4G}}, tags: [a, b]}\n"), None);
        assert_eq!(too_deep("a:\n  - b: [1, 2]\n    c: \"[[[[\"\n"), None, "quotes do not count");
        let flow = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(too_deep(&flow).map(|(l, c, _)| (l, c)), Some((1, 4 + MAX_DEPTH)));
        let dashes = format!("{}x\n", "- ".repeat(50_000));
        assert!(too_deep(&dashes).is_some());
        let indent = (0..400).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect::<String>();
        assert!(too_deep(&indent).is_some());
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        assert_eq!(strip_bom("\u{feff}kind: X"), "kind: X");
        assert_eq!(strip_bom("kind: X"), "kind: X");
        let vm = "\u{feff}apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: a}\n\
                  spec: {template: debian-12}\n";
        let d = crate::manifest::parse(Path::new("bom.yaml"), vm).unwrap();
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_deep_manifest_is_refused_with_its_place_before_parsing() {
        let deep = format!("kind: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let problems = crate::manifest::parse(Path::new("deep.yaml"), &deep).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().contains("deep.yaml:1:71: nests deeper"),
            "{}",
            problems[0]
        );
    }

    #[cfg(unix)]
    #[test]
    fn fifos_devices_cycles_and_oversized_files_are_handled() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.yaml"), "kind: X\n").unwrap();
        std::os::unix::fs::symlink(d, d.join("loop")).unwrap();
        std::os::unix::fs::symlink(d.join("a.yaml"), d.join("b.yaml")).unwrap();
        let fifo = d.join("pipe.yaml");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let big = d.join("big.yml");
        std::fs::write(&big, vec![b'#'; (MAX_FILE_BYTES + 1) as usize]).unwrap();

        let (sources, problems) =
            read_all(&[d.to_path_buf(), d.join("a.yaml"), PathBuf::from("/dev/zero")]);
        assert_eq!(sources.len(), 1, "a.yaml once, through the link, the loop and by name");
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 3, "{text:#?}");
        assert!(text.iter().any(|t| t.contains("pipe.yaml") && t.contains("a FIFO")), "{text:#?}");
        assert!(
            text.iter().any(|t| t.contains("big.yml") && t.contains("larger than")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.contains("/dev/zero") && t.contains("a device")),
            "{text:#?}"
        );
    }
}
