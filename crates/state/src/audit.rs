//! The audit log's rows and their hash chain. Each row's hash covers its own fields and the
//! previous row's hash, and the store keeps the head (last sequence number and hash) apart from
//! the rows, so [`verify_chain`] detects a modified, deleted, reordered or cut-off row.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A row about to be appended. Secrets must already be redacted from `params`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub time: Timestamp,
    /// Who acted: the PVE user or token the profile authenticates as, and the local user.
    pub actor: String,
    pub profile: String,
    /// What was acted on, e.g. `qemu/100`, `node/pve`, `storage/local`.
    pub target: String,
    /// What was done, e.g. `POST /nodes/{node}/qemu/{vmid}/status/start` or `safe-mode`.
    pub action: String,
    pub params: serde_json::Value,
    /// `ok`, `task UPID:…`, `refused: …` or `error: …`.
    pub result: String,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    #[serde(flatten)]
    pub entry: NewAuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The chain's end as the store records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

impl std::fmt::Display for AuditHead {
    /// `SEQ:HASH`, the form `audit head` prints and `audit verify --head` reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for AuditHead {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("'{s}' is not an audit head; give SEQ:HASH as `proxctl audit head` prints it")
        };
        let (seq, hash) = s.trim().split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if seq < 1 || !hex {
            return Err(bad());
        }
        Ok(AuditHead { seq, hash: hash.to_ascii_lowercase() })
    }
}

/// Which rows `audit list` shows. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub profile: Option<String>,
    /// Exact target, e.g. `qemu/100`.
    pub target: Option<String>,
    /// Substring of the action.
    pub action: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only the last N matching rows.
    pub last: Option<usize>,
}

impl AuditFilter {
    /// Whether `e` passes the filter, `last` aside (the backends apply it in SQL; this is the
    /// reference the conformance suite checks them against).
    pub fn matches(&self, e: &AuditEntry) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.actor, &e.entry.actor)
            && eq(&self.profile, &e.entry.profile)
            && eq(&self.target, &e.entry.target)
            && self.action.as_deref().is_none_or(|a| e.entry.action.contains(a))
            && self.since.is_none_or(|t| e.entry.time >= t)
            && self.until.is_none_or(|t| e.entry.time <= t)
    }
}

/// The row `seq` will be once stored: its time cut to the microseconds the backends keep, so the
/// hash computed now still matches after a round trip, and chained to `prev_hash`.
pub fn seal(seq: i64, e: &NewAuditEntry, prev_hash: &str) -> AuditEntry {
    let mut entry = e.clone();
    let us = entry.time.as_microsecond();
    entry.time = Timestamp::from_microsecond(us).unwrap_or(entry.time);
    let hash = row_hash(seq, &entry, prev_hash);
    AuditEntry { seq, entry, prev_hash: prev_hash.to_string(), hash }
}

/// A value bound into a backend's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlArg {
    Text(String),
    Int(i64),
}

/// The `SELECT` both backends run for a filter, written once: `placeholder(n)` spells the n-th
/// bind parameter (`?n` or `$n`) and `contains` is the dialect's substring test with `{}` for
/// the column and `{arg}` for the parameter.
pub fn select_sql(
    f: &AuditFilter,
    placeholder: impl Fn(usize) -> String,
    contains: &str,
) -> (String, Vec<SqlArg>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    let mut push = |template: &str, v: SqlArg| {
        args.push(v);
        clauses.push(template.replace("{arg}", &placeholder(args.len())));
    };
    let eq = [("actor", &f.actor), ("profile", &f.profile), ("target", &f.target)];
    for (col, want) in eq {
        if let Some(w) = want {
            push(&format!("{col} = {{arg}}"), SqlArg::Text(w.clone()));
        }
    }
    if let Some(a) = &f.action {
        push(&contains.replace("{}", "action"), SqlArg::Text(a.clone()));
    }
    if let Some(t) = f.since {
        push("time_us >= {arg}", SqlArg::Int(crate::time_to_us(t)));
    }
    if let Some(t) = f.until {
        push("time_us <= {arg}", SqlArg::Int(crate::time_to_us(t)));
    }
    let filter =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let sql = match f.last {
        Some(n) => format!(
            "SELECT * FROM (SELECT {AUDIT_COLUMNS} FROM audit_log {filter} ORDER BY seq DESC \
             LIMIT {n}) AS last_rows ORDER BY seq"
        ),
        None => format!("SELECT {AUDIT_COLUMNS} FROM audit_log {filter} ORDER BY seq"),
    };
    (sql, args)
}

/// The audit table's columns, in the order both backends read them.
pub const AUDIT_COLUMNS: &str =
    "seq, time_us, actor, profile, target, action, params, result, prev_hash, hash";

/// The hash of row `seq` with these fields, chained to `prev_hash`. Every field is
/// length-prefixed, so no two different rows hash the same input.
pub fn row_hash(seq: i64, e: &NewAuditEntry, prev_hash: &str) -> String {
    let mut h = Sha256::new();
    let params = e.params.to_string();
    let time = e.time.to_string();
    let fields: [&[u8]; 8] = [
        prev_hash.as_bytes(),
        time.as_bytes(),
        e.actor.as_bytes(),
        e.profile.as_bytes(),
        e.target.as_bytes(),
        e.action.as_bytes(),
        params.as_bytes(),
        e.result.as_bytes(),
    ];
    h.update(seq.to_be_bytes());
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f);
    }
    hex::encode(h.finalize())
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum ChainProblem {
    /// Rows are missing before this one (deleted), or it is out of order.
    Gap { seq: i64, expected: i64 },
    /// The row does not follow the one before it (reordered, or a row was removed and the
    /// rest renumbered).
    Broken { seq: i64 },
    /// The row's content no longer matches its hash (modified).
    Modified { seq: i64 },
    /// The recorded head does not match the last row (rows cut off the end, or the head forged).
    Head { recorded_seq: i64, last_seq: i64 },
    /// A head kept outside the store (the audit file, syslog, a copy a person kept) is not a
    /// row of the log: rows were cut off the end and the stored head rewritten to match.
    Anchor { head: AuditHead, source: String },
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Gap { seq, expected } => {
                write!(f, "row {seq}: expected row {expected} here; rows were deleted or moved")
            }
            ChainProblem::Broken { seq } => {
                write!(f, "row {seq}: does not chain to the row before it; rows were reordered")
            }
            ChainProblem::Modified { seq } => {
                write!(f, "row {seq}: content does not match its hash; the row was modified")
            }
            ChainProblem::Head { recorded_seq, last_seq } => write!(
                f,
                "the log ends at row {last_seq} but its head records row {recorded_seq}; rows \
                 were removed from the end"
            ),
            ChainProblem::Anchor { head, source } => write!(
                f,
                "row {} with hash {} ({source}) is not in the log; rows were cut off the end \
                 or rewritten",
                head.seq, head.hash
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub rows: usize,
    pub problems: Vec<ChainProblem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Check a whole log (all rows, in the order the store returns them by sequence number) against
/// its recorded head.
pub fn verify_chain(rows: &[AuditEntry], head: Option<&AuditHead>) -> VerifyReport {
    let mut problems = Vec::new();
    let mut prev = GENESIS.to_string();
    for (i, r) in rows.iter().enumerate() {
        let expected = i as i64 + 1;
        if r.seq != expected {
            problems.push(ChainProblem::Gap { seq: r.seq, expected });
        }
        if r.prev_hash != prev {
            problems.push(ChainProblem::Broken { seq: r.seq });
        }
        if row_hash(r.seq, &r.entry, &r.prev_hash) != r.hash {
            problems.push(ChainProblem::Modified { seq: r.seq });
        }
        prev = r.hash.clone();
    }
    let last = rows.last().map(|r| (r.seq, r.hash.as_str()));
    match (head, last) {
        (None, None) => {}
        (Some(h), Some((seq, hash))) if h.seq == seq && h.hash == hash => {}
        (h, l) => problems.push(ChainProblem::Head {
            recorded_seq: h.map_or(0, |h| h.seq),
            last_seq: l.map_or(0, |l| l.0),
        }),
    }
    VerifyReport { rows: rows.len(), problems }
}

/// Check heads kept outside the store, each with where it came from: every one must be a row
/// of the log, with that sequence number and hash.
pub fn check_anchors(rows: &[AuditEntry], anchors: &[(AuditHead, String)]) -> Vec<ChainProblem> {
    anchors
        .iter()
        .filter(|(h, _)| !rows.iter().any(|r| r.seq == h.seq && r.hash == h.hash))
        .map(|(head, source)| ChainProblem::Anchor { head: head.clone(), source: source.clone() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_kept_elsewhere_catches_a_cut_end_that_the_stored_head_hides() {
        let (mut rows, head) = chain(5);
        let kept = (head.clone(), "kept".to_string());
        assert!(check_anchors(&rows, std::slice::from_ref(&kept)).is_empty());
        // Cut the last row and forge the stored head to match: the chain alone looks fine.
        rows.pop();
        let forged = rows.last().map(|r| AuditHead { seq: r.seq, hash: r.hash.clone() });
        assert!(verify_chain(&rows, forged.as_ref()).ok());
        let problems = check_anchors(&rows, &[kept]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].to_string().contains("row 5 with hash"), "{}", problems[0]);
    }

    #[test]
    fn heads_print_and_parse_as_seq_colon_hash() {
        let (_, head) = chain(2);
        assert_eq!(head.to_string().parse::<AuditHead>().unwrap(), head);
        for bad in ["", "5", "x:abc", "0:abc", "3:nothex", &format!("-1:{}", head.hash)] {
            assert!(bad.parse::<AuditHead>().is_err(), "{bad}");
        }
    }

    fn chain(n: i64) -> (Vec<AuditEntry>, AuditHead) {
        let mut rows: Vec<AuditEntry> = Vec::new();
        for seq in 1..=n {
            let entry = NewAuditEntry {
                time: Timestamp::from_second(1_700_000_000 + seq).unwrap(),
                actor: "root@pam".into(),
                profile: "default".into(),
                target: format!("qemu/{}", 100 + seq),
                action: "start".into(),
                params: serde_json::json!({"seq": seq}),
                result: "ok".into(),
            };
            let prev = rows.last().map_or(GENESIS.to_string(), |r| r.hash.clone());
            let hash = row_hash(seq, &entry, &prev);
            rows.push(AuditEntry { seq, entry, prev_hash: prev, hash });
        }
        let head = rows.last().map(|r| AuditHead { seq: r.seq, hash: r.hash.clone() }).unwrap();
        (rows, head)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (rows, head) = chain(5);
        assert!(verify_chain(&rows, Some(&head)).ok());
        assert!(verify_chain(&[], None).ok());
    }

    #[test]
    fn a_modified_row_is_named() {
        let (mut rows, head) = chain(5);
        rows[2].entry.result = "error: forged".into();
        let r = verify_chain(&rows, Some(&head));
        assert_eq!(r.problems, vec![ChainProblem::Modified { seq: 3 }]);
    }

    #[test]
    fn a_deleted_row_is_detected() {
        let (mut rows, head) = chain(5);
        rows.remove(1);
        let r = verify_chain(&rows, Some(&head));
        assert!(r.problems.contains(&ChainProblem::Gap { seq: 3, expected: 2 }), "{r:?}");
    }

    #[test]
    fn swapped_rows_are_detected() {
        let (mut rows, head) = chain(5);
        rows.swap(1, 2);
        assert!(!verify_chain(&rows, Some(&head)).ok());
        // Renumbering the swapped rows does not help: their hashes cover the sequence number.
        rows[1].seq = 2;
        rows[2].seq = 3;
        let r = verify_chain(&rows, Some(&head));
        assert!(r.problems.contains(&ChainProblem::Modified { seq: 2 }), "{r:?}");
    }

    #[test]
    fn rows_cut_off_the_end_are_detected_through_the_head() {
        let (mut rows, head) = chain(5);
        rows.truncate(3);
        let r = verify_chain(&rows, Some(&head));
        assert_eq!(r.problems, vec![ChainProblem::Head { recorded_seq: 5, last_seq: 3 }]);
    }

    #[test]
    fn field_boundaries_matter_to_the_hash() {
        let (rows, _) = chain(1);
        let mut shifted = rows[0].entry.clone();
        shifted.actor = "root@pamdefault".into();
        shifted.profile = String::new();
        assert_ne!(row_hash(1, &shifted, GENESIS), rows[0].hash);
    }
}
