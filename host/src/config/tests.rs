//! The configuration's layers, secrets files and validation.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const TOKEN: (&str, &str) = ("IPFS_S3_INTERNAL_TOKEN", "0123456789abcdef0123");

#[test]
fn defaults_plus_env() {
    let c = Config::load(None, &env(&[TOKEN, ("IPFS_S3_REDIS_URL", "redis://10.0.0.1:7000/"), ("OTHER", "x")])).unwrap();
    assert_eq!(c.redis_url, "redis://10.0.0.1:7000/");
    assert_eq!(c.default_replication_factor, 3);
    assert_eq!(c.listen.port(), 9101);
}

#[test]
fn the_error_switches_default_on_and_take_true_or_false_from_the_environment() {
    let c = Config::load(None, &env(&[TOKEN])).unwrap();
    assert!(c.compatibility_mode && c.legacy_headers);
    let c = Config::load(None, &env(&[TOKEN, ("IPFS_S3_COMPATIBILITY_MODE", "false"), ("IPFS_S3_LEGACY_HEADERS", "False")])).unwrap();
    assert!(!c.compatibility_mode && !c.legacy_headers);
    assert!(Config::load(None, &env(&[TOKEN, ("IPFS_S3_LEGACY_HEADERS", "off")])).is_err());
    // Other fields keep such words as text.
    assert_eq!(Config::load(None, &env(&[TOKEN, ("IPFS_S3_REGION", "true")])).unwrap().region, "true");
}

#[test]
fn the_virtual_host_domain_is_optional_and_checked() {
    assert_eq!(Config::load(None, &env(&[TOKEN])).unwrap().virtual_host_domain(), None);
    let c = Config::load(None, &env(&[TOKEN, ("IPFS_S3_DOMAIN", "s3.example.com")])).unwrap();
    assert_eq!(c.virtual_host_domain(), Some("s3.example.com"));
    assert_eq!(Config::load(None, &env(&[TOKEN, ("IPFS_S3_DOMAIN", "")])).unwrap().virtual_host_domain(), None);
    let e = Config::load(None, &env(&[TOKEN, ("IPFS_S3_DOMAIN", "bad_domain..x")])).unwrap_err();
    assert!(e.to_string().contains("domain"), "{e}");
}

#[test]
fn file_then_env_wins() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, "region = \"eu-west-1\"\nmax_replication_factor = 5\naccess_key = \"file-key\"\n").unwrap();
    let c = Config::load(Some(&f), &env(&[TOKEN, ("IPFS_S3_ACCESS_KEY", "env-key")])).unwrap();
    assert_eq!(c.region, "eu-west-1");
    assert_eq!(c.max_replication_factor, 5);
    assert_eq!(c.access_key, "env-key");
}

#[test]
fn bad_values_name_the_field() {
    let e = Config::load(None, &env(&[])).unwrap_err().to_string();
    assert!(e.contains("internal_token"), "{e}");
    let e = Config::load(None, &env(&[TOKEN, ("IPFS_S3_DEFAULT_REPLICATION_FACTOR", "0")])).unwrap_err().to_string();
    assert!(e.contains("default_replication_factor"), "{e}");
    let e = Config::load(None, &env(&[TOKEN, ("IPFS_S3_LISTEN", "nonsense")])).unwrap_err().to_string();
    assert!(e.contains("listen"), "{e}");
}

#[test]
fn metadata_store_choice() {
    let c = Config::load(None, &env(&[TOKEN])).unwrap();
    assert_eq!(c.metadata_store(), MetadataStoreKind::Redis);
    let c = Config::load(None, &env(&[TOKEN, ("IPFS_S3_METADATA_STORE", "embedded"), ("IPFS_S3_EMBEDDED_PATH", "/var/lib/x.redb")])).unwrap();
    assert_eq!(c.metadata_store(), MetadataStoreKind::Embedded);
    assert_eq!(c.embedded_path, PathBuf::from("/var/lib/x.redb"));
    // No Redis configured: the embedded store, at its default path.
    let c = Config::load(None, &env(&[TOKEN, ("IPFS_S3_REDIS_URL", "")])).unwrap();
    assert_eq!((c.metadata_store, c.metadata_store()), (MetadataStoreKind::Embedded, MetadataStoreKind::Embedded));
    assert_eq!(c.embedded_path, PathBuf::from("ipfs-s3-metadata.redb"));
    // With the embedded store, the Redis URL is not used and not checked.
    assert!(Config::load(None, &env(&[TOKEN, ("IPFS_S3_METADATA_STORE", "embedded"), ("IPFS_S3_REDIS_URL", "nonsense")])).is_ok());

    let e = Config::load(None, &env(&[TOKEN, ("IPFS_S3_METADATA_STORE", "sqlite")])).unwrap_err().to_string();
    assert!(e.contains("metadata_store"), "{e}");
    let e = Config::load(None, &env(&[TOKEN, ("IPFS_S3_REDIS_URL", "localhost:6379")])).unwrap_err().to_string();
    assert!(e.contains("redis_url"), "{e}");
    let e = Config::load(None, &env(&[TOKEN, ("IPFS_S3_METADATA_STORE", "embedded"), ("IPFS_S3_EMBEDDED_PATH", "")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("embedded_path"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, format!("metadata_store = \"embedded\"\nembedded_path = {:?}\n", dir.path())).unwrap();
    let e = Config::load(Some(&f), &env(&[TOKEN])).unwrap_err().to_string();
    assert!(e.contains("embedded_path") && e.contains("directory"), "{e}");
}

#[test]
fn replica_settings_are_checked_together() {
    let c = Config::load(None, &env(&[TOKEN, ("IPFS_S3_REPLICA_INTERVAL_MS", "0"), ("IPFS_S3_HOT_REPLICATION_FACTOR", "7")])).unwrap();
    assert_eq!((c.replica_interval_ms, c.hot_replication_factor), (0, 7));
    for (var, value, field) in [
        ("IPFS_S3_REPLICA_COLD_THRESHOLD", "100", "replica_cold_threshold"),
        ("IPFS_S3_HOT_REPLICATION_FACTOR", "11", "hot_replication_factor"),
        ("IPFS_S3_REPLICA_INTERVAL_MS", "5", "replica_interval_ms"),
        ("IPFS_S3_REPLICA_HALF_LIFE_MS", "0", "replica_half_life_ms"),
        ("IPFS_S3_ACCESS_FLUSH_MS", "0", "access_flush_ms"),
    ] {
        let e = Config::load(None, &env(&[TOKEN, (var, value)])).unwrap_err().to_string();
        assert!(e.contains(field), "{var}={value}: {e}");
    }
}

#[test]
fn service_credentials_are_checked_and_applied() {
    let c = Config::load(
        None,
        &env(&[
            TOKEN,
            ("IPFS_S3_REDIS_PASSWORD", "r3dis"),
            ("IPFS_S3_KUBO_API_AUTH", "basic:host:kubo-pw"),
            ("IPFS_S3_CLUSTER_API_AUTH", "bearer:cluster-token"),
        ]),
    )
    .unwrap();
    assert_eq!(c.redis_connection().unwrap().redis_settings().password(), Some("r3dis"));
    assert!(c.kubo_auth().unwrap().is_some() && c.cluster_auth().unwrap().is_some());
    // Nothing configured: no credentials sent; a password in the URL is used as it is.
    let c = Config::load(None, &env(&[TOKEN, ("IPFS_S3_REDIS_URL", "redis://:in-url@127.0.0.1:1/")])).unwrap();
    assert_eq!(c.redis_connection().unwrap().redis_settings().password(), Some("in-url"));
    assert_eq!((c.kubo_auth().unwrap(), c.cluster_auth().unwrap()), (None, None));

    for (var, value, field) in [
        ("IPFS_S3_KUBO_API_AUTH", "digest:a:b", "kubo_api_auth"),
        ("IPFS_S3_CLUSTER_API_AUTH", "basic:", "cluster_api_auth"),
        ("IPFS_S3_KUBO_API_URL", "http://u:p@127.0.0.1:5001", "kubo_api_url"),
        ("IPFS_S3_CLUSTER_API_URL", "http://u:p@127.0.0.1:9094", "cluster_api_url"),
        ("IPFS_S3_REDIS_URL", "redis://", "redis_url"),
    ] {
        let e = Config::load(None, &env(&[TOKEN, (var, value)])).unwrap_err().to_string();
        assert!(e.contains(field), "{var}={value}: {e}");
        assert!(!e.contains(":p@") && !e.contains("a:b"), "the error repeats the secret: {e}");
    }
}

#[test]
fn secrets_can_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (token, secret, redis, kubo, cluster) = (
        write("token", "0123456789abcdef-from-file\n"),
        write("secret", "s3-secret-from-file"),
        write("redis", "redis-pw\r\n"),
        write("kubo", "basic:host:kubo-pw\n"),
        write("cluster", "basic:ipfs-s3:cluster-pw"),
    );
    let c = Config::load(
        None,
        &env(&[
            ("IPFS_S3_INTERNAL_TOKEN_FILE", &token),
            ("IPFS_S3_SECRET_KEY", "overridden by the file"),
            ("IPFS_S3_SECRET_KEY_FILE", &secret),
            ("IPFS_S3_REDIS_PASSWORD_FILE", &redis),
            ("IPFS_S3_KUBO_API_AUTH_FILE", &kubo),
            ("IPFS_S3_CLUSTER_API_AUTH_FILE", &cluster),
        ]),
    )
    .unwrap();
    assert_eq!(c.internal_token, "0123456789abcdef-from-file");
    assert_eq!(c.secret_key, "s3-secret-from-file");
    assert_eq!(c.redis_password, "redis-pw");
    assert_eq!(c.kubo_api_auth, "basic:host:kubo-pw");
    assert_eq!(c.cluster_api_auth, "basic:ipfs-s3:cluster-pw");
    // An empty path is no file; a missing file names its field.
    assert!(Config::load(None, &env(&[TOKEN, ("IPFS_S3_REDIS_PASSWORD_FILE", "")])).is_ok());
    let missing = dir.path().join("nope").display().to_string();
    let e = Config::load(None, &env(&[TOKEN, ("IPFS_S3_KUBO_API_AUTH_FILE", &missing)])).unwrap_err().to_string();
    assert!(e.contains("kubo_api_auth_file"), "{e}");
}

#[test]
fn the_shown_configuration_holds_no_secret() {
    let secrets = ["s3-secret-value", "token-value-0123456789", "redis-pw-value", "kubo-pw-value", "cluster-pw-value", "url-pw-value"];
    let c = Config::load(
        None,
        &env(&[
            ("IPFS_S3_SECRET_KEY", secrets[0]),
            ("IPFS_S3_INTERNAL_TOKEN", secrets[1]),
            ("IPFS_S3_REDIS_PASSWORD", secrets[2]),
            ("IPFS_S3_KUBO_API_AUTH", &format!("basic:host:{}", secrets[3])),
            ("IPFS_S3_CLUSTER_API_AUTH", &format!("bearer:{}", secrets[4])),
            ("IPFS_S3_REDIS_URL", &format!("redis://:{}@127.0.0.1:6390/", secrets[5])),
        ]),
    )
    .unwrap();
    let shown = format!("{:#?}", c.redacted());
    for s in secrets {
        assert!(!shown.contains(s), "{s} shown in:\n{shown}");
    }
    assert!(shown.contains("redis://:***@127.0.0.1:6390/"), "{shown}");
    // What is not set stays visibly unset.
    let shown = format!("{:?}", Config::load(None, &env(&[TOKEN])).unwrap().redacted());
    assert!(shown.contains("redis_password: \"\"") && shown.contains("internal_token: \"***\""), "{shown}");
}

#[test]
fn unknown_file_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, "regoin = \"eu-west-1\"\n").unwrap();
    let e = Config::load(Some(&f), &env(&[TOKEN])).unwrap_err().to_string();
    assert!(e.contains("regoin"), "{e}");
}
