//! `tyk.conf`: the process settings (tyk-compat §10), read once at startup.
//!
//! Precedence: built-in defaults < the JSON file < `TYK_GW_*` environment variables.
//! Unknown keys are ignored (real Tyk files carry dozens we do not use); a known key
//! with the wrong type is an error naming the key, never a silent default.

use crate::tyk::fields::{self, Ctx, Doc, Finding, Level};
use crate::tyk::json::{self, DecodeError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// Tyk's `policies` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoliciesConfig {
    pub policy_source: String,
    pub policy_record_name: String,
    pub policy_path: String,
}

impl Default for PoliciesConfig {
    fn default() -> Self {
        PoliciesConfig {
            policy_source: "file".into(),
            policy_record_name: "policies/policies.json".into(),
            policy_path: String::new(),
        }
    }
}

/// Where keys and quota counters live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub host: String,
    pub port: u16,
    pub password: String,
    pub database: i64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            kind: "embedded".into(),
            path: "./data".into(),
            host: "localhost".into(),
            port: 6379,
            password: String::new(),
            database: 0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpServerOptions {
    pub enable_path_prefix_matching: bool,
    pub enable_path_suffix_matching: bool,
    pub enable_strict_routes: bool,
    /// The gateway port (and the control port) speak TLS only.
    pub use_ssl: bool,
    /// Certificate/key file pairs, chosen by SNI.
    pub certificates: Vec<CertificateEntry>,
    /// Files holding a certificate chain and its key in one PEM, or inline PEM.
    pub ssl_certificates: Vec<String>,
    /// Tyk's numeric TLS versions (769 = 1.0 … 772 = 1.3); 0 = the default (1.2).
    pub min_version: u16,
    pub max_version: u16,
    /// TLS 1.2 cipher suites by their Go/IANA names (TLS 1.3 suites are fixed).
    pub ssl_ciphers: Vec<String>,
    /// Advertise `h2` by ALPN on TLS, and accept h2c (prior knowledge) in clear.
    pub enable_http2: bool,
    /// With mutual TLS: do not send the list of acceptable CAs in the handshake.
    pub skip_client_ca_announcement: bool,
}

/// One entry of `http_server_options.certificates`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateEntry {
    /// An extra name this certificate answers to (besides its own CN and DNS names).
    pub domain_name: String,
    pub cert_file: String,
    pub key_file: String,
}

/// tollgate's own reload settings (not in Tyk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReloadConfig {
    /// Watch the policy and API directories and reload on change.
    pub watch: bool,
    /// Quiet period after the last file event before reloading, in milliseconds.
    pub debounce_ms: u64,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig {
            watch: true,
            debounce_ms: 50,
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub listen_address: String,
    pub listen_port: u16,
    pub control_api_port: u16,
    pub secret: String,
    pub app_path: String,
    pub policies: PoliciesConfig,
    pub storage: StorageConfig,
    pub hash_keys: bool,
    pub hash_key_function: String,
    pub enable_hashed_keys_listing: bool,
    pub min_token_length: i64,
    pub allow_master_keys: bool,
    pub allow_unsafe_policy_ids: bool,
    pub http_server_options: HttpServerOptions,
    pub rate_limit_response_headers: String,
    pub hide_generator_header: bool,
    pub health_check_endpoint_name: String,
    pub readiness_check_endpoint_name: String,
    /// Upstream response timeout in seconds (0 = the built-in default of 30 s).
    pub proxy_default_timeout: f64,
    /// Honour API `domain` fields (refused at load until custom domains exist).
    pub enable_custom_domains: bool,
    pub reload: ReloadConfig,
    /// Fields of the file this build does not act on that only change what clients,
    /// upstreams or operators see; reported by `check` and at startup.
    #[serde(skip)]
    pub warnings: Vec<Finding>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen_address: String::new(),
            listen_port: 8080,
            control_api_port: 0,
            // Tyk ships a well-known default secret; an admin API that anyone who has
            // read Tyk's docs can use is worse than none, so ours is off until set.
            secret: String::new(),
            app_path: "apps/".into(),
            policies: PoliciesConfig::default(),
            storage: StorageConfig::default(),
            hash_keys: false,
            hash_key_function: String::new(),
            enable_hashed_keys_listing: false,
            min_token_length: 0,
            allow_master_keys: false,
            allow_unsafe_policy_ids: false,
            http_server_options: HttpServerOptions::default(),
            rate_limit_response_headers: String::new(),
            hide_generator_header: false,
            health_check_endpoint_name: "hello".into(),
            readiness_check_endpoint_name: "ready".into(),
            proxy_default_timeout: 0.0,
            enable_custom_domains: false,
            reload: ReloadConfig::default(),
            warnings: Vec::new(),
        }
    }
}

/// A configuration problem, with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {error}")]
    Decode { file: String, error: DecodeError },
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    /// Every problem the field table found (refused fields, wrong types, names twice).
    #[error("{}", .findings.iter().map(|f| format!("{file}: {}: {}", f.path, f.reason)).collect::<Vec<_>>().join("\n"))]
    Fields {
        file: String,
        findings: Vec<Finding>,
    },
    #[error("{file}: {key}: {reason}")]
    Invalid {
        file: String,
        key: String,
        reason: String,
    },
}

/// Which scalar type a known key has, so env strings convert correctly.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Float,
}

/// Every key reachable through `TYK_GW_*`, by JSON path.
const KNOWN: &[(&str, Kind)] = &[
    ("listen_address", Kind::Str),
    ("listen_port", Kind::Int),
    ("control_api_port", Kind::Int),
    ("secret", Kind::Str),
    ("app_path", Kind::Str),
    ("policies.policy_source", Kind::Str),
    ("policies.policy_record_name", Kind::Str),
    ("policies.policy_path", Kind::Str),
    ("storage.type", Kind::Str),
    ("storage.path", Kind::Str),
    ("storage.host", Kind::Str),
    ("storage.port", Kind::Int),
    ("storage.password", Kind::Str),
    ("storage.database", Kind::Int),
    ("hash_keys", Kind::Bool),
    ("hash_key_function", Kind::Str),
    ("enable_hashed_keys_listing", Kind::Bool),
    ("min_token_length", Kind::Int),
    ("allow_master_keys", Kind::Bool),
    ("allow_unsafe_policy_ids", Kind::Bool),
    (
        "http_server_options.enable_path_prefix_matching",
        Kind::Bool,
    ),
    (
        "http_server_options.enable_path_suffix_matching",
        Kind::Bool,
    ),
    ("http_server_options.enable_strict_routes", Kind::Bool),
    ("http_server_options.use_ssl", Kind::Bool),
    ("http_server_options.min_version", Kind::Int),
    ("http_server_options.max_version", Kind::Int),
    ("http_server_options.enable_http2", Kind::Bool),
    (
        "http_server_options.skip_client_ca_announcement",
        Kind::Bool,
    ),
    ("rate_limit_response_headers", Kind::Str),
    ("hide_generator_header", Kind::Bool),
    ("health_check_endpoint_name", Kind::Str),
    ("readiness_check_endpoint_name", Kind::Str),
    ("proxy_default_timeout", Kind::Float),
    ("enable_custom_domains", Kind::Bool),
    ("reload.watch", Kind::Bool),
    ("reload.debounce_ms", Kind::Int),
];

/// Tyk's env name for a JSON path: `http_server_options.use_ssl` → `TYK_GW_HTTPSERVEROPTIONS_USESSL`.
pub fn env_name(path: &str) -> String {
    let segs: Vec<String> = path
        .split('.')
        .map(|s| s.replace('_', "").to_ascii_uppercase())
        .collect();
    format!("TYK_GW_{}", segs.join("_"))
}

impl Config {
    /// Loads `path` (or the defaults when `None`) and applies `TYK_GW_*` overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let file = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<built-in defaults>".into());
        let mut value = match path {
            Some(p) => {
                let text = std::fs::read(p).map_err(|source| ConfigError::Read {
                    file: file.clone(),
                    source,
                })?;
                let v = json::parse_value(&text).map_err(|error| ConfigError::Decode {
                    file: file.clone(),
                    error,
                })?;
                if !v.is_object() {
                    return Err(ConfigError::Invalid {
                        file,
                        key: "(root)".into(),
                        reason: "expected a JSON object".into(),
                    });
                }
                v
            }
            None => Value::Object(Default::default()),
        };
        apply_env(&mut value, env)?;
        let findings = fields::examine(Doc::Config, &mut value, &Ctx::default());
        let (errors, warnings): (Vec<Finding>, Vec<Finding>) =
            findings.into_iter().partition(|f| f.level == Level::Error);
        if !errors.is_empty() {
            return Err(ConfigError::Fields {
                file,
                findings: errors,
            });
        }
        let mut cfg: Config = json::from_value(value).map_err(|error| ConfigError::Decode {
            file: file.clone(),
            error,
        })?;
        cfg.warnings = warnings;
        cfg.validate(&file)?;
        Ok(cfg)
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| ConfigError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            reason,
        };
        match self.rate_limit_response_headers.as_str() {
            "" | "quotas" | "rate_limits" => {}
            other => {
                return Err(bad(
                    "rate_limit_response_headers",
                    format!("must be \"quotas\" or \"rate_limits\", got {other:?}"),
                ))
            }
        }
        match self.storage.kind.as_str() {
            "embedded" | "" => {}
            "redis" => {
                return Err(bad(
                    "storage.type",
                    "\"redis\" (cluster mode) is not available in this build; use \"embedded\""
                        .into(),
                ))
            }
            other => {
                return Err(bad(
                    "storage.type",
                    format!("must be \"embedded\" or \"redis\", got {other:?}"),
                ))
            }
        }
        match self.policies.policy_source.as_str() {
            "service" | "rpc" => {
                return Err(bad(
                    "policies.policy_source",
                    format!("{:?} needs a Dashboard/MDCB; tollgate reads policies from files (use \"file\")", self.policies.policy_source),
                ))
            }
            _ => {}
        }
        // A year is far beyond any sane upstream wait, and keeps Duration arithmetic safe.
        if !(0.0..=31_536_000.0).contains(&self.proxy_default_timeout) {
            return Err(bad(
                "proxy_default_timeout",
                "must be a number of seconds between 0 and 31536000".into(),
            ));
        }
        for (key, name) in [
            (
                "health_check_endpoint_name",
                &self.health_check_endpoint_name,
            ),
            (
                "readiness_check_endpoint_name",
                &self.readiness_check_endpoint_name,
            ),
        ] {
            if name.contains('/') || name.is_empty() {
                return Err(bad(key, "must be a single path segment".into()));
            }
        }
        Ok(())
    }

    /// Tyk treats 0 as "use the default of 3".
    pub fn min_token_length(&self) -> usize {
        if self.min_token_length <= 0 {
            3
        } else {
            self.min_token_length as usize
        }
    }

    pub fn upstream_timeout(&self) -> std::time::Duration {
        if self.proxy_default_timeout > 0.0 {
            std::time::Duration::from_secs_f64(self.proxy_default_timeout)
        } else {
            std::time::Duration::from_secs(30)
        }
    }

    pub fn rate_headers_from_rate(&self) -> bool {
        self.rate_limit_response_headers == "rate_limits"
    }

    /// The admin API is served only when a secret is configured.
    pub fn admin_enabled(&self) -> bool {
        !self.secret.is_empty()
    }
}

fn apply_env(
    root: &mut Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("TYK_GW_"))
        .collect();
    for (path, kind) in KNOWN {
        let name = env_name(path);
        let Some((_, raw)) = env.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name)) else {
            continue;
        };
        let value = match kind {
            Kind::Str => Value::String(raw.clone()),
            Kind::Bool => match raw.to_ascii_lowercase().as_str() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" | "" => Value::Bool(false),
                _ => {
                    return Err(ConfigError::Env {
                        var: name,
                        reason: format!("expected true or false, got {raw:?}"),
                    })
                }
            },
            Kind::Int => {
                raw.trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| ConfigError::Env {
                        var: name.clone(),
                        reason: format!("expected an integer, got {raw:?}"),
                    })?
            }
            Kind::Float => raw
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| ConfigError::Env {
                    var: name.clone(),
                    reason: format!("expected a number, got {raw:?}"),
                })?,
        };
        set_path(root, path, value);
    }
    // Tyk reads every key of its config from the environment. One this build has no
    // setting for still goes into the document, so the field table refuses or reports
    // it like the same key in the file (`TYK_GW_HTTPSERVEROPTIONS_USESSL=true` must not
    // give a plain-HTTP gateway without a word).
    let table = fields::paths(Doc::Config);
    for (var, raw) in &env {
        if KNOWN
            .iter()
            .any(|(p, _)| env_name(p).eq_ignore_ascii_case(var))
        {
            continue;
        }
        let Some((path, node)) = table.iter().find(|(p, _)| {
            !p.contains('*') && !p.contains("[]") && env_name(p).eq_ignore_ascii_case(var)
        }) else {
            continue;
        };
        let text = Value::String(raw.clone());
        let value = match node.shape {
            fields::Shape::Bool => match raw.to_ascii_lowercase().as_str() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" | "" => Value::Bool(false),
                _ => text,
            },
            fields::Shape::Int | fields::Shape::Num => raw
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .ok()
                .or_else(|| {
                    raw.trim()
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                })
                .unwrap_or(text),
            _ => text,
        };
        set_path(root, path, value);
    }
    Ok(())
}

fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut cur = root;
    let segs: Vec<&str> = path.split('.').collect();
    for seg in &segs[..segs.len() - 1] {
        let obj = match cur {
            Value::Object(m) => m,
            other => {
                *other = Value::Object(Default::default());
                match other {
                    Value::Object(m) => m,
                    _ => return,
                }
            }
        };
        // The file may spell the key in another case (Go matches it anyway).
        let key = existing_key(obj, seg);
        cur = obj
            .entry(key)
            .or_insert_with(|| Value::Object(Default::default()));
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
    }
    if let Value::Object(m) = cur {
        let key = existing_key(m, segs[segs.len() - 1]);
        m.insert(key, value);
    }
}

/// The key of `obj` that Go would match to `name`: exact, else any case.
fn existing_key(obj: &serde_json::Map<String, Value>, name: &str) -> String {
    if obj.contains_key(name) {
        return name.to_string();
    }
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        Config::load(
            Some(f.path()),
            env.iter().map(|(a, b)| (a.to_string(), b.to_string())),
        )
    }

    #[test]
    fn env_overrides_match_keys_of_any_case_and_unsupported_ones_are_classified() {
        let cfg = load_str(
            r#"{"Hide_Generator_Header": false, "HTTP_Server_Options": {"Enable_Strict_Routes": false}}"#,
            &[
                ("TYK_GW_HIDEGENERATORHEADER", "true"),
                ("TYK_GW_HTTPSERVEROPTIONS_ENABLESTRICTROUTES", "1"),
            ],
        )
        .unwrap();
        assert!(cfg.hide_generator_header && cfg.http_server_options.enable_strict_routes);
        let e = load_str(
            "{}",
            &[("TYK_GW_HTTPSERVEROPTIONS_MAXREQUESTBODYSIZE", "10")],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("http_server_options.max_request_body_size"),
            "{e}"
        );
        let cfg = load_str("{}", &[("TYK_GW_HTTPSERVEROPTIONS_USESSL", "true")]).unwrap();
        assert!(cfg.http_server_options.use_ssl);
        let cfg = load_str("{}", &[("TYK_GW_MAXIDLECONNECTIONSPERHOST", "500")]).unwrap();
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        assert_eq!(cfg.warnings[0].path, "max_idle_connections_per_host");
    }

    #[test]
    fn env_names_follow_tyk() {
        assert_eq!(env_name("listen_port"), "TYK_GW_LISTENPORT");
        assert_eq!(
            env_name("http_server_options.enable_strict_routes"),
            "TYK_GW_HTTPSERVEROPTIONS_ENABLESTRICTROUTES"
        );
        assert_eq!(
            env_name("policies.policy_path"),
            "TYK_GW_POLICIES_POLICYPATH"
        );
    }

    #[test]
    fn defaults_without_file() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(c.listen_port, 8080);
        assert_eq!(c.app_path, "apps/");
        assert_eq!(c.policies.policy_record_name, "policies/policies.json");
        assert_eq!(c.storage.path, "./data");
        assert_eq!(c.min_token_length(), 3);
        assert!(!c.admin_enabled());
    }

    #[test]
    fn file_values_unknown_keys_and_env() {
        let c = load_str(
            r#"{"listen_port": 9000, "secret": "s", "enable_analytics": true, "storage": {"type": "embedded", "path": "/tmp/x"}}"#,
            &[("TYK_GW_LISTENPORT", "9100"), ("TYK_GW_HTTPSERVEROPTIONS_ENABLESTRICTROUTES", "true")],
        )
        .unwrap();
        assert_eq!(c.listen_port, 9100);
        assert_eq!(c.secret, "s");
        assert_eq!(c.storage.path, "/tmp/x");
        assert!(c.http_server_options.enable_strict_routes);
    }

    #[test]
    fn wrong_types_name_the_key() {
        let e = load_str(r#"{"listen_port": "eighty"}"#, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_port"), "{e}");
        let e = load_str(
            r#"{"http_server_options": {"enable_strict_routes": 1}}"#,
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("http_server_options.enable_strict_routes"),
            "{e}"
        );
        let e = load_str("{}", &[("TYK_GW_HASHKEYS", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("TYK_GW_HASHKEYS"), "{e}");
        let e = load_str("{not json", &[]).unwrap_err().to_string();
        assert!(e.contains("invalid JSON"), "{e}");
        let e = load_str(r#"{"rate_limit_response_headers": "x"}"#, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("rate_limit_response_headers"), "{e}");
    }
}
