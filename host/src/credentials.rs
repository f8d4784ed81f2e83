//! Credentials of the services the host calls (Kubo RPC, the IPFS Cluster REST API, Redis) and
//! the masking that keeps every secret out of logs and of `check-config`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// What a client sends in `Authorization`, written the way Kubo's `API.Authorizations` spells an
/// `AuthSecret`: `basic:USER:PASSWORD`, `basic:<base64 of USER:PASSWORD>`, `bearer:TOKEN`, or a
/// bare `TOKEN` (a bearer token). The same string configures Kubo and the host, so they cannot
/// disagree about the encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpAuth {
    header: String,
}

impl HttpAuth {
    pub fn parse(secret: &str) -> Result<Self, &'static str> {
        // A line end is the usual accident (a file with a newline, a here-doc).
        if secret.bytes().any(|b| b.is_ascii_control()) {
            return Err("must not contain control characters (a line end?)");
        }
        let header = match secret.split_once(':') {
            _ if secret.is_empty() => return Err("is empty"),
            None => format!("Bearer {secret}"),
            Some(("basic", rest)) if rest.contains(':') => format!("Basic {}", BASE64.encode(rest)),
            Some(("basic", rest)) if !rest.is_empty() => format!("Basic {rest}"),
            Some(("bearer", token)) if !token.is_empty() => format!("Bearer {token}"),
            Some(("basic" | "bearer", _)) => return Err("has nothing after its type"),
            Some(_) => return Err("must be basic:USER:PASSWORD, bearer:TOKEN or a bare token"),
        };
        Ok(Self { header })
    }

    /// The `Authorization` value, marked sensitive so that HTTP stacks never log or index it.
    pub fn header_value(&self) -> http::HeaderValue {
        let mut v = http::HeaderValue::from_str(&self.header).expect("checked in parse");
        v.set_sensitive(true);
        v
    }

    /// Headers that carry this authorization on every request of a client.
    pub fn default_headers(auth: Option<&HttpAuth>) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Some(a) = auth {
            headers.insert(http::header::AUTHORIZATION, a.header_value());
        }
        headers
    }
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = self.header.split(' ').next().unwrap_or("");
        write!(f, "HttpAuth({kind} ***)")
    }
}

/// What stands in for a secret wherever configuration is shown.
pub const MASK: &str = "***";

/// `value` itself when empty (showing that nothing is set), else the mask.
pub fn mask(value: &str) -> String {
    if value.is_empty() { String::new() } else { MASK.to_owned() }
}

/// The URL with the password of its user part (`scheme://user:password@host`) masked, for logs
/// and `check-config`. Anything that does not look like a URL with credentials comes back as is.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return url.to_owned() };
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:{MASK}"),
        // A lone user part is a password for Redis (`redis://secret@host`).
        None => MASK.to_owned(),
    };
    format!("{scheme}://{user}@{host}{tail}")
}

/// Whether the URL carries credentials in its user part.
pub fn url_has_userinfo(url: &str) -> bool {
    redact_url(url) != url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(secret: &str) -> String {
        HttpAuth::parse(secret).unwrap().header_value().to_str().unwrap().to_owned()
    }

    #[test]
    fn auth_secrets_become_the_headers_kubo_expects() {
        // Kubo's ConvertAuthSecret: basic:user:pass is base64-encoded, an encoded one kept.
        assert_eq!(header("basic:alice:password123"), "Basic YWxpY2U6cGFzc3dvcmQxMjM=");
        assert_eq!(header("basic:YWxpY2U6cGFzc3dvcmQxMjM="), "Basic YWxpY2U6cGFzc3dvcmQxMjM=");
        assert_eq!(header("bearer:tok"), "Bearer tok");
        assert_eq!(header("tok"), "Bearer tok");
        // The password itself may hold colons.
        assert_eq!(header("basic:u:a:b"), format!("Basic {}", BASE64.encode("u:a:b")));
        for bad in ["", "basic:", "bearer:", "digest:x:y", "basic:u:p\n"] {
            assert!(HttpAuth::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nothing_secret_is_shown() {
        let a = HttpAuth::parse("basic:alice:password123").unwrap();
        assert!(a.header_value().is_sensitive());
        let shown = format!("{a:?}");
        assert!(!shown.contains("password123") && !shown.contains("YWxpY2U6"), "{shown}");
        assert_eq!(mask(""), "");
        assert_eq!(mask("x"), MASK);
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(redact_url("redis://:pw@127.0.0.1:6390/"), "redis://:***@127.0.0.1:6390/");
        assert_eq!(redact_url("redis://user:p@ss@h:1/0"), "redis://user:***@h:1/0");
        assert_eq!(redact_url("redis://pw@h"), "redis://***@h");
        assert_eq!(redact_url("http://127.0.0.1:5001"), "http://127.0.0.1:5001");
        assert_eq!(redact_url("http://h/p@q"), "http://h/p@q");
        assert_eq!(redact_url("not a url"), "not a url");
        assert!(url_has_userinfo("http://u:p@h") && !url_has_userinfo("http://h/a@b"));
    }
}
