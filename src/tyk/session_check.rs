//! A cheap, allocation-free test that a session's JSON decodes into
//! [`Session`](super::Session).
//!
//! The key store keeps every session as JSON text and decodes it only when a request
//! or the REST API needs it (see `crate::store`). Decoding a million sessions at open
//! would cost seconds, mostly in the buffering that `#[serde(flatten)]` implies, but
//! opening must still refuse a hand-edited session that no longer decodes (say
//! `"rate":"x"`) and name its file and line. So each stored session is walked once
//! against the schema below, without building anything.
//!
//! The test is one-sided: when it accepts, `serde_json::from_str::<Session>`
//! succeeds on the same text. It may reject JSON that does decode (nulls, a repeated
//! field, members the nested structs do not know, structs written as arrays); the
//! store then decodes such a session in full, which gives the real verdict and the
//! error message. Anything this build writes passes. The tests below hold the schema
//! to the field lists of the real types and to the real decoder's verdicts.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// The JSON shape a field of `Session` (or of a type inside it) accepts.
#[derive(Debug, Clone, Copy)]
enum Ty {
    F64,
    I64,
    Bool,
    Str,
    /// Any JSON value (a `serde_json::Value`).
    Any,
    /// `null` or any JSON value (`Option<Value>`).
    OptAny,
    List(&'static Ty),
    /// An object with arbitrary member names (a map).
    Dict(&'static Ty),
    Obj(&'static Obj),
}

/// A struct: its fields in declaration order, and whether unknown members are kept
/// (`#[serde(flatten)] extra`) rather than refused.
#[derive(Debug)]
struct Obj {
    name: &'static str,
    fields: &'static [(&'static str, Ty)],
    extra: bool,
}

const STR: Ty = Ty::Str;
const ANY: Ty = Ty::Any;
const STR_LIST: Ty = Ty::List(&STR);

const RATE_LIMIT: Obj = Obj {
    name: "RateLimit",
    fields: &[("rate", Ty::F64), ("per", Ty::F64)],
    extra: false,
};
const ENDPOINT_METHOD: Obj = Obj {
    name: "EndpointMethod",
    fields: &[("name", Ty::Str), ("limit", Ty::Obj(&RATE_LIMIT))],
    extra: false,
};
const ENDPOINT_METHOD_TY: Ty = Ty::Obj(&ENDPOINT_METHOD);
const ENDPOINT: Obj = Obj {
    name: "Endpoint",
    fields: &[
        ("path", Ty::Str),
        ("methods", Ty::List(&ENDPOINT_METHOD_TY)),
    ],
    extra: false,
};
const ENDPOINT_TY: Ty = Ty::Obj(&ENDPOINT);
const ACCESS_SPEC: Obj = Obj {
    name: "AccessSpec",
    fields: &[("url", Ty::Str), ("methods", STR_LIST)],
    extra: false,
};
const ACCESS_SPEC_TY: Ty = Ty::Obj(&ACCESS_SPEC);
const GRAPHQL_TYPE: Obj = Obj {
    name: "GraphqlType",
    fields: &[("name", Ty::Str), ("fields", STR_LIST)],
    extra: false,
};
const GRAPHQL_TYPE_TY: Ty = Ty::Obj(&GRAPHQL_TYPE);
const API_LIMIT: Obj = Obj {
    name: "ApiLimit",
    fields: &[
        ("rate", Ty::F64),
        ("per", Ty::F64),
        ("throttle_interval", Ty::F64),
        ("throttle_retry_limit", Ty::I64),
        ("max_query_depth", Ty::I64),
        ("quota_max", Ty::I64),
        ("quota_renews", Ty::I64),
        ("quota_remaining", Ty::I64),
        ("quota_renewal_rate", Ty::I64),
        ("smoothing", Ty::OptAny),
    ],
    extra: false,
};
const ACCESS_DEFINITION: Obj = Obj {
    name: "AccessDefinition",
    fields: &[
        ("api_name", Ty::Str),
        ("api_id", Ty::Str),
        ("versions", STR_LIST),
        ("allowed_urls", Ty::List(&ACCESS_SPEC_TY)),
        ("restricted_types", Ty::List(&GRAPHQL_TYPE_TY)),
        ("allowed_types", Ty::List(&GRAPHQL_TYPE_TY)),
        ("disable_introspection", Ty::Bool),
        ("field_access_rights", Ty::List(&ANY)),
        ("limit", Ty::Obj(&API_LIMIT)),
        ("allowance_scope", Ty::Str),
        ("endpoints", Ty::List(&ENDPOINT_TY)),
    ],
    extra: true,
};
const ACCESS_DEFINITION_TY: Ty = Ty::Obj(&ACCESS_DEFINITION);
const SESSION: Obj = Obj {
    name: "Session",
    fields: &[
        ("last_check", Ty::I64),
        ("allowance", Ty::F64),
        ("rate", Ty::F64),
        ("per", Ty::F64),
        ("throttle_interval", Ty::F64),
        ("throttle_retry_limit", Ty::I64),
        ("max_query_depth", Ty::I64),
        ("date_created", Ty::Str),
        ("expires", Ty::I64),
        ("quota_max", Ty::I64),
        ("quota_renews", Ty::I64),
        ("quota_remaining", Ty::I64),
        ("quota_renewal_rate", Ty::I64),
        ("access_rights", Ty::Dict(&ACCESS_DEFINITION_TY)),
        ("org_id", Ty::Str),
        ("hmac_enabled", Ty::Bool),
        ("enable_http_signature_validation", Ty::Bool),
        ("is_inactive", Ty::Bool),
        ("apply_policy_id", Ty::Str),
        ("apply_policies", STR_LIST),
        ("meta_data", Ty::Dict(&ANY)),
        ("tags", STR_LIST),
        ("alias", Ty::Str),
        ("last_updated", Ty::Str),
        ("post_expiry_action", Ty::Str),
        ("post_expiry_grace_period", Ty::I64),
        ("smoothing", Ty::OptAny),
    ],
    extra: true,
};

/// Whether `json` certainly decodes into a `Session` (see the module docs: `false`
/// only means "decode it to find out").
pub fn certainly_decodes(json: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(json);
    Check(&Ty::Obj(&SESSION))
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .is_ok()
}

/// Walks one value of the given shape.
#[derive(Clone, Copy)]
struct Check(&'static Ty);

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.0 {
            // The real types' own impls, so number coercions and ranges agree exactly.
            Ty::F64 => f64::deserialize(d).map(drop),
            Ty::I64 => i64::deserialize(d).map(drop),
            Ty::Bool => bool::deserialize(d).map(drop),
            Ty::Str => d.deserialize_str(self),
            // `deserialize_any`, not `IgnoredAny`: it parses numbers, so an
            // out-of-range one such as `1e400` is refused here as by `Value`.
            Ty::Any => d.deserialize_any(self),
            Ty::OptAny => d.deserialize_option(self),
            Ty::List(_) => d.deserialize_seq(self),
            Ty::Dict(_) | Ty::Obj(_) => d.deserialize_map(self),
        }
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.any_only(de::Unexpected::Other("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.any_only(de::Unexpected::Other("integer"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.any_only(de::Unexpected::Other("integer"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.any_only(de::Unexpected::Other("float"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        match self.0 {
            Ty::Str | Ty::Any => Ok(()),
            _ => Err(E::invalid_type(de::Unexpected::Other("string"), &self)),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.any_only(de::Unexpected::Unit)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        Check(&ANY).deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let item = match self.0 {
            Ty::List(item) => Check(item),
            Ty::Any => Check(&ANY),
            _ => return Err(de::Error::invalid_type(de::Unexpected::Seq, &self)),
        };
        while seq.next_element_seed(item)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let obj = match self.0 {
            Ty::Obj(obj) => obj,
            Ty::Dict(value) => {
                while map.next_key_seed(Check(&STR))?.is_some() {
                    map.next_value_seed(Check(value))?;
                }
                return Ok(());
            }
            Ty::Any => {
                while map.next_key_seed(Check(&STR))?.is_some() {
                    map.next_value_seed(Check(&ANY))?;
                }
                return Ok(());
            }
            _ => return Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
        };
        let mut seen = 0u64;
        let mut guess = 0;
        while let Some(field) = map.next_key_seed(FieldOf(obj, guess))? {
            match field {
                Some(i) => {
                    guess = i + 1;
                    // The derived impls refuse a repeated field; refusing it here is enough.
                    if seen & (1 << i) != 0 {
                        return Err(de::Error::custom("repeated field"));
                    }
                    seen |= 1 << i;
                    map.next_value_seed(Check(&obj.fields[i].1))?;
                }
                None if obj.extra => map.next_value_seed(Check(&ANY))?,
                // The derived impl would skip it, but the store never writes one.
                None => return Err(de::Error::custom("unknown field")),
            }
        }
        Ok(())
    }
}

impl Check {
    /// Scalars other than strings are only valid where any value is.
    fn any_only<E: de::Error>(self, got: de::Unexpected<'_>) -> Result<(), E> {
        match self.0 {
            Ty::Any => Ok(()),
            _ => Err(E::invalid_type(got, &self)),
        }
    }
}

/// A member name of `Obj`: `Some(field index)`, or `None` for an unknown member. The
/// search starts at the given index: members written by `serde` come in declaration
/// order, so the next one is usually the first tried.
struct FieldOf(&'static Obj, usize);

impl<'de> DeserializeSeed<'de> for FieldOf {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for FieldOf {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a field name of {}", self.0.name)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<usize>, E> {
        let fields = self.0.fields;
        let start = self.1.min(fields.len());
        Ok((start..fields.len())
            .chain(0..start)
            .find(|&i| fields[i].0 == name))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tyk::session::{AccessSpec, GraphqlType};
    use crate::tyk::Session;
    use crate::tyk::{AccessDefinition, ApiLimit, Endpoint, EndpointMethod, RateLimit};

    fn decodes(json: &str) -> bool {
        serde_json::from_str::<Session>(json).is_ok()
    }

    /// Top-level field names of a derived `Debug` rendering (`{:#?}` indents them by four).
    fn debug_fields(pretty: &str) -> Vec<String> {
        pretty
            .lines()
            .filter_map(|l| l.strip_prefix("    "))
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split_once(": ").map(|(name, _)| name.to_string()))
            .collect()
    }

    #[test]
    fn the_schema_lists_every_field_of_the_real_types() {
        let cases: [(&Obj, String); 8] = [
            (&SESSION, format!("{:#?}", Session::default())),
            (
                &ACCESS_DEFINITION,
                format!("{:#?}", AccessDefinition::default()),
            ),
            (&API_LIMIT, format!("{:#?}", ApiLimit::default())),
            (&ACCESS_SPEC, format!("{:#?}", AccessSpec::default())),
            (&GRAPHQL_TYPE, format!("{:#?}", GraphqlType::default())),
            (&ENDPOINT, format!("{:#?}", Endpoint::default())),
            (
                &ENDPOINT_METHOD,
                format!("{:#?}", EndpointMethod::default()),
            ),
            (&RATE_LIMIT, format!("{:#?}", RateLimit::default())),
        ];
        for (obj, debug) in cases {
            assert!(debug.starts_with(obj.name), "{debug}");
            let mut want: Vec<&str> = obj.fields.iter().map(|(f, _)| *f).collect();
            if obj.extra {
                want.push("extra");
            }
            assert_eq!(debug_fields(&debug), want, "fields of {}", obj.name);
            assert!(
                obj.fields.len() <= 64,
                "the repeat check uses a u64 bit set"
            );
        }
    }

    /// Every object type reachable from `Session`, with JSON text that places one
    /// member `M` inside it: `(prefix, obj, suffix)` around `{M}`.
    fn contexts() -> Vec<(String, &'static Obj, String)> {
        fn walk(
            prefix: String,
            obj: &'static Obj,
            suffix: String,
            out: &mut Vec<(String, &'static Obj, String)>,
        ) {
            out.push((prefix.clone(), obj, suffix.clone()));
            for (name, ty) in obj.fields {
                let (mut ty, mut pre, mut suf) =
                    (*ty, format!("{prefix}{{\"{name}\":"), "}".to_string());
                loop {
                    match ty {
                        Ty::List(t) => {
                            pre.push('[');
                            suf.insert(0, ']');
                            ty = *t;
                        }
                        Ty::Dict(t) => {
                            pre.push_str("{\"k\":");
                            suf.insert(0, '}');
                            ty = *t;
                        }
                        _ => break,
                    }
                }
                if let Ty::Obj(inner) = ty {
                    walk(pre, inner, format!("{suf}{suffix}"), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(String::new(), &SESSION, String::new(), &mut out);
        out
    }

    const VALUES: &[&str] = &[
        "null",
        "true",
        "0",
        "-0",
        "-1",
        "1.5",
        "1e400",
        "-1e400",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "\"s\"",
        "\"\\u00e9\\n\"",
        "[]",
        "[\"s\"]",
        "[1]",
        "[null]",
        "[1e400]",
        "[[]]",
        "[{}]",
        "[{\"url\":1}]",
        "[{\"name\":\"n\",\"limit\":{\"rate\":\"x\"}}]",
        "{}",
        "{\"k\":\"v\"}",
        "{\"k\":1e400}",
        "{\"k\":null}",
        "{\"rate\":\"x\"}",
        "{\"rate\":1,\"rate\":2}",
        "{\"api_id\":1}",
        "{\"limit\":{\"quota_max\":1.5}}",
        "{\"k\":{\"limit\":[]}}",
    ];

    #[test]
    fn accepting_implies_the_session_decodes() {
        let mut accepted = 0;
        for (prefix, obj, suffix) in contexts() {
            let names = obj.fields.iter().map(|(f, _)| *f).chain(["zz_unknown"]);
            for name in names {
                for value in VALUES {
                    let json = format!("{prefix}{{\"{name}\":{value}}}{suffix}");
                    if certainly_decodes(&json) {
                        accepted += 1;
                        assert!(decodes(&json), "accepted but does not decode: {json}");
                    }
                }
            }
            // The same field twice.
            for (name, _) in obj.fields {
                let json = format!("{prefix}{{\"{name}\":{{}},\"{name}\":{{}}}}{suffix}");
                assert!(!certainly_decodes(&json) || decodes(&json), "{json}");
            }
        }
        assert!(
            accepted > 100,
            "the walk accepted almost nothing ({accepted})"
        );
    }

    #[test]
    fn whole_documents() {
        for (json, want) in [
            ("{}", true),
            ("  {} ", true),
            ("{} x", false),
            ("[]", false),
            ("null", false),
            ("{\"r\\u0061te\":\"x\"}", false),
            ("{\"r\\u0061te\":2}", true),
            // Members out of declaration order are still recognised.
            ("{\"per\":1,\"rate\":\"x\"}", false),
            ("{\"org_id\":\"o\",\"rate\":2,\"org_id\":\"p\"}", false),
            (
                "{\"smoothing\":null,\"last_check\":1,\"smoothing\":1}",
                false,
            ),
            ("{\"meta_data\":null}", false),
            ("{\"smoothing\":null}", true),
            ("{\"access_rights\":{\"a\":[]}}", false),
            ("{\"extra_thing\":{\"deep\":[1,{\"x\":null}]}}", true),
        ] {
            assert_eq!(certainly_decodes(json), want, "{json}");
            if want {
                assert!(decodes(json), "{json}");
            }
        }
    }

    /// A session with every field of every nested type set, as the store would write it.
    pub(crate) fn full_session() -> Session {
        let limit = ApiLimit {
            rate: 1.5,
            per: 2.0,
            throttle_interval: 3.0,
            throttle_retry_limit: 4,
            max_query_depth: 5,
            quota_max: 6,
            quota_renews: 7,
            quota_remaining: 8,
            quota_renewal_rate: 9,
            smoothing: Some(serde_json::json!({"enabled": true, "step": 1.25})),
        };
        let ad = AccessDefinition {
            api_name: "n".into(),
            api_id: "a".into(),
            versions: vec!["v1".into()],
            allowed_urls: vec![AccessSpec {
                url: "/x".into(),
                methods: vec!["GET".into()],
            }],
            restricted_types: vec![GraphqlType {
                name: "T".into(),
                fields: vec!["f".into()],
            }],
            allowed_types: vec![GraphqlType::default()],
            disable_introspection: true,
            field_access_rights: vec![serde_json::json!({"type_name": "Q"})],
            limit,
            allowance_scope: "s".into(),
            endpoints: vec![Endpoint {
                path: "/e".into(),
                methods: vec![EndpointMethod {
                    name: "GET".into(),
                    limit: RateLimit {
                        rate: 1.0,
                        per: 0.5,
                    },
                }],
            }],
            extra: serde_json::from_str(r#"{"custom":[1,"é\n"]}"#).unwrap(),
        };
        Session {
            last_check: -1,
            allowance: 0.25,
            rate: 100.0,
            per: 1.0,
            throttle_interval: 2.0,
            throttle_retry_limit: 3,
            max_query_depth: 4,
            date_created: "2025-01-01T00:00:00Z".into(),
            expires: 1_767_225_600,
            quota_max: i64::MAX,
            quota_renews: 1,
            quota_remaining: i64::MIN,
            quota_renewal_rate: 3600,
            access_rights: [("a".to_string(), ad)].into(),
            org_id: "org\"quoted\"".into(),
            hmac_enabled: true,
            enable_http_signature_validation: true,
            is_inactive: true,
            apply_policy_id: "p".into(),
            apply_policies: vec!["p1".into(), "p2".into()],
            meta_data: serde_json::from_str(r#"{"user":"alice","n":1e300,"list":[null]}"#).unwrap(),
            tags: vec!["t".into()],
            alias: "alias".into(),
            last_updated: "1767225600".into(),
            post_expiry_action: "delete".into(),
            post_expiry_grace_period: 10,
            smoothing: Some(serde_json::json!(false)),
            extra: serde_json::from_str(r#"{"basic_auth_data":{"password":""},"n":null}"#).unwrap(),
        }
    }

    #[test]
    fn what_this_build_writes_passes() {
        for s in [Session::default(), full_session()] {
            let json = serde_json::to_string(&s).unwrap();
            assert!(certainly_decodes(&json), "{json}");
        }
    }
}
