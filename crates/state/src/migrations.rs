//! Append-only migrations, shared bookkeeping for both backends. Each backend lists its SQL
//! files in order; the store records each applied migration's checksum and refuses to open if
//! an applied one was edited since, because editing history silently forks existing databases.

use sha2::{Digest, Sha256};

use crate::StateError;

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// Which migrations still need applying, given what the store has recorded as
/// `(version, checksum)`. Fails if the record and the list disagree.
pub fn pending<'a>(
    all: &'a [Migration],
    applied: &[(i64, String)],
) -> Result<Vec<&'a Migration>, StateError> {
    let known = all.last().map_or(0, |m| m.version);
    for (version, sum) in applied {
        match all.iter().find(|m| m.version == *version) {
            Some(m) if m.checksum() == *sum => {}
            Some(m) => {
                return Err(StateError::MigrationChanged {
                    version: m.version,
                    name: m.name.into(),
                });
            }
            None => return Err(StateError::TooNew { found: *version, known }),
        }
    }
    Ok(all.iter().filter(|m| !applied.iter().any(|(v, _)| *v == m.version)).collect())
}

/// Checks a backend's list: versions start at 1 and go up by one.
pub fn check_list(all: &[Migration]) -> Result<(), String> {
    for (i, m) in all.iter().enumerate() {
        if m.version != i as i64 + 1 {
            return Err(format!(
                "migration '{}' has version {}, expected {}",
                m.name,
                m.version,
                i + 1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[Migration] = &[
        Migration { version: 1, name: "initial", sql: "CREATE TABLE a (x INTEGER);" },
        Migration { version: 2, name: "more", sql: "CREATE TABLE b (y INTEGER);" },
    ];

    #[test]
    fn only_unapplied_migrations_are_pending() {
        let applied = vec![(1, LIST[0].checksum())];
        let p = pending(LIST, &applied).unwrap();
        assert_eq!(p.iter().map(|m| m.version).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn an_edited_applied_migration_is_refused() {
        let applied = vec![(1, "not-the-sum".to_string())];
        assert!(matches!(
            pending(LIST, &applied),
            Err(StateError::MigrationChanged { version: 1, .. })
        ));
    }

    #[test]
    fn a_store_from_a_newer_proxctl_is_refused() {
        let applied = vec![(1, LIST[0].checksum()), (2, LIST[1].checksum()), (3, "x".into())];
        assert!(matches!(pending(LIST, &applied), Err(StateError::TooNew { found: 3, known: 2 })));
    }

    #[test]
    fn lists_must_be_numbered_from_one_without_gaps() {
        assert!(check_list(LIST).is_ok());
        assert!(check_list(&LIST[1..]).is_err());
    }
}
