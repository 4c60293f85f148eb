//! A classic Tyk API definition (`app_path/*.json`), the fields file mode uses (tyk-compat §9).

use super::session::RateLimit;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Where the key is read from (`auth` or `auth_configs.authToken`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub auth_header_name: String,
    pub use_param: bool,
    pub param_name: String,
    pub use_cookie: bool,
    pub cookie_name: String,
    pub disable_header: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The API-wide rate limit; `disabled` switches it off (Tyk v5+).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GlobalRateLimit {
    pub rate: f64,
    pub per: f64,
    #[serde(skip_serializing_if = "crate::tyk::encode::is_false")]
    pub disabled: bool,
}

impl GlobalRateLimit {
    /// The limit in force: none when disabled.
    pub fn limit(&self) -> RateLimit {
        if self.disabled {
            RateLimit::default()
        } else {
            RateLimit {
                rate: self.rate,
                per: self.per,
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyConfig {
    pub listen_path: String,
    pub target_url: String,
    pub strip_listen_path: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `version_data.versions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionInfo {
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionData {
    pub not_versioned: bool,
    pub default_version: String,
    pub versions: BTreeMap<String, VersionInfo>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How a versioned API finds the requested version (`definition`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionDefinition {
    pub location: String,
    pub key: String,
    pub strip_path: bool,
    pub fallback_to_default: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfigs {
    #[serde(rename = "authToken", skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<AuthConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiDefinition {
    pub api_id: String,
    pub name: String,
    pub org_id: String,
    pub active: bool,
    pub use_keyless: bool,
    pub auth: AuthConfig,
    pub auth_configs: AuthConfigs,
    pub proxy: ProxyConfig,
    pub version_data: VersionData,
    pub definition: VersionDefinition,
    pub strip_auth_data: bool,
    pub disable_rate_limit: bool,
    pub disable_quota: bool,
    pub dont_set_quota_on_create: bool,
    pub global_rate_limit: GlobalRateLimit,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ApiDefinition {
    /// `auth_configs.authToken` wins over the legacy `auth` object (tyk-compat §4.1).
    pub fn auth_config(&self) -> &AuthConfig {
        self.auth_configs.auth_token.as_ref().unwrap_or(&self.auth)
    }
}
