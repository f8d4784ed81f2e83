//! The journal of a migration: one JSON line per object finished (written and verified), appended
//! as each one finishes. A run reads it first: an object whose source version it lists is not
//! copied again, and one whose source changed is replaced only if the target still holds the
//! version the journal names (otherwise it was written through the gateway since).
//!
//! A line that does not parse (the last one, cut by a kill) is ignored: its object is looked at
//! again, and its write's condition keeps that safe.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One finished object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    /// The source's ETag and size when it was copied.
    pub source_etag: String,
    pub size: u64,
    /// The target's ETag of the copy.
    pub etag: String,
}

pub struct Journal {
    path: PathBuf,
    done: HashMap<String, Entry>,
    file: Option<std::fs::File>,
}

impl Journal {
    /// Reads the journal at `path` (none yet: empty).
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let mut done = HashMap::new();
        match std::fs::File::open(path) {
            Ok(f) => {
                for line in std::io::BufReader::new(f).lines() {
                    if let Ok(entry) = serde_json::from_str::<Entry>(&line?) {
                        done.insert(entry.key.clone(), entry);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Journal { path: path.to_owned(), done, file: None })
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.done.get(key)
    }

    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Appends `entry` (written to the file before this returns).
    pub fn record(&mut self, entry: Entry) -> std::io::Result<()> {
        if self.file.is_none() {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            // A line cut by a kill must not glue itself to the next one.
            f.write_all(b"\n")?;
            self.file = Some(f);
        }
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        if let Some(f) = self.file.as_mut() {
            f.write_all(&line)?;
        }
        self.done.insert(entry.key.clone(), entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, etag: &str) -> Entry {
        Entry { key: key.into(), source_etag: "s".into(), size: 1, etag: etag.into() }
    }

    #[test]
    fn entries_survive_a_reopen_and_a_cut_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::open(&path).unwrap();
        assert!(j.is_empty());
        j.record(entry("a", "1")).unwrap();
        j.record(entry("b", "2")).unwrap();
        j.record(entry("a", "3")).unwrap();
        drop(j);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(br#"{"key":"c","sou"#).unwrap();
        let mut j = Journal::open(&path).unwrap();
        assert_eq!((j.len(), j.get("a").unwrap().etag.as_str()), (2, "3"), "the later entry wins");
        assert!(j.get("c").is_none());
        j.record(entry("d", "4")).unwrap();
        drop(j);
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.get("d").unwrap().etag, "4", "appended after the cut line, on a line of its own");
    }
}
