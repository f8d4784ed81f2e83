//! Envoy with the filter: its configuration is the topology's template (`envoy/gateway.yaml` at
//! the edge, `envoy/sidecar.yaml` beside each node's host) with the `${IPFS_S3_*}` placeholders
//! substituted, the filter's JSON configuration rendered from the filter's own
//! `Config` type, and its admin interface a Unix socket only the stack's user can open.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use ipfs_s3_filter::config::Config as FilterConfig;
use reqwest::Method;

use super::{Component, Stack};
use crate::credentials::write_private;
use crate::process::ensure_ports_free;
use crate::profile::Profile;
use crate::ready::Probes;

/// Node `i`'s directory of the run dir (`envoy/`, `envoy-<i>/`).
fn dir(p: &Profile, i: usize) -> PathBuf {
    p.run.join(if i == 0 { "envoy".to_owned() } else { format!("envoy-{i}") })
}

pub fn config_path(p: &Profile, i: usize) -> PathBuf {
    dir(p, i).join("envoy.yaml")
}

fn wasm_path(p: &Profile, i: usize) -> PathBuf {
    dir(p, i).join("ipfs_s3_filter.wasm")
}

/// Node `i`'s filter configuration, checked by the filter's own parser.
pub fn render_filter_config(stack: &Stack, i: usize) -> Result<String> {
    let p = &stack.profile;
    // The filter's defaults for what the stack does not set (e.g. its cache size).
    let required = serde_json::json!({
        "access_key": p.access_key, "secret_key": p.secret_key, "internal_token": stack.creds.internal_token,
    });
    let mut config = FilterConfig::parse(required.to_string().as_bytes()).map_err(anyhow::Error::msg)?;
    config.region = p.region.clone();
    config.domain = Some(p.domain.clone());
    config.host_admin_cluster = "host_admin".into();
    config.host_admin_authority = format!("127.0.0.1:{}", p.node(i).admin);
    config.cache_ttl_ms = p.cache_ttl_ms;
    config.resolve_timeout_ms = p.resolve_timeout_ms;
    config.access_flush_ms = p.access_flush_ms;
    config.access_max_batch = p.access_max_batch;
    config.bucket_modes = p.bucket_modes.clone();
    let host = super::host::settings(p)?;
    config.compatibility_mode = host.compatibility_mode;
    config.legacy_headers = host.legacy_headers;
    if let Some(legacy) = &p.legacy {
        config.legacy_authority = legacy.authority();
        config.legacy_virtual_hosted = legacy.virtual_hosted;
    }
    let json = serde_json::to_string(&config)?;
    FilterConfig::parse(json.as_bytes()).map_err(anyhow::Error::msg)?;
    // The template holds the JSON in a single-quoted YAML scalar.
    if json.contains('\'') {
        bail!("credentials, region and token must not contain a single quote (') for the Envoy config");
    }
    Ok(json)
}

/// `${NAME}` replaced by its value for each of `vars`, in one pass; any other `$…` stays literal.
fn substitute(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let known = after.find('}').and_then(|end| vars.iter().find(|(n, _)| *n == &after[..end]).map(|v| (end, v)));
        match known {
            Some((end, (_, value))) => {
                out.push_str(value);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Renders the template for node `i` into the run dir (it holds credentials: 0600) next to a
/// copy of the wasm, so that a rebuild does not change the file a running Envoy loaded.
pub fn render(stack: &Stack, i: usize) -> Result<PathBuf> {
    let p = &stack.profile;
    let node = p.node(i);
    let template = std::fs::read_to_string(&p.envoy_template).unwrap_or_default();
    if template.is_empty() {
        bail!("Envoy template {} is missing or empty", p.show(&p.envoy_template));
    }
    if !p.built_filter.is_file() {
        bail!("filter {} does not exist (build it: scripts/setup.sh build)", p.show(&p.built_filter));
    }
    let wasm = wasm_path(p, i);
    std::fs::create_dir_all(dir(p, i))?;
    copy_replacing(&p.built_filter, &wasm)?;
    let vars = [
        // The stack runs every node on loopback; a pod's sidecar listens on its pod address.
        ("IPFS_S3_ENVOY_ADDRESS", "127.0.0.1".to_owned()),
        ("IPFS_S3_ENVOY_PORT", node.envoy.to_string()),
        ("IPFS_S3_ENVOY_ADMIN_SOCKET", node.envoy_admin_socket.display().to_string()),
        ("IPFS_S3_HOST_PORT", node.host.to_string()),
        ("IPFS_S3_ADMIN_PORT", node.admin.to_string()),
        ("IPFS_S3_GATEWAY_PORT", node.gateway.to_string()),
        ("IPFS_S3_FILTER_WASM", wasm.display().to_string()),
        ("IPFS_S3_FILTER_CONFIG", render_filter_config(stack, i)?),
        ("IPFS_S3_ENVOY_MAX_CONNECTIONS", p.envoy_max_connections.to_string()),
        ("IPFS_S3_ENVOY_MAX_HEAP_BYTES", p.envoy_max_heap_bytes.to_string()),
    ];
    let vars: Vec<(&str, String)> = vars.into_iter().chain(legacy_vars(stack)?).collect();
    let path = config_path(p, i);
    write_private(&path, &substitute(&template, &vars))?;
    Ok(path)
}

/// The legacy store's cluster. Without a legacy store it is rendered all the same, pointing at a
/// closed port with no credentials: the filter never routes a request to it then.
fn legacy_vars(stack: &Stack) -> Result<Vec<(&'static str, String)>> {
    let p = &stack.profile;
    let (address, port, region, access_key, secret_key) = match &p.legacy {
        Some(l) => (l.address.clone(), l.port, l.region.clone(), l.access_key.clone(), stack.creds.legacy_secret_key.clone()),
        None => ("127.0.0.1".to_owned(), 9, p.region.clone(), "none".to_owned(), "none".to_owned()),
    };
    // Each goes into a YAML scalar of the template, unquoted.
    for (name, value) in [("address", &address), ("region", &region), ("access key", &access_key), ("secret key", &secret_key)] {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+/=".contains(&b)) {
            bail!("the legacy store's {name} must be non-empty letters, digits and ._-+/= for the Envoy config");
        }
    }
    Ok(vec![
        ("IPFS_S3_LEGACY_ADDRESS", address),
        ("IPFS_S3_LEGACY_PORT", port.to_string()),
        ("IPFS_S3_LEGACY_REGION", region),
        ("IPFS_S3_LEGACY_ACCESS_KEY", access_key),
        ("IPFS_S3_LEGACY_SECRET_KEY", secret_key),
    ])
}

/// Copies a build output into the run dir by renaming a fresh copy into place.
pub fn copy_replacing(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).with_context(|| format!("copying {}", from.display()))?;
    std::fs::rename(&tmp, to)?;
    Ok(())
}

/// `envoy --mode validate` of a rendered config.
pub fn validate(p: &Profile, config: &Path, what: &str) -> Result<()> {
    let out = Command::new(p.envoy_bin())
        .args(["--mode", "validate", "-c"])
        .arg(config)
        .args(["--log-level", "warn"])
        .output()
        .context("running envoy --mode validate")?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = text.lines().collect();
        bail!("Envoy rejected {what} ({})\n{}", p.show(config), lines[lines.len().saturating_sub(30)..].join("\n"));
    }
    Ok(())
}

pub async fn start(stack: &Stack, i: usize) -> Result<()> {
    let p = &stack.profile;
    anyhow::ensure!(p.envoy_bin().is_file(), "envoy is not installed in the virtualenv (run scripts/setup.sh)");
    let node = p.node(i);
    ensure_ports_free(&Component::Envoy(i).to_string(), &[node.envoy])?;
    let config = render(stack, i)?;
    validate(p, &config, "the rendered config")?;
    // Envoy's hot-restart shared memory is keyed by --base-id; the S3 port is unique per running
    // Envoy (two cannot share it), so it makes a base id that never collides.
    let mut cmd = Command::new(p.envoy_bin());
    cmd.arg("-c").arg(&config).args(["--base-id", &node.envoy.to_string(), "--log-level", "info"]);
    stack.handle(Component::Envoy(i)).spawn_detached(cmd)?;
    Ok(())
}

/// The admin interface (a Unix socket, mode 0600) says LIVE.
pub async fn ready(stack: &Stack, i: usize) -> bool {
    matches!(
        Probes::unix(&stack.profile.node(i).envoy_admin_socket, Method::GET, "http://envoy/ready").await,
        Some((_, body)) if body.trim_ascii() == b"LIVE"
    )
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn only_the_listed_placeholders_are_substituted_once() {
        let vars = [("A", "${B}".to_owned()), ("B", "b".to_owned())];
        assert_eq!(substitute("x ${A} ${B} $B ${C} ${A", &vars), "x ${B} b $B ${C} ${A");
    }
}
