//! The table itself: one row per field of Tyk's documents (tyk-apidef.md §7).
//! Kept one row per line (rustfmt skips this file) so it reads as a table.

use super::{Class, Inert, Node, Shape, Support};

const fn f(name: &'static str, shape: Shape, class: Class, support: Support) -> Node {
    Node { name, shape, class, support, inert: Inert::Zero }
}

const fn fi(name: &'static str, shape: Shape, class: Class, support: Support, inert: Inert) -> Node {
    Node { name, shape, class, support, inert }
}

use Class::{Beh, Na, Ops, Own, Sec};
use Shape::{Any, Bool, Int, ListOf, MapOf, Num, Str, StrList, Struct};
use Support::{Enforced as E, Ignored as I, Refused as R, Reported as W};

// ---------------------------------------------------------------- API definitions

const PATH_ENTRY: &[Node] = &[
    f("path", Str, Beh, E),
    f("method", Str, Beh, E),
    f("ignore_case", Bool, Beh, E),
    f("disabled", Bool, Beh, E),
    f("method_actions", Any, Sec, E),
];
const PATH_LIST: Shape = ListOf(&Struct(PATH_ENTRY));
/// An entry of one of the other lists: the sub-fields belong to the list's feature.
const ANY_LIST: Shape = ListOf(&Any);

const EXTENDED_PATHS: &[Node] = &[
    f("white_list", PATH_LIST, Sec, R("extended_paths.white_list (allow list)")),
    f("black_list", PATH_LIST, Sec, R("extended_paths.black_list (deny list)")),
    f("ignored", PATH_LIST, Beh, W("extended_paths.ignored (auth bypass; such paths still need a key here)")),
    f("mock_response", ANY_LIST, Beh, W("mock responding")),
    f("internal", ANY_LIST, Sec, R("internal-only endpoints")),
    f("rate_limit", ANY_LIST, Sec, R("per-endpoint rate limiting")),
    f("size_limits", ANY_LIST, Sec, R("request size limiting")),
    f("validate_json", ANY_LIST, Sec, R("JSON schema validation")),
    f("hard_timeouts", ANY_LIST, Beh, W("per-endpoint hard timeout")),
    f("circuit_breakers", ANY_LIST, Beh, W("circuit breaking")),
    f("url_rewrites", ANY_LIST, Beh, W("URL rewriting")),
    f("method_transforms", ANY_LIST, Beh, W("method transformation")),
    f("transform_headers", ANY_LIST, Beh, W("request header transformation")),
    f("transform_response_headers", ANY_LIST, Beh, W("response header transformation")),
    f("transform", ANY_LIST, Beh, W("request body transformation")),
    f("transform_response", ANY_LIST, Beh, W("response body transformation")),
    f("transform_jq", ANY_LIST, Na, I),
    f("transform_jq_response", ANY_LIST, Na, I),
    f("cache", ANY_LIST, Beh, W("response caching")),
    f("advance_cache_config", ANY_LIST, Beh, W("response caching")),
    f("virtual", ANY_LIST, Beh, W("a virtual (JavaScript) endpoint")),
    f("go_plugin", ANY_LIST, Sec, R("the Go plugin endpoint")),
    f("track_endpoints", ANY_LIST, Ops, W("endpoint analytics")),
    f("do_not_track_endpoints", ANY_LIST, Ops, W("endpoint analytics")),
    f("validate_request", ANY_LIST, Na, I),
    f("persist_graphql", ANY_LIST, Na, I),
];

const LEGACY_PATHS: &[Node] = &[
    f("white_list", StrList, Sec, R("paths.white_list (legacy allow list)")),
    f("black_list", StrList, Sec, R("paths.black_list (legacy deny list)")),
    f("ignored", StrList, Beh, W("paths.ignored (legacy auth bypass; such paths still need a key here)")),
];

const VERSION: &[Node] = &[
    // The map key selects the version; a different `name` is reported at compile.
    f("name", Str, Beh, E),
    fi("expires", Str, Sec, R("version expiry (expires on a versioned API)"), Inert::HeaderOnly(false)),
    f("paths", Struct(LEGACY_PATHS), Sec, E),
    // Selects between `paths` and `extended_paths`; both are checked whichever it selects.
    f("use_extended_paths", Bool, Sec, E),
    f("extended_paths", Struct(EXTENDED_PATHS), Sec, E),
    fi("global_headers", Any, Beh, W("version global_headers"), Inert::SiblingTrue("global_headers_disabled")),
    fi("global_headers_remove", StrList, Beh, W("version global_headers_remove"), Inert::SiblingTrue("global_headers_disabled")),
    f("global_headers_disabled", Bool, Beh, E),
    fi("global_response_headers", Any, Beh, W("version global_response_headers"), Inert::SiblingTrue("global_response_headers_disabled")),
    fi("global_response_headers_remove", StrList, Beh, W("version global_response_headers_remove"), Inert::SiblingTrue("global_response_headers_disabled")),
    f("global_response_headers_disabled", Bool, Beh, E),
    f("ignore_endpoint_case", Bool, Sec, R("case-insensitive endpoint matching (ignore_endpoint_case)")),
    fi("global_size_limit", Int, Sec, R("request size limits (global_size_limit)"), Inert::SiblingTrue("global_size_limit_disabled")),
    f("global_size_limit_disabled", Bool, Sec, E),
    fi("global_enforce_timeout", Any, Beh, W("global_enforce_timeout"), Inert::SiblingTrue("global_enforce_timeout_disabled")),
    f("global_enforce_timeout_disabled", Bool, Beh, E),
    f("override_target", Str, Beh, W("per-version override_target")),
];

const VERSION_DATA: &[Node] = &[
    f("not_versioned", Bool, Sec, E),
    f("default_version", Str, Sec, E),
    f("versions", MapOf(&Struct(VERSION)), Sec, E),
];

const DEFINITION: &[Node] = &[
    f("location", Str, Sec, E),
    f("key", Str, Sec, E),
    f("strip_path", Bool, Sec, R("stripping the version from the URL (definition.strip_path)")),
    f("strip_versioning_data", Bool, Sec, R("stripping the version from the URL (definition.strip_versioning_data)")),
    f("url_versioning_pattern", Str, Sec, R("definition.url_versioning_pattern")),
    f("fallback_to_default", Bool, Sec, E),
    fi("default", Str, Sec, R("base/child API versioning (definition.default)"), Inert::UnlessSibling("enabled")),
    f("enabled", Bool, Beh, R("base/child API versioning (definition.enabled)")),
    fi("name", Str, Beh, I, Inert::UnlessSibling("enabled")),
    fi("versions", Any, Beh, I, Inert::UnlessSibling("enabled")),
];

const AUTH_CONFIG: &[Node] = &[
    f("name", Str, Na, I),
    f("auth_header_name", Str, Sec, E),
    f("disable_header", Bool, Sec, E),
    f("use_param", Bool, Beh, E),
    f("param_name", Str, Beh, E),
    f("use_cookie", Bool, Beh, E),
    f("cookie_name", Str, Beh, E),
    f("use_certificate", Bool, Sec, R("dynamic mutual TLS (use_certificate)")),
    f("validate_signature", Bool, Sec, R("token request signatures (validate_signature)")),
    // Read only when `validate_signature` is on, which is refused.
    f("signature", Any, Sec, I),
];

/// `auth_configs`: the token scheme's entry is read; the other schemes' entries only
/// say where those schemes find credentials, and each scheme's own flag is checked.
const AUTH_CONFIGS: &[Node] = &[
    f("authToken", Struct(AUTH_CONFIG), Sec, E),
    f("jwt", Struct(AUTH_CONFIG), Sec, I),
    f("basic", Struct(AUTH_CONFIG), Sec, I),
    f("hmac", Struct(AUTH_CONFIG), Sec, I),
    f("oauth", Struct(AUTH_CONFIG), Sec, I),
    f("oidc", Struct(AUTH_CONFIG), Sec, I),
    f("coprocess", Struct(AUTH_CONFIG), Sec, I),
    f("externalOAuth", Struct(AUTH_CONFIG), Sec, I),
];

const TRANSPORT: &[Node] = &[
    f("ssl_insecure_skip_verify", Bool, Beh, W("proxy.transport TLS settings")),
    f("ssl_ciphers", StrList, Beh, W("proxy.transport TLS settings")),
    f("ssl_min_version", Int, Beh, W("proxy.transport TLS settings")),
    f("ssl_max_version", Int, Beh, W("proxy.transport TLS settings")),
    f("ssl_force_common_name_check", Bool, Beh, W("proxy.transport TLS settings")),
    f("proxy_url", Str, Beh, W("an outbound proxy (proxy.transport.proxy_url)")),
];

const PROXY: &[Node] = &[
    f("listen_path", Str, Beh, E),
    f("target_url", Str, Beh, E),
    f("strip_listen_path", Bool, Beh, E),
    f("disable_strip_slash", Bool, Beh, W("proxy.disable_strip_slash")),
    f("preserve_host_header", Bool, Beh, W("proxy.preserve_host_header")),
    f("enable_load_balancing", Bool, Beh, W("load balancing")),
    fi("target_list", StrList, Beh, W("load balancing (proxy.target_list)"), Inert::UnlessSibling("enable_load_balancing")),
    f("check_host_against_uptime_tests", Bool, Beh, W("uptime-checked load balancing")),
    f("service_discovery", Any, Beh, W("service discovery")),
    f("transport", Struct(TRANSPORT), Beh, E),
];

const GLOBAL_RATE_LIMIT: &[Node] = &[
    f("rate", Num, Sec, E),
    f("per", Num, Sec, E),
    f("disabled", Bool, Sec, E),
];

const BASIC_AUTH: &[Node] = &[
    f("extract_from_body", Bool, Beh, I),
    f("body_user_regexp", Str, Beh, I),
    f("body_password_regexp", Str, Beh, I),
    f("disable_caching", Bool, Ops, I),
    f("cache_ttl", Int, Ops, I),
];

const CORS: &[Node] = &[
    f("enable", Bool, Beh, W("CORS")),
    fi("allowed_origins", StrList, Beh, W("CORS"), Inert::UnlessSibling("enable")),
    fi("allowed_methods", StrList, Beh, W("CORS"), Inert::UnlessSibling("enable")),
    fi("allowed_headers", StrList, Beh, W("CORS"), Inert::UnlessSibling("enable")),
    fi("exposed_headers", StrList, Beh, W("CORS"), Inert::UnlessSibling("enable")),
    fi("allow_credentials", Bool, Beh, W("CORS"), Inert::UnlessSibling("enable")),
    fi("max_age", Int, Beh, W("CORS"), Inert::UnlessSibling("enable")),
    fi("options_passthrough", Bool, Beh, W("CORS options_passthrough"), Inert::UnlessSibling("enable")),
    f("debug", Bool, Ops, I),
];

const OAUTH_META: &[Node] = &[
    f("allowed_access_types", StrList, Beh, I),
    f("allowed_authorize_types", StrList, Beh, I),
    f("auth_login_redirect", Str, Beh, I),
];

const NOTIFICATIONS: &[Node] = &[
    f("shared_secret", Str, Ops, I),
    f("oauth_on_keychange_url", Str, Ops, I),
];

const UPTIME_TESTS: &[Node] = &[
    f("disabled", Bool, Beh, E),
    fi("check_list", ANY_LIST, Beh, W("uptime testing"), Inert::SiblingTrue("disabled")),
    f("config", Any, Beh, I),
];

const JWT_SCOPES: &[Node] = &[
    f("scope_claim_name", Str, Sec, R("JWT scope mapping")),
    f("scope_to_policy", Any, Sec, R("JWT scope mapping")),
];
const SCOPES: &[Node] = &[
    f("jwt", Struct(JWT_SCOPES), Sec, E),
    f("oidc", Any, Sec, R("OpenID Connect scope mapping")),
];

const CUSTOM_MIDDLEWARE: &[Node] = &[
    f("pre", ANY_LIST, Sec, R("custom middleware (plugins)")),
    f("post", ANY_LIST, Sec, R("custom middleware (plugins)")),
    f("post_key_auth", ANY_LIST, Sec, R("custom middleware (plugins)")),
    f("response", ANY_LIST, Sec, R("custom middleware (plugins)")),
    // An auth_check with no name runs nothing.
    f("auth_check", Any, Sec, R("custom authentication (plugins)")),
    f("driver", Str, Sec, I),
    f("id_extractor", Any, Sec, R("the plugin ID extractor")),
    f("traffic_logs", Any, Sec, R("the traffic log plugin")),
];

const CACHE_OPTIONS: &[Node] = &[
    f("enable_cache", Bool, Beh, W("response caching")),
    fi("cache_timeout", Int, Beh, I, Inert::UnlessSibling("enable_cache")),
    fi("cache_all_safe_requests", Bool, Beh, W("response caching"), Inert::UnlessSibling("enable_cache")),
    fi("cache_response_codes", ListOf(&Int), Beh, I, Inert::UnlessSibling("enable_cache")),
    fi("enable_upstream_cache_control", Bool, Beh, W("response caching"), Inert::UnlessSibling("enable_cache")),
    fi("cache_control_ttl_header", Str, Beh, I, Inert::UnlessSibling("enable_cache")),
    fi("cache_by_headers", StrList, Beh, I, Inert::UnlessSibling("enable_cache")),
];

const ANALYTICS_PLUGIN: &[Node] = &[
    f("enable", Bool, Ops, W("the analytics plugin")),
    f("plugin_path", Str, Ops, I),
    f("func_name", Str, Ops, I),
];

const GRAPHQL: &[Node] = &[f("enabled", Bool, Sec, R("GraphQL APIs (graphql.enabled)"))];

pub(super) const API: &[Node] = &[
    f("id", Any, Na, I),
    f("name", Str, Beh, E),
    fi("expiration", Str, Sec, R("API expiry (expiration on a non-versioned API)"), Inert::HeaderOnly(true)),
    f("slug", Str, Na, I),
    f("listen_port", Int, Beh, W("a per-API listen port")),
    f("protocol", Str, Beh, W("a per-API protocol")),
    f("enable_proxy_protocol", Bool, Beh, W("the PROXY protocol")),
    f("json_rpc_version", Str, Na, I),
    f("application_protocol", Str, Na, I),
    f("api_id", Str, Beh, E),
    f("org_id", Str, Sec, E),
    f("use_keyless", Bool, Sec, E),
    f("use_oauth2", Bool, Sec, R("the OAuth 2.0 provider (use_oauth2)")),
    f("oauth_meta", Struct(OAUTH_META), Beh, I),
    f("external_oauth", Any, Sec, R("external OAuth (external_oauth)")),
    f("use_openid", Bool, Sec, R("OpenID Connect (use_openid)")),
    f("openid_options", Any, Sec, I),
    f("auth", Struct(AUTH_CONFIG), Sec, E),
    f("auth_configs", Struct(AUTH_CONFIGS), Sec, E),
    f("use_basic_auth", Bool, Sec, R("basic authentication")),
    // Read only by basic auth, which is refused.
    f("basic_auth", Struct(BASIC_AUTH), Beh, I),
    f("use_mutual_tls_auth", Bool, Sec, R("mutual TLS authentication (use_mutual_tls_auth)")),
    f("client_certificates", StrList, Sec, R("client certificate checking (client_certificates)")),
    fi("upstream_certificates", Any, Beh, W("presenting client certificates upstream"), Inert::SiblingTrue("upstream_certificates_disabled")),
    f("upstream_certificates_disabled", Bool, Beh, E),
    fi("pinned_public_keys", Any, Sec, R("upstream certificate pinning (pinned_public_keys)"), Inert::SiblingTrue("certificate_pinning_disabled")),
    f("certificate_pinning_disabled", Bool, Sec, E),
    f("enable_jwt", Bool, Sec, R("JWT authentication (enable_jwt)")),
    // Standard (token) auth is the one scheme this build has.
    f("use_standard_auth", Bool, Sec, E),
    f("use_go_plugin_auth", Bool, Sec, R("plugin authentication (use_go_plugin_auth)")),
    f("enable_coprocess_auth", Bool, Sec, R("plugin authentication (enable_coprocess_auth)")),
    f("custom_plugin_auth_enabled", Bool, Sec, R("plugin authentication (custom_plugin_auth_enabled)")),
    // The JWT settings are read only by JWT auth, whose flag is refused.
    f("jwt_signing_method", Str, Sec, I),
    f("jwt_source", Str, Sec, I),
    f("jwt_jwks_uris", Any, Na, I),
    f("jwt_identity_base_field", Str, Sec, I),
    f("jwt_client_base_field", Str, Sec, I),
    f("jwt_policy_field_name", Str, Sec, I),
    f("jwt_default_policies", StrList, Sec, I),
    f("jwt_issued_at_validation_skew", Int, Beh, I),
    f("jwt_expires_at_validation_skew", Int, Beh, I),
    f("jwt_not_before_validation_skew", Int, Beh, I),
    f("jwt_skip_kid", Bool, Sec, I),
    f("scopes", Struct(SCOPES), Sec, E),
    f("jwt_scope_to_policy_mapping", Any, Sec, R("JWT scope mapping (jwt_scope_to_policy_mapping)")),
    f("jwt_scope_claim_name", Str, Sec, R("JWT scope mapping (jwt_scope_claim_name)")),
    f("idp_client_id_mapping_disabled", Bool, Beh, I),
    f("notifications", Struct(NOTIFICATIONS), Ops, I),
    f("enable_signature_checking", Bool, Sec, R("HMAC request signing (enable_signature_checking)")),
    // Read only by HMAC signing, which is refused.
    f("hmac_allowed_clock_skew", Num, Sec, I),
    f("hmac_allowed_algorithms", StrList, Sec, I),
    f("request_signing", Any, Beh, W("signing upstream requests (request_signing)")),
    // Only one scheme exists in this build, so the token is always the identity.
    f("base_identity_provided_by", Str, Sec, E),
    f("definition", Struct(DEFINITION), Sec, E),
    f("version_data", Struct(VERSION_DATA), Sec, E),
    f("uptime_tests", Struct(UPTIME_TESTS), Beh, E),
    f("proxy", Struct(PROXY), Beh, E),
    f("disable_rate_limit", Bool, Beh, E),
    f("disable_quota", Bool, Beh, E),
    f("custom_middleware", Struct(CUSTOM_MIDDLEWARE), Sec, E),
    fi("custom_middleware_bundle", Str, Sec, R("the plugin bundle (custom_middleware_bundle)"), Inert::SiblingTrue("custom_middleware_bundle_disabled")),
    f("custom_middleware_bundle_disabled", Bool, Na, E),
    f("cache_options", Struct(CACHE_OPTIONS), Beh, E),
    f("session_lifetime", Int, Sec, R("key lifetime (session_lifetime)")),
    f("session_lifetime_respects_key_expiration", Bool, Beh, W("session_lifetime_respects_key_expiration")),
    f("active", Bool, Na, I),
    f("internal", Bool, Sec, R("an internal-only API (internal)")),
    f("auth_provider", Any, Beh, W("an alternative key store (auth_provider)")),
    f("session_provider", Any, Beh, W("an alternative key store (session_provider)")),
    f("event_handlers", Any, Ops, W("event handling (webhooks)")),
    f("enable_batch_request_support", Bool, Beh, W("batch request support")),
    f("enable_ip_whitelisting", Bool, Sec, R("the IP allow list (enable_ip_whitelisting)")),
    fi("allowed_ips", StrList, Sec, R("the IP allow list (allowed_ips)"), Inert::SiblingTrue("ip_access_control_disabled")),
    f("enable_ip_blacklisting", Bool, Sec, R("the IP deny list (enable_ip_blacklisting)")),
    fi("blacklisted_ips", StrList, Sec, R("the IP deny list (blacklisted_ips)"), Inert::SiblingTrue("ip_access_control_disabled")),
    f("ip_access_control_disabled", Bool, Sec, E),
    f("dont_set_quota_on_create", Bool, Beh, E),
    f("expire_analytics_after", Int, Ops, I),
    f("response_processors", ANY_LIST, Beh, W("response processing")),
    f("CORS", Struct(CORS), Beh, E),
    fi("domain", Str, Sec, R("custom domain routing (domain)"), Inert::UnlessCustomDomains),
    f("domain_disabled", Bool, Sec, E),
    f("certificates", StrList, Beh, W("per-API server certificate selection")),
    f("do_not_track", Bool, Ops, I),
    f("enable_context_vars", Bool, Beh, W("context variable substitution (enable_context_vars)")),
    f("config_data", Any, Na, I),
    f("config_data_disabled", Bool, Na, I),
    f("tag_headers", StrList, Ops, I),
    f("global_rate_limit", Struct(GLOBAL_RATE_LIMIT), Sec, E),
    f("strip_auth_data", Bool, Beh, E),
    f("enable_detailed_recording", Bool, Ops, I),
    // A GraphQL API would be proxied as plain HTTP, without the keys' type, field and
    // depth restrictions: weaker than Tyk, so refused although §7 calls it BEH.
    f("graphql", Struct(GRAPHQL), Beh, E),
    f("analytics_plugin", Struct(ANALYTICS_PLUGIN), Ops, E),
    f("tags_disabled", Bool, Na, I),
    f("tags", StrList, Na, I),
    f("is_oas", Bool, Beh, E),
    f("detailed_tracing", Bool, Ops, I),
    f("upstream_auth", Any, Na, I),
    f("security_requirements", Any, Na, I),
    f("security_requirement_scopes", Any, Na, I),
    fi("error_overrides", Any, Beh, W("error_overrides"), Inert::SiblingTrue("error_overrides_disabled")),
    f("error_overrides_disabled", Bool, Beh, E),
];

// ---------------------------------------------------------------- policies and keys

const RATE: &[Node] = &[f("rate", Num, Sec, E), f("per", Num, Sec, E)];
const ALLOWED_URL: &[Node] = &[f("url", Str, Sec, E), f("methods", StrList, Sec, E)];
const ENDPOINT_METHOD: &[Node] = &[f("name", Str, Sec, E), f("limit", Struct(RATE), Sec, E)];
const ENDPOINT: &[Node] = &[
    f("path", Str, Sec, E),
    f("methods", ListOf(&Struct(ENDPOINT_METHOD)), Sec, E),
];
const API_LIMIT: &[Node] = &[
    f("rate", Num, Sec, E),
    f("per", Num, Sec, E),
    fi("throttle_interval", Num, Beh, W("request throttling"), Inert::NotPositive),
    fi("throttle_retry_limit", Int, Beh, W("request throttling"), Inert::NotPositive),
    f("max_query_depth", Int, Na, I),
    f("quota_max", Int, Sec, E),
    f("quota_renews", Int, Beh, E),
    f("quota_remaining", Int, Beh, E),
    f("quota_renewal_rate", Int, Sec, E),
    f("smoothing", Any, Beh, W("rate-limit smoothing")),
];
const ACCESS: &[Node] = &[
    f("api_id", Str, Sec, E),
    f("api_name", Str, Na, I),
    f("versions", StrList, Sec, E),
    f("allowed_urls", ListOf(&Struct(ALLOWED_URL)), Sec, E),
    f("limit", Struct(API_LIMIT), Sec, E),
    f("endpoints", ListOf(&Struct(ENDPOINT)), Sec, R("per-endpoint rate limiting (endpoints)")),
    f("allowance_scope", Str, Sec, E),
    // Read only by GraphQL APIs (refused: `graphql.enabled`) and by MCP / JSON-RPC
    // APIs (Tyk OAS only, refused).
    f("restricted_types", ANY_LIST, Sec, I),
    f("allowed_types", ANY_LIST, Sec, I),
    f("field_access_rights", ANY_LIST, Sec, I),
    f("disable_introspection", Bool, Sec, I),
    f("json_rpc_methods", ANY_LIST, Sec, I),
    f("json_rpc_methods_access_rights", Any, Sec, I),
    f("mcp_primitives", ANY_LIST, Sec, I),
    f("mcp_access_rights", Any, Sec, I),
];
const ACCESS_RIGHTS: Shape = MapOf(&Struct(ACCESS));

const PARTITIONS: &[Node] = &[
    f("quota", Bool, Sec, E),
    f("rate_limit", Bool, Sec, E),
    f("acl", Bool, Sec, E),
    f("complexity", Bool, Sec, E),
    f("per_api", Bool, Sec, E),
];

pub(super) const POLICY: &[Node] = &[
    f("_id", Any, Beh, E),
    f("id", Str, Sec, E),
    f("name", Str, Na, I),
    f("org_id", Str, Sec, E),
    f("rate", Num, Sec, E),
    f("per", Num, Sec, E),
    f("quota_max", Int, Sec, E),
    f("quota_renewal_rate", Int, Sec, E),
    fi("throttle_interval", Num, Beh, W("request throttling"), Inert::NotPositive),
    fi("throttle_retry_limit", Int, Beh, W("request throttling"), Inert::NotPositive),
    f("max_query_depth", Int, Na, I),
    f("access_rights", ACCESS_RIGHTS, Sec, E),
    f("hmac_enabled", Bool, Sec, R("HMAC request signing (hmac_enabled)")),
    f("enable_http_signature_validation", Bool, Sec, R("HTTP signature validation (enable_http_signature_validation)")),
    f("active", Bool, Na, E),
    f("is_inactive", Bool, Sec, E),
    f("tags", StrList, Ops, I),
    f("key_expires_in", Int, Sec, E),
    f("post_expiry_action", Str, Beh, I),
    f("post_expiry_grace_period", Int, Beh, I),
    f("partitions", Struct(PARTITIONS), Sec, E),
    f("last_updated", Str, Beh, E),
    f("meta_data", Any, Beh, E),
    f("graphql_access_rights", Any, Na, I),
    f("smoothing", Any, Beh, W("rate-limit smoothing")),
];

const BASIC_AUTH_DATA: &[Node] = &[
    f("password", Str, Sec, R("basic authentication (basic_auth_data)")),
    f("hash_type", Str, Sec, R("basic authentication (basic_auth_data)")),
];
const JWT_DATA: &[Node] = &[f("secret", Str, Sec, R("JWT authentication (jwt_data)"))];
const MONITOR: &[Node] = &[f(
    "trigger_limits",
    ListOf(&Num),
    Ops,
    W("quota monitoring (webhooks)"),
)];

pub(super) const SESSION: &[Node] = &[
    f("rate", Num, Sec, E),
    f("per", Num, Sec, E),
    fi("throttle_interval", Num, Beh, W("request throttling"), Inert::NotPositive),
    fi("throttle_retry_limit", Int, Beh, W("request throttling"), Inert::NotPositive),
    f("max_query_depth", Int, Na, I),
    f("quota_max", Int, Sec, E),
    f("quota_renewal_rate", Int, Sec, E),
    f("quota_remaining", Int, Beh, E),
    f("quota_renews", Int, Beh, E),
    f("expires", Int, Sec, E),
    f("is_inactive", Bool, Sec, E),
    f("access_rights", ACCESS_RIGHTS, Sec, E),
    f("org_id", Str, Sec, E),
    f("apply_policies", StrList, Sec, E),
    f("apply_policy_id", Str, Sec, E),
    f("basic_auth_data", Struct(BASIC_AUTH_DATA), Sec, E),
    f("jwt_data", Struct(JWT_DATA), Sec, E),
    f("hmac_enabled", Bool, Sec, R("HMAC request signing (hmac_enabled)")),
    f("enable_http_signature_validation", Bool, Sec, R("HTTP signature validation (enable_http_signature_validation)")),
    f("hmac_string", Str, Sec, R("HMAC secrets (hmac_string)")),
    f("rsa_certificate_id", Str, Sec, R("RSA request signing (rsa_certificate_id)")),
    f("certificate", Str, Sec, R("client certificate binding (certificate)")),
    f("mtls_static_certificate_bindings", Any, Sec, R("static mTLS certificate bindings")),
    f("oauth_client_id", Str, Beh, I),
    f("oauth_keys", Any, Beh, I),
    // Free-form, with the special `policies` key applied as custom policies.
    f("meta_data", Any, Beh, E),
    f("tags", StrList, Ops, I),
    f("alias", Str, Ops, I),
    f("last_updated", Str, Beh, E),
    f("session_lifetime", Int, Sec, R("key lifetime (session_lifetime)")),
    f("post_expiry_action", Str, Sec, I),
    f("post_expiry_grace_period", Int, Sec, I),
    f("date_created", Any, Na, I),
    f("last_check", Int, Na, I),
    f("allowance", Num, Na, I),
    f("data_expires", Int, Ops, I),
    f("enable_detailed_recording", Bool, Ops, I),
    f("enable_detail_recording", Bool, Ops, I),
    f("monitor", Struct(MONITOR), Ops, E),
    f("id_extractor_deadline", Int, Na, I),
    f("smoothing", Any, Beh, W("rate-limit smoothing")),
];

// ---------------------------------------------------------------- tyk.conf

const CONF_POLICIES: &[Node] = &[
    f("policy_source", Str, Sec, E),
    f("policy_record_name", Str, Sec, E),
    f("policy_path", Str, Sec, E),
    f("allow_explicit_policy_id", Bool, Na, I),
    f("policy_connection_string", Str, Na, I),
];

const CONF_STORAGE: &[Node] = &[
    // `type: redis` is refused by the config's own validation until cluster mode exists.
    f("type", Str, Beh, E),
    f("path", Str, Own, E),
    f("host", Str, Beh, E),
    f("port", Int, Beh, E),
    f("password", Str, Beh, E),
    f("database", Int, Beh, E),
    f("username", Str, Beh, I),
    f("addrs", StrList, Beh, I),
    f("hosts", Any, Beh, I),
    f("master_name", Str, Beh, I),
    f("sentinel_password", Str, Beh, I),
    f("optimisation_max_idle", Int, Ops, I),
    f("optimisation_max_active", Int, Ops, I),
    f("timeout", Int, Ops, I),
    f("enable_cluster", Bool, Beh, I),
    f("use_ssl", Bool, Beh, I),
    f("ssl_insecure_skip_verify", Bool, Beh, I),
    f("ca_file", Str, Beh, I),
    f("cert_file", Str, Beh, I),
    f("key_file", Str, Beh, I),
    f("tls_max_version", Str, Beh, I),
    f("tls_min_version", Str, Beh, I),
];

const CERT_ENTRY: &[Node] = &[
    f("domain_name", Str, Beh, E),
    f("cert_file", Str, Beh, E),
    f("key_file", Str, Beh, E),
];

const HTTP_SERVER_OPTIONS: &[Node] = &[
    f("use_ssl", Bool, Sec, E),
    f("certificates", ListOf(&Struct(CERT_ENTRY)), Beh, E),
    f("ssl_certificates", StrList, Beh, E),
    f("server_name", Str, Beh, I),
    f("min_version", Int, Sec, E),
    f("max_version", Int, Sec, E),
    f("ssl_ciphers", StrList, Sec, E),
    // A server-side switch with no effect in Tyk either (tyk-apidef §6.1).
    f("ssl_insecure_skip_verify", Bool, Na, I),
    f("enable_http2", Bool, Beh, E),
    // Read only with mutual TLS, which is refused.
    f("skip_client_ca_announcement", Bool, Beh, I),
    f("read_timeout", Int, Beh, W("http_server_options.read_timeout")),
    f("write_timeout", Int, Beh, W("http_server_options.write_timeout")),
    f("max_request_body_size", Int, Sec, R("request body size limiting (http_server_options.max_request_body_size)")),
    f("max_response_body_size", Int, Beh, I),
    f("flush_interval", Int, Beh, W("http_server_options.flush_interval")),
    f("skip_url_cleaning", Bool, Beh, I),
    f("skip_target_path_escaping", Bool, Beh, W("http_server_options.skip_target_path_escaping")),
    f("enable_websockets", Bool, Beh, W("WebSocket proxying (http_server_options.enable_websockets)")),
    // Only IP rules read the forwarded client address, and they are refused.
    f("xff_depth", Int, Sec, I),
    f("enable_strict_routes", Bool, Sec, E),
    f("enable_path_prefix_matching", Bool, Sec, E),
    f("enable_path_suffix_matching", Bool, Sec, E),
];

const SECURITY_CERTS: &[Node] = &[
    f("apis", Any, Sec, R("client certificate checking (security.certificates.apis)")),
    f("upstream", Any, Beh, W("presenting client certificates upstream (security.certificates.upstream)")),
    f("control_api", StrList, Sec, R("mutual TLS on the control API (security.certificates.control_api)")),
    f("dashboard_api", Any, Ops, I),
    f("mdcb_api", Any, Ops, I),
];

const SECURITY: &[Node] = &[
    f("pinned_public_keys", Any, Sec, R("upstream certificate pinning (security.pinned_public_keys)")),
    f("certificates", Struct(SECURITY_CERTS), Sec, E),
    f("control_api_use_mutual_tls", Bool, Sec, R("mutual TLS on the control API (security.control_api_use_mutual_tls)")),
    f("allow_unsafe_dynamic_mtls_token", Bool, Sec, I),
    f("private_certificate_encoding_secret", Str, Beh, I),
    f("certificate_expiry_monitor", Any, Ops, I),
];

const CONF_RELOAD: &[Node] = &[f("watch", Bool, Own, E), f("debounce_ms", Int, Own, E)];

pub(super) const CONFIG: &[Node] = &[
    f("listen_address", Str, Beh, E),
    f("listen_port", Int, Beh, E),
    f("hostname", Str, Sec, R("binding APIs to a host name (hostname)")),
    f("control_api_hostname", Str, Sec, R("binding the control API to a host name (control_api_hostname)")),
    f("control_api_port", Int, Sec, E),
    f("secret", Str, Sec, E),
    f("node_secret", Str, Na, I),
    f("pid_file_location", Str, Ops, W("writing a PID file (pid_file_location)")),
    f("allow_insecure_configs", Bool, Na, I),
    f("public_key_path", Str, Na, I),
    f("allow_remote_config", Bool, Na, I),
    f("enable_config_inspection", Bool, Na, I),
    f("app_path", Str, Beh, E),
    f("template_path", Str, Beh, I),
    f("middleware_path", Str, Beh, I),
    f("tyk_js_path", Str, Beh, I),
    f("enable_jsvm", Bool, Beh, I),
    f("jsvm_timeout", Int, Beh, I),
    f("disable_virtual_path_blobs", Bool, Beh, I),
    f("coprocess_options", Any, Na, I),
    f("enable_bundle_downloader", Bool, Na, I),
    f("bundle_base_url", Str, Na, I),
    f("bundle_insecure_skip_verify", Bool, Na, I),
    f("skip_verify_existing_plugin_bundle", Bool, Na, I),
    f("policies", Struct(CONF_POLICIES), Sec, E),
    f("allow_unsafe_policy_ids", Bool, Beh, E),
    f("use_db_app_configs", Bool, Na, I),
    f("db_app_conf_options", Any, Na, I),
    f("disable_dashboard_zeroconf", Bool, Na, I),
    f("slave_options", Any, Na, I),
    f("management_node", Bool, Na, I),
    f("auth_override", Any, Na, I),
    f("cloud", Bool, Na, I),
    f("storage", Struct(CONF_STORAGE), Beh, E),
    f("enable_separate_cache_store", Bool, Beh, I),
    f("cache_storage", Any, Beh, I),
    f("enable_separate_analytics_store", Bool, Ops, I),
    f("analytics_storage", Any, Ops, I),
    f("hash_keys", Bool, Beh, E),
    f("hash_key_function", Str, Beh, E),
    f("hash_key_function_fallback", StrList, Beh, W("hash_key_function_fallback")),
    f("basic_auth_hash_key_function", Str, Beh, I),
    f("enable_hashed_keys_listing", Bool, Beh, E),
    f("disable_key_actions_by_username", Bool, Beh, I),
    f("min_token_length", Int, Sec, E),
    f("allow_master_keys", Bool, Sec, E),
    f("suppress_redis_signal_reload", Bool, Ops, I),
    f("reload_interval", Int, Ops, I),
    f("resource_sync", Any, Ops, I),
    f("http_server_options", Struct(HTTP_SERVER_OPTIONS), Sec, E),
    f("version_header", Str, Beh, W("version_header")),
    // Checked on each API's `domain`.
    f("enable_custom_domains", Bool, Sec, E),
    f("ports_whitelist", Any, Beh, I),
    f("disable_ports_whitelist", Bool, Beh, I),
    f("close_connections", Bool, Beh, W("close_connections")),
    f("proxy_default_timeout", Num, Beh, E),
    f("proxy_close_connections", Bool, Ops, W("proxy_close_connections")),
    f("max_idle_connections", Int, Ops, W("max_idle_connections")),
    f("max_idle_connections_per_host", Int, Ops, W("max_idle_connections_per_host")),
    f("max_conn_time", Int, Ops, W("max_conn_time")),
    f("proxy_ssl_insecure_skip_verify", Bool, Beh, I),
    f("proxy_ssl_min_version", Int, Beh, I),
    f("proxy_ssl_max_version", Int, Beh, I),
    f("proxy_ssl_ciphers", StrList, Beh, I),
    f("proxy_ssl_disable_renegotiation", Bool, Beh, I),
    f("proxy_enable_http2", Bool, Beh, W("HTTP/2 to upstreams (proxy_enable_http2)")),
    f("ssl_force_common_name_check", Bool, Beh, I),
    f("security", Struct(SECURITY), Sec, E),
    f("enable_fixed_window_rate_limiter", Bool, Beh, W("choosing another rate-limiter algorithm (GCRA is used)")),
    f("enable_redis_rolling_limiter", Bool, Beh, W("choosing another rate-limiter algorithm (GCRA is used)")),
    f("enable_sentinel_rate_limiter", Bool, Beh, W("choosing another rate-limiter algorithm (GCRA is used)")),
    f("enable_non_transactional_rate_limiter", Bool, Beh, W("choosing another rate-limiter algorithm (GCRA is used)")),
    f("drl_threshold", Num, Beh, I),
    f("drl_notification_frequency", Int, Beh, I),
    f("drl_enable_sentinel_rate_limiter", Bool, Beh, I),
    f("enable_rate_limit_smoothing", Bool, Beh, W("rate-limit smoothing")),
    f("rate_limit_response_headers", Str, Beh, E),
    f("enforce_org_quotas", Bool, Sec, R("organisation quota enforcement (enforce_org_quotas)")),
    f("experimental_process_org_off_thread", Bool, Beh, I),
    f("enforce_org_data_age", Bool, Ops, I),
    f("enforce_org_data_detail_logging", Bool, Ops, I),
    f("monitor", Any, Ops, I),
    f("uptime_tests", Any, Beh, I),
    f("service_discovery", Any, Beh, I),
    f("health_check", Any, Ops, I),
    f("health_check_endpoint_name", Str, Ops, E),
    f("readiness_check_endpoint_name", Str, Ops, E),
    f("liveness_check", Any, Ops, I),
    f("graceful_shutdown_timeout_duration", Int, Ops, W("graceful_shutdown_timeout_duration")),
    f("graceful_shutdown_delay_seconds", Int, Ops, W("graceful_shutdown_delay_seconds")),
    f("oauth_refresh_token_expire", Int, Beh, I),
    f("oauth_token_expire", Int, Beh, I),
    f("oauth_token_expired_retain_period", Int, Beh, I),
    f("oauth_redirect_uri_separator", Str, Beh, I),
    f("oauth_error_status_code", Int, Beh, I),
    f("jwt_ssl_insecure_skip_verify", Bool, Beh, I),
    f("jwks", Any, Beh, I),
    f("enable_analytics", Bool, Ops, W("analytics (enable_analytics)")),
    f("analytics_config", Any, Ops, I),
    f("dns_cache", Any, Ops, I),
    f("local_session_cache", Any, Beh, I),
    f("ignore_endpoint_case", Bool, Sec, R("case-insensitive endpoint matching (ignore_endpoint_case)")),
    f("ignore_canonical_mime_header_key", Bool, Beh, I),
    f("secrets", Any, Beh, W("secret substitution (secrets)")),
    f("kv", Any, Beh, W("key-value secret lookup (kv)")),
    f("override_messages", Any, Beh, W("override_messages")),
    f("error_overrides", Any, Beh, W("error_overrides")),
    f("hide_generator_header", Bool, Beh, E),
    f("event_handlers", Any, Ops, W("event handling")),
    f("event_trigers_defunct", Any, Na, I),
    f("event_triggers_defunct", Any, Na, I),
    f("suppress_default_org_store", Bool, Na, I),
    f("legacy_enable_allowance_countdown", Bool, Na, I),
    f("force_global_session_lifetime", Bool, Sec, R("global key lifetime (force_global_session_lifetime)")),
    fi("global_session_lifetime", Int, Sec, R("global key lifetime (global_session_lifetime)"), Inert::UnlessSibling("force_global_session_lifetime")),
    f("session_lifetime_respects_key_expiration", Bool, Sec, I),
    f("enable_key_logging", Bool, Ops, I),
    f("log_level", Str, Ops, I),
    f("log_format", Str, Ops, I),
    f("access_logs", Any, Ops, W("access logging (access_logs)")),
    f("track_404_logs", Bool, Ops, I),
    f("use_redis_log", Bool, Ops, I),
    f("use_sentry", Bool, Ops, W("Sentry logging")),
    f("sentry_code", Str, Ops, I),
    f("sentry_log_level", Str, Ops, I),
    f("use_syslog", Bool, Ops, W("syslog logging")),
    f("syslog_transport", Str, Ops, I),
    f("syslog_network_addr", Str, Ops, I),
    f("use_graylog", Bool, Ops, W("Graylog logging")),
    f("graylog_network_addr", Str, Ops, I),
    f("use_logstash", Bool, Ops, W("Logstash logging")),
    f("logstash_transport", Str, Ops, I),
    f("logstash_network_addr", Str, Ops, I),
    f("statsd_connection_string", Str, Ops, W("StatsD export")),
    f("statsd_prefix", Str, Ops, I),
    f("newrelic", Any, Ops, W("New Relic")),
    f("opentelemetry", Any, Ops, I),
    f("tracing", Any, Ops, I),
    f("enable_http_profiler", Bool, Ops, I),
    f("regexp_cache_expire", Int, Ops, I),
    f("regexp_cache_max_entries", Int, Ops, I),
    f("disable_regexp_cache", Bool, Ops, I),
    f("disable_regexp_cache_bound", Bool, Ops, I),
    f("disable_auto_max_procs", Bool, Ops, I),
    f("external_services", Any, Ops, I),
    f("oas_config", Any, Na, I),
    f("streaming", Any, Na, I),
    f("labs", Any, Na, I),
    f("reload", Struct(CONF_RELOAD), Own, E),
];

