//! A security policy as written in `policies.json` / `policy_path/*.json` (tyk-compat §1.1).

use super::encode::{is_false, is_zero_f64, is_zero_i64};
use super::session::{AccessDefinition, Session};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Which parts of a key a policy sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Partitions {
    pub quota: bool,
    pub rate_limit: bool,
    pub acl: bool,
    pub complexity: bool,
    pub per_api: bool,
}

impl Partitions {
    /// `per_api` does not count as a partition (tyk-compat §1.1).
    pub fn enabled(&self) -> bool {
        self.quota || self.rate_limit || self.acl || self.complexity
    }
}

/// A Mongo ObjectId as Tyk accepts it: `""`, a 24-hex string, or `{"$oid": "<24 hex>"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectId(pub String);

impl ObjectId {
    pub fn is_valid_hex(s: &str) -> bool {
        s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// A fresh random id, as the Dashboard generates on create.
    pub fn generate() -> Self {
        use rand::Rng;
        let bytes: [u8; 12] = rand::rng().random();
        ObjectId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = Value::deserialize(d)?;
        let hex = match &v {
            Value::String(s) => s.clone(),
            Value::Object(m) => match m.get("$oid") {
                Some(Value::String(s)) => s.clone(),
                _ => return Err(D::Error::custom(format!("invalid ObjectId in JSON: {v}"))),
            },
            _ => return Err(D::Error::custom(format!("invalid ObjectId in JSON: {v}"))),
        };
        if hex.is_empty() || ObjectId::is_valid_hex(&hex) {
            Ok(ObjectId(hex.to_ascii_lowercase()))
        } else {
            Err(D::Error::custom(format!("invalid ObjectId in JSON: {v}")))
        }
    }
}

/// A security policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    #[serde(rename = "_id")]
    pub object_id: ObjectId,
    pub id: String,
    pub name: String,
    pub org_id: String,
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub rate: f64,
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub per: f64,
    pub quota_max: i64,
    pub quota_renewal_rate: i64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "crate::tyk::encode::ser_num")]
    pub throttle_interval: f64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub throttle_retry_limit: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_query_depth: i64,
    pub access_rights: BTreeMap<String, AccessDefinition>,
    #[serde(skip_serializing_if = "is_false")]
    pub hmac_enabled: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub enable_http_signature_validation: bool,
    /// Dashboard flag. tollgate skips policies that say `false` (PRODUCT.md decision 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    pub is_inactive: bool,
    pub tags: Vec<String>,
    pub key_expires_in: i64,
    pub partitions: Partitions,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_updated: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub meta_data: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub post_expiry_action: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub post_expiry_grace_period: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Policy {
    /// The id a policy is known by: `id`, else the `_id` hex (tyk-compat §3).
    pub fn effective_id(&self) -> &str {
        if self.id.is_empty() {
            &self.object_id.0
        } else {
            &self.id
        }
    }
    /// "does X" in tyk-compat §2.4.2: not partitioned at all, or partition X on.
    pub fn does_quota(&self) -> bool {
        !self.partitions.enabled() || self.partitions.quota
    }
    pub fn does_rate_limit(&self) -> bool {
        !self.partitions.enabled() || self.partitions.rate_limit
    }
    pub fn does_acl(&self) -> bool {
        !self.partitions.enabled() || self.partitions.acl
    }
    pub fn does_complexity(&self) -> bool {
        !self.partitions.enabled() || self.partitions.complexity
    }
    pub fn is_loaded(&self) -> bool {
        self.active != Some(false)
    }
    /// Policies carried inline in a key's `meta_data.policies` (tyk-compat §2.1 rule 1).
    pub fn custom_from_session(session: &Session) -> Option<Result<Vec<Policy>, String>> {
        match session.meta_data.get("policies") {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| {
                        crate::tyk::json::from_value::<Policy>(v.clone()).map_err(|e| e.to_string())
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tyk::json::decode;

    #[test]
    fn object_id_forms() {
        let p: Policy = decode(br#"{"_id": "5ead7120575961000181867e"}"#).unwrap();
        assert_eq!(p.effective_id(), "5ead7120575961000181867e");
        let p: Policy =
            decode(br#"{"_id": {"$oid": "5ead7120575961000181867e"}, "id": "x"}"#).unwrap();
        assert_eq!(p.effective_id(), "x");
        let e = decode::<Policy>(br#"{"_id": "nothex"}"#).unwrap_err();
        assert_eq!(e.path, "_id");
        assert!(e.message.contains("invalid ObjectId in JSON"));
        let p: Policy = decode(br#"{"_id": null}"#).unwrap();
        assert!(p.object_id.is_empty());
    }

    #[test]
    fn serialises_id_fields() {
        let v = serde_json::to_value(Policy {
            id: "a".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(v["_id"], "");
        assert_eq!(v["id"], "a");
    }

    #[test]
    fn partition_semantics() {
        let mut p = Policy::default();
        assert!(p.does_acl() && p.does_quota() && p.does_rate_limit());
        p.partitions.per_api = true;
        assert!(!p.partitions.enabled());
        p.partitions.acl = true;
        assert!(p.does_acl() && !p.does_quota());
    }
}
