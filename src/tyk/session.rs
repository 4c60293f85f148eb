//! The key session (Tyk's `SessionState`) and its access definitions.
//!
//! Serialisation follows Tyk v5.12+: zero and empty fields are omitted, and both
//! that form and the older "every field present" form decode identically.

use super::encode::{is_false, is_zero_f64, is_zero_i64};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One `{"url": regex, "methods": [...]}` entry of `allowed_urls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessSpec {
    pub url: String,
    pub methods: Vec<String>,
}

/// `rate` requests per `per` seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimit {
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub rate: f64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub per: f64,
}

impl RateLimit {
    /// Seconds between allowed requests; 0 = unlimited (tyk-compat §1.4).
    pub fn duration(&self) -> f64 {
        if self.rate <= 0.0 || self.per <= 0.0 {
            0.0
        } else {
            self.per / self.rate
        }
    }
    /// Tyk's "empty" rate: nothing to merge.
    pub fn is_empty(&self) -> bool {
        self.rate == 0.0 || self.per == 0.0
    }
}

/// One method of a per-endpoint rate limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointMethod {
    pub name: String,
    pub limit: RateLimit,
}

/// Per-endpoint rate limits of an access definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    pub path: String,
    pub methods: Vec<EndpointMethod>,
}

/// The per-API limit object (`access_rights[api].limit`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiLimit {
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub rate: f64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub per: f64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub throttle_interval: f64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub throttle_retry_limit: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_query_depth: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_max: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_renews: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_remaining: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_renewal_rate: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<Value>,
}

impl ApiLimit {
    /// Tyk's `APILimit.IsEmpty`: every numeric field is zero.
    pub fn is_empty(&self) -> bool {
        self.rate == 0.0
            && self.per == 0.0
            && self.throttle_interval == 0.0
            && self.throttle_retry_limit == 0
            && self.max_query_depth == 0
            && self.quota_max == 0
            && self.quota_renews == 0
            && self.quota_remaining == 0
            && self.quota_renewal_rate == 0
    }
    pub fn rate_limit(&self) -> RateLimit {
        RateLimit {
            rate: self.rate,
            per: self.per,
        }
    }
}

/// A GraphQL type with field names (allowed/restricted types). Low priority; merged as Tyk does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphqlType {
    pub name: String,
    pub fields: Vec<String>,
}

/// One entry of a key's or policy's `access_rights`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessDefinition {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_urls: Vec<AccessSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restricted_types: Vec<GraphqlType>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_types: Vec<GraphqlType>,
    #[serde(skip_serializing_if = "is_false")]
    pub disable_introspection: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub field_access_rights: Vec<Value>,
    pub limit: ApiLimit,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub allowance_scope: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A key's session: what `/tyk/keys` stores and returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub last_check: i64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub allowance: f64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub rate: f64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub per: f64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub throttle_interval: f64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub throttle_retry_limit: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_query_depth: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub date_created: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub expires: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_max: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_renews: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_remaining: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_renewal_rate: i64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub access_rights: BTreeMap<String, AccessDefinition>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub org_id: String,
    #[serde(skip_serializing_if = "is_false")]
    pub hmac_enabled: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub enable_http_signature_validation: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub is_inactive: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub apply_policy_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apply_policies: Vec<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub meta_data: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alias: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_updated: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub post_expiry_action: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub post_expiry_grace_period: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<Value>,
    /// Fields tollgate does not interpret (other auth types, analytics flags, ...), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Session {
    /// The policy ids to apply, in order (tyk-compat §2.1 rule 2).
    pub fn policy_ids(&self) -> Vec<&str> {
        if !self.apply_policies.is_empty() {
            self.apply_policies.iter().map(String::as_str).collect()
        } else if !self.apply_policy_id.is_empty() {
            vec![self.apply_policy_id.as_str()]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tyk::json::decode;

    #[test]
    fn empty_session_serialises_as_empty_object() {
        assert_eq!(serde_json::to_string(&Session::default()).unwrap(), "{}");
    }

    #[test]
    fn unknown_fields_round_trip() {
        let s: Session =
            decode(br#"{"rate": 5, "oauth_client_id": "x", "basic_auth_data": {"password": ""}}"#)
                .unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["oauth_client_id"], "x");
        assert_eq!(v["rate"], 5.0);
    }

    #[test]
    fn integer_fields_reject_floats() {
        let e = decode::<Session>(br#"{"quota_max": 10.5}"#).unwrap_err();
        assert_eq!(e.path, "quota_max");
    }

    #[test]
    fn duration_rules() {
        let d = |rate, per| RateLimit { rate, per }.duration();
        assert_eq!(d(1.0, 2.0), 2.0);
        assert_eq!(d(1.0, 0.0), 0.0);
        assert_eq!(d(0.0, 1.0), 0.0);
        assert_eq!(d(-1.0, 1.0), 0.0);
    }
}
