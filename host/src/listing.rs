//! Listing objects the way S3 does (prefix, delimiter roll-up into common prefixes, max-keys,
//! resume points), over any ordered key source.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>

use async_trait::async_trait;
use base64::Engine;

use crate::error::{Error, Result};

/// Keys of one bucket in byte order.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// Up to `limit` keys starting with `prefix`, strictly after `after`.
    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>>;

    /// As [`KeySource::scan`], for a listing that rolls keys up at `delimiter`: a source may skip
    /// all but the first key of each common prefix itself (fewer than `limit` entries still means
    /// the keys ran out). By default it reads every key.
    async fn scan_rolled(&self, prefix: &str, _delimiter: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.scan(prefix, after, limit).await
    }
}

/// Where a listing resumes: after a key, or after every key of a common prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    AfterKey(String),
    AfterPrefix(String),
}

impl Resume {
    /// The S3 continuation token: opaque to clients.
    pub fn token(&self) -> String {
        let raw = match self {
            Self::AfterKey(k) => format!("k{k}"),
            Self::AfterPrefix(p) => format!("p{p}"),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn from_token(token: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument("The continuation token provided is incorrect".into());
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        match raw.split_at_checked(1) {
            Some(("k", k)) => Ok(Self::AfterKey(k.to_string())),
            Some(("p", p)) => Ok(Self::AfterPrefix(p.to_string())),
            _ => Err(bad()),
        }
    }

    /// The exclusive lower bound to scan from.
    fn scan_after(&self) -> String {
        match self {
            Self::AfterKey(k) => k.clone(),
            Self::AfterPrefix(p) => past_prefix(p),
        }
    }
}

/// A key to scan strictly after to skip every key of the common prefix `cp`: the largest
/// character appended. Every key inside the prefix sorts before it, except keys that continue
/// with U+10FFFF itself, which the roll-up deduplicates.
pub fn past_prefix(cp: &str) -> String {
    format!("{cp}\u{10FFFF}")
}

/// The common prefix `key` rolls up into in a listing of `prefix` at `delimiter`: up to and
/// including the first `delimiter` after `prefix`; `None` when the key is listed itself.
pub fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: &str) -> Option<&'k str> {
    let rest = key.get(prefix.len()..)?;
    rest.find(delimiter).map(|pos| &key[..prefix.len() + pos + delimiter.len()])
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub keys: Vec<String>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// Set when truncated: where the next page starts.
    pub next: Option<Resume>,
}

/// Keys one scan reads while listing keys.
const BATCH: usize = 1000;
/// Keys one scan reads when the last one read fell into a common prefix: the prefix may well go
/// on for many keys the listing skips, and what follows it may be another prefix (a listing of
/// "directories"), whose first key is all the roll-up needs. So each jump costs a short read
/// rather than a whole batch of keys thrown away.
const PEEK: usize = 8;

/// One page of at most `max_keys` entries (keys plus common prefixes).
pub async fn list(
    src: &dyn KeySource,
    prefix: &str,
    delimiter: Option<&str>,
    start: Option<Resume>,
    max_keys: usize,
) -> Result<Page> {
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut page = Page::default();
    if max_keys == 0 {
        // Nothing fits, and a truncated page without a resume point would loop clients forever.
        return Ok(page);
    }
    let mut last: Option<Resume> = None;
    let mut after = start.map(|r| r.scan_after());
    let mut limit = BATCH;
    loop {
        let batch = match delimiter {
            Some(d) => src.scan_rolled(prefix, d, after.as_deref(), limit).await?,
            None => src.scan(prefix, after.as_deref(), limit).await?,
        };
        let exhausted = batch.len() < limit;
        let mut in_prefix = false;
        for key in batch {
            let rolled = delimiter.and_then(|d| common_prefix(&key, prefix, d)).map(str::to_owned);
            in_prefix = rolled.is_some();
            if let Some(cp) = &rolled
                && page.common_prefixes.last() == Some(cp)
            {
                // Inside the prefix just listed: the next scan starts past it (`after`).
                continue;
            }
            if page.keys.len() + page.common_prefixes.len() == max_keys {
                page.truncated = true;
                page.next = last;
                return Ok(page);
            }
            match rolled {
                Some(cp) => {
                    let resume = Resume::AfterPrefix(cp.clone());
                    after = Some(resume.scan_after());
                    page.common_prefixes.push(cp);
                    last = Some(resume);
                }
                None => {
                    after = Some(key.clone());
                    last = Some(Resume::AfterKey(key.clone()));
                    page.keys.push(key);
                }
            }
        }
        if exhausted {
            break;
        }
        limit = if in_prefix { PEEK } else { BATCH };
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    //! Runs the listing over an in-memory key set (a test fake behind the [`KeySource`] seam).
    use super::*;
    use std::collections::BTreeSet;

    struct Keys(BTreeSet<String>);

    #[async_trait]
    impl KeySource for Keys {
        async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
            Ok(self
                .0
                .iter()
                .filter(|k| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a))
                .take(limit)
                .cloned()
                .collect())
        }
    }

    fn keys(v: &[&str]) -> Keys {
        Keys(v.iter().map(|s| s.to_string()).collect())
    }

    async fn all_pages(src: &dyn KeySource, prefix: &str, delim: Option<&str>, max: usize) -> (Vec<String>, Vec<String>, usize) {
        let (mut ks, mut ps, mut pages, mut start) = (vec![], vec![], 0, None);
        loop {
            let p = list(src, prefix, delim, start, max).await.unwrap();
            pages += 1;
            ks.extend(p.keys);
            ps.extend(p.common_prefixes);
            if !p.truncated {
                return (ks, ps, pages);
            }
            start = Some(Resume::from_token(&p.next.unwrap().token()).unwrap());
        }
    }

    #[tokio::test]
    async fn prefix_and_delimiter_roll_up() {
        let src = keys(&["a/1", "a/2", "a/b/3", "b", "c/x", "cz"]);
        let p = list(&src, "", Some("/"), None, 1000).await.unwrap();
        assert_eq!(p.keys, vec!["b", "cz"]);
        assert_eq!(p.common_prefixes, vec!["a/", "c/"]);
        assert!(!p.truncated);
        let p = list(&src, "a/", Some("/"), None, 1000).await.unwrap();
        assert_eq!(p.keys, vec!["a/1", "a/2"]);
        assert_eq!(p.common_prefixes, vec!["a/b/"]);
    }

    #[tokio::test]
    async fn pages_cover_everything_exactly_once() {
        let names: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
        let src = Keys(names.iter().cloned().collect());
        let (ks, _, pages) = all_pages(&src, "", None, 10).await;
        assert_eq!(ks, names);
        assert_eq!(pages, 3);
    }

    #[tokio::test]
    async fn pages_across_common_prefixes() {
        let src = keys(&["a/1", "a/2", "b/1", "c", "d/1", "d/2", "e"]);
        let (ks, ps, pages) = all_pages(&src, "", Some("/"), 2).await;
        assert_eq!(ks, vec!["c", "e"]);
        assert_eq!(ps, vec!["a/", "b/", "d/"]);
        assert_eq!(pages, 3);
    }

    #[tokio::test]
    async fn exact_fit_is_not_truncated() {
        let src = keys(&["a", "b"]);
        let p = list(&src, "", None, None, 2).await.unwrap();
        assert_eq!(p.keys.len(), 2);
        assert!(!p.truncated);
        let p = list(&src, "", None, None, 1).await.unwrap();
        assert!(p.truncated);
        assert_eq!(p.next, Some(Resume::AfterKey("a".into())));
    }

    #[tokio::test]
    async fn max_keys_zero_lists_nothing() {
        let src = keys(&["a"]);
        let p = list(&src, "", None, None, 0).await.unwrap();
        assert!(p.keys.is_empty());
        assert!(!p.truncated);
    }

    /// Counts the keys the listing reads, and optionally rolls prefixes up itself as a store may.
    struct Counting {
        keys: Keys,
        read: std::sync::atomic::AtomicUsize,
        rolls_up: bool,
    }

    #[async_trait]
    impl KeySource for Counting {
        async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
            let got = self.keys.scan(prefix, after, limit).await?;
            self.read.fetch_add(got.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(got)
        }

        async fn scan_rolled(&self, prefix: &str, delimiter: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
            if !self.rolls_up {
                return self.scan(prefix, after, limit).await;
            }
            let mut out: Vec<String> = Vec::new();
            let mut seen: Option<String> = None;
            for k in self.keys.0.iter().filter(|k| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a)) {
                let cp = common_prefix(k, prefix, delimiter).map(str::to_owned);
                if cp.is_some() && cp == seen {
                    continue;
                }
                seen = cp;
                out.push(k.clone());
                if out.len() == limit {
                    break;
                }
            }
            self.read.fetch_add(out.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(out)
        }
    }

    #[tokio::test]
    async fn a_listing_of_directories_reads_little_of_each_and_a_rolling_source_lists_the_same() {
        let names: Vec<String> = (0..30_000).map(|i| format!("dir{:02}/f{:04}", i / 1000, i % 1000)).chain(["top".into()]).collect();
        let plain = Counting { keys: Keys(names.iter().cloned().collect()), read: Default::default(), rolls_up: false };
        let rolling = Counting { keys: Keys(names.iter().cloned().collect()), read: Default::default(), rolls_up: true };
        let a = list(&plain, "", Some("/"), None, 1000).await.unwrap();
        let b = list(&rolling, "", Some("/"), None, 1000).await.unwrap();
        assert_eq!(a, b);
        assert_eq!((a.common_prefixes.len(), a.keys.clone()), (30, vec!["top".to_string()]));
        let read = |c: &Counting| c.read.load(std::sync::atomic::Ordering::Relaxed);
        // The first batch reads dir00 whole; after that each directory costs one short read
        // (the whole bucket is 30,001 keys).
        assert!(read(&plain) <= BATCH + 30 * PEEK, "read {} keys", read(&plain));
        assert_eq!(read(&rolling), 31, "one key per prefix, and the plain key");
        // Paged two entries at a time, both sources give the same pages.
        assert_eq!(all_pages(&plain, "", Some("/"), 2).await, all_pages(&rolling, "", Some("/"), 2).await);
    }

    #[test]
    fn bad_tokens_are_invalid_argument() {
        assert!(matches!(Resume::from_token("!!!"), Err(Error::InvalidArgument(_))));
        assert!(matches!(Resume::from_token("eA"), Err(Error::InvalidArgument(_)))); // "x"
        let t = Resume::AfterKey("dir/ä b+c".into());
        assert_eq!(Resume::from_token(&t.token()).unwrap(), t);
    }
}
