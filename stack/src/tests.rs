//! The configurations the tool renders, read back by their components' own parsers.

use ipfs_s3_filter::config::Config as FilterConfig;
use ipfs_s3_host::config::Config as HostConfig;

use crate::components::{Stack, render_filter_config, render_host_config};
use crate::credentials::Credentials;
use crate::profile::Profile;

fn stack(root: &std::path::Path) -> Stack {
    let profile = Profile::from_env(root).unwrap();
    std::fs::create_dir_all(&profile.run).unwrap();
    let creds = Credentials::prepare(&profile).unwrap();
    Stack { profile, creds }
}

#[test]
fn the_filter_reads_what_the_stack_renders() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path());
    let json = render_filter_config(&stack, 0).unwrap();
    let cfg = FilterConfig::parse(json.as_bytes()).unwrap();
    let p = &stack.profile;
    assert_eq!((cfg.access_key.as_str(), cfg.secret_key.as_str()), (p.access_key.as_str(), p.secret_key.as_str()));
    assert_eq!(cfg.internal_token, stack.creds.internal_token);
    assert_eq!(cfg.host_admin_authority, format!("127.0.0.1:{}", p.ports.admin));
    assert_eq!((cfg.cache_ttl_ms, cfg.access_flush_ms), (p.cache_ttl_ms, p.access_flush_ms));
    assert!(cfg.unknown.is_empty(), "{json}");
}

#[test]
fn the_host_reads_what_the_stack_renders_with_secrets_only_in_files() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path());
    let path = render_host_config(&stack, 0).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in [&stack.creds.internal_token, &stack.creds.redis_password, &stack.creds.kubo_api_auth] {
        assert!(!text.contains(secret.as_str()), "a secret in {text}");
    }
    let cfg = HostConfig::load(Some(&path), &[]).unwrap();
    let p = &stack.profile;
    assert_eq!(cfg.listen.port(), p.ports.host);
    assert_eq!(cfg.admin_listen.port(), p.ports.admin);
    assert_eq!(cfg.redis_url, p.redis_url());
    assert_eq!(cfg.internal_token, stack.creds.internal_token);
    assert_eq!(cfg.secret_key, p.secret_key);
    assert_eq!(cfg.redis_password, stack.creds.redis_password);
    assert_eq!(cfg.cluster_api_auth, stack.creds.cluster_api_auth);
    assert_eq!(cfg.access_flush_ms, p.access_flush_ms);
}
