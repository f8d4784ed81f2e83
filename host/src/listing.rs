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
            // The largest character: every key inside the prefix sorts before prefix + U+10FFFF,
            // except keys that continue with U+10FFFF itself, which the roll-up deduplicates.
            Self::AfterPrefix(p) => format!("{p}\u{10FFFF}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub keys: Vec<String>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// Set when truncated: where the next page starts.
    pub next: Option<Resume>,
}

/// One page of at most `max_keys` entries (keys plus common prefixes).
pub async fn list(
    src: &dyn KeySource,
    prefix: &str,
    delimiter: Option<&str>,
    start: Option<Resume>,
    max_keys: usize,
) -> Result<Page> {
    const BATCH: usize = 1000;
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut page = Page::default();
    if max_keys == 0 {
        // Nothing fits, and a truncated page without a resume point would loop clients forever.
        return Ok(page);
    }
    let mut last: Option<Resume> = None;
    let mut after = start.map(|r| r.scan_after());
    'scan: loop {
        let batch = src.scan(prefix, after.as_deref(), BATCH).await?;
        let exhausted = batch.len() < BATCH;
        for key in batch {
            let rolled = delimiter.and_then(|d| {
                key[prefix.len()..].find(d).map(|pos| key[..prefix.len() + pos + d.len()].to_string())
            });
            if let Some(cp) = &rolled
                && page.common_prefixes.last() == Some(cp)
            {
                continue;
            }
            if page.keys.len() + page.common_prefixes.len() == max_keys {
                page.truncated = true;
                page.next = last.clone();
                break 'scan;
            }
            match rolled {
                Some(cp) => {
                    let resume = Resume::AfterPrefix(cp.clone());
                    after = Some(resume.scan_after());
                    page.common_prefixes.push(cp);
                    last = Some(resume);
                    // Skip the rest of the prefix without reading it.
                    continue 'scan;
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

    async fn all_pages(src: &Keys, prefix: &str, delim: Option<&str>, max: usize) -> (Vec<String>, Vec<String>, usize) {
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

    #[test]
    fn bad_tokens_are_invalid_argument() {
        assert!(matches!(Resume::from_token("!!!"), Err(Error::InvalidArgument(_))));
        assert!(matches!(Resume::from_token("eA"), Err(Error::InvalidArgument(_)))); // "x"
        let t = Resume::AfterKey("dir/ä b+c".into());
        assert_eq!(Resume::from_token(&t.token()).unwrap(), t);
    }
}
