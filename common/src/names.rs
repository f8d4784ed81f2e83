//! Bucket-name and object-key rules.
//!
//! Bucket names follow AWS's general-purpose rules
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>); keys are any
//! UTF-8 of 1 to 1024 bytes.

/// Maximum key length in bytes (UTF-8).
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a bucket name is refused (the message of `InvalidBucketName`).
pub fn bucket_name_error(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    if b.len() < 3 || b.len() > 63 {
        return Some("Bucket names must be between 3 and 63 characters long");
    }
    if !b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-') {
        return Some("Bucket names may contain only lowercase letters, digits, dots and hyphens");
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !b.first().is_some_and(|c| alnum(*c)) || !b.last().is_some_and(|c| alnum(*c)) {
        return Some("Bucket names must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Some("Bucket names must not contain two adjacent periods or a period next to a hyphen");
    }
    if is_ipv4(name) {
        return Some("Bucket names must not be formatted as an IP address");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") || name.starts_with("amzn-s3-demo-") {
        return Some("Bucket names must not start with a reserved prefix");
    }
    if name.ends_with("-s3alias") || name.ends_with("--ol-s3") || name.ends_with(".mrap") || name.ends_with("--x-s3") {
        return Some("Bucket names must not end with a reserved suffix");
    }
    None
}

pub fn is_valid_bucket_name(name: &str) -> bool {
    bucket_name_error(name).is_none()
}

fn is_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

/// Why a key is refused, with the S3 code to answer: `KeyTooLongError` past 1024 bytes,
/// `InvalidArgument` for an empty key.
pub fn key_error(key: &str) -> Option<(crate::s3error::S3Code, &'static str)> {
    use crate::s3error::S3Code;
    if key.is_empty() {
        return Some((S3Code::InvalidArgument, "Object keys must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Some((S3Code::KeyTooLongError, "Your key is too long"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in ["abc", "my-bucket", "my.bucket.1", "a".repeat(63).as_str(), "0bucket9"] {
            assert!(is_valid_bucket_name(n), "{n}");
        }
    }

    #[test]
    fn refuses_what_aws_refuses() {
        for n in [
            "ab", &"a".repeat(64), "My-Bucket", "my_bucket", "-bucket", "bucket-", "a..b", "a.-b",
            "a-.b", "192.168.5.4", "xn--bucket", "bucket-s3alias", "buck et", "bücket", "",
        ] {
            assert!(!is_valid_bucket_name(n), "{n}");
        }
    }

    #[test]
    fn ip_like_but_not_ip_is_fine() {
        assert!(is_valid_bucket_name("192.168.5.4a"));
        assert!(is_valid_bucket_name("1.2.3"));
    }

    #[test]
    fn keys_up_to_1024_bytes() {
        assert!(key_error("a").is_none());
        assert!(key_error(&"é".repeat(512)).is_none()); // 1024 bytes
        assert_eq!(key_error(&"é".repeat(513)).unwrap().0, crate::s3error::S3Code::KeyTooLongError);
        assert_eq!(key_error("").unwrap().0, crate::s3error::S3Code::InvalidArgument);
    }
}
