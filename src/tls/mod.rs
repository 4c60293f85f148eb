//! TLS on the listeners (`http_server_options.use_ssl`): certificates chosen by SNI
//! ([`certs`]), Tyk's numeric version bounds and cipher names, ALPN `http/1.1` (and `h2`
//! first with `enable_http2`).
//!
//! rustls with the `ring` provider. rustls speaks TLS 1.2 and 1.3 only: a bound that
//! asks for 1.0 or 1.1 alone is refused, a lower bound of 1.0/1.1 starts at 1.2 (never
//! weaker than Tyk: a client Tyk would serve over 1.0 is refused, not the reverse).

pub mod certs;

use crate::tyk::config::HttpServerOptions;
use arc_swap::ArcSwap;
use certs::{CertProblem, CertTable};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedProtocolVersion};
use std::sync::Arc;

/// A listener's TLS: the acceptor and the certificates it serves.
pub struct ServerTls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    table: Arc<ArcSwap<CertTable>>,
    /// The provider the keys are loaded with (cipher suites already narrowed).
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The certificates served now.
    pub fn table(&self) -> arc_swap::Guard<Arc<CertTable>> {
        self.table.load()
    }

    /// Re-reads the certificate files for new handshakes (connections already open keep
    /// theirs). Any problem keeps every current certificate: a half-loaded table could
    /// answer a name with the wrong certificate.
    pub fn reload(&self, opts: &HttpServerOptions, now: i64) -> Result<usize, Vec<CertProblem>> {
        let (table, problems) = CertTable::load(opts, &self.provider, now);
        if !problems.is_empty() {
            return Err(problems);
        }
        if table.is_empty() {
            return Err(vec![setting(
                "use_ssl",
                "is true but no certificate is configured (certificates or ssl_certificates)",
            )]);
        }
        let n = table.certs().len();
        self.table.store(Arc::new(table));
        Ok(n)
    }
}

#[derive(Debug)]
struct Resolver(Arc<ArcSwap<CertTable>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.load().pick(hello.server_name()).cloned()
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn setting(field: &str, reason: impl Into<String>) -> CertProblem {
    CertProblem {
        source: format!("http_server_options.{field}"),
        reason: reason.into(),
        expired: false,
    }
}

/// The versions allowed by Tyk's numeric bounds (0 = default: 1.2 to 1.3).
pub fn versions(
    min: u16,
    max: u16,
) -> Result<Vec<&'static SupportedProtocolVersion>, Vec<CertProblem>> {
    let mut problems = Vec::new();
    for (field, v) in [("min_version", min), ("max_version", max)] {
        if v != 0 && !(769..=772).contains(&v) {
            problems.push(setting(
                field,
                format!("{v} is not a TLS version (769 = 1.0, 770 = 1.1, 771 = 1.2, 772 = 1.3)"),
            ));
        }
    }
    if (769..=770).contains(&max) {
        problems.push(setting(
            "max_version",
            format!("{max} allows only TLS 1.0/1.1, which this build does not offer (TLS 1.2 and 1.3 only)"),
        ));
    }
    if min != 0 && max != 0 && min > max {
        problems.push(setting(
            "min_version",
            format!("{min} is above max_version {max}"),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut out = Vec::new();
    if min < 772 {
        out.push(&rustls::version::TLS12);
    }
    if max == 0 || max == 772 {
        out.push(&rustls::version::TLS13);
    }
    Ok(out)
}

/// Narrows the provider's TLS 1.2 suites to `names` (Go/IANA names; Go's
/// `…CHACHA20_POLY1305` without `_SHA256` too). TLS 1.3 suites are not configurable, as
/// in Go. Names this build does not offer are skipped, as Tyk does, and returned.
pub fn restrict_ciphers(p: &mut CryptoProvider, names: &[String]) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    let wanted = |s: &rustls::SupportedCipherSuite| {
        let iana = format!("{:?}", s.suite());
        names.iter().any(|n| {
            let n = n.trim();
            n.eq_ignore_ascii_case(&iana) || format!("{n}_SHA256").eq_ignore_ascii_case(&iana)
        })
    };
    let unknown = names
        .iter()
        .filter(|n| {
            !p.cipher_suites.iter().any(|s| {
                let iana = format!("{:?}", s.suite());
                let n = n.trim();
                s.version() == &rustls::version::TLS12
                    && (n.eq_ignore_ascii_case(&iana)
                        || format!("{n}_SHA256").eq_ignore_ascii_case(&iana))
            })
        })
        .cloned()
        .collect();
    p.cipher_suites
        .retain(|s| s.version() != &rustls::version::TLS12 || wanted(s));
    unknown
}

/// The certificate files `opts` names (for the file watcher).
pub fn cert_files(opts: &HttpServerOptions) -> Vec<std::path::PathBuf> {
    if !opts.use_ssl {
        return Vec::new();
    }
    let mut out: Vec<std::path::PathBuf> = Vec::new();
    for e in &opts.certificates {
        out.push(e.cert_file.clone().into());
        out.push(e.key_file.clone().into());
    }
    for e in &opts.ssl_certificates {
        if !e.trim_start().starts_with("-----BEGIN") {
            out.push(e.clone().into());
        }
    }
    out.retain(|p| !p.as_os_str().is_empty());
    out
}

/// Builds the listener TLS from `opts` (`None` when `use_ssl` is off). `now`: Unix
/// seconds, for expiry. Every problem at once; skipped cipher names are returned as
/// warnings.
pub fn server(
    opts: &HttpServerOptions,
    now: i64,
) -> Result<Option<(ServerTls, Vec<String>)>, Vec<CertProblem>> {
    if !opts.use_ssl {
        return Ok(None);
    }
    let mut p = provider();
    let mut problems = Vec::new();
    let versions = versions(opts.min_version, opts.max_version).unwrap_or_else(|mut e| {
        problems.append(&mut e);
        Vec::new()
    });
    let skipped = restrict_ciphers(&mut p, &opts.ssl_ciphers);
    let (table, mut cert_problems) = CertTable::load(opts, &p, now);
    problems.append(&mut cert_problems);
    if table.is_empty() && problems.is_empty() {
        problems.push(setting(
            "use_ssl",
            "is true but no certificate is configured (certificates or ssl_certificates)",
        ));
    }
    let has_tls12_suite = p
        .cipher_suites
        .iter()
        .any(|s| s.version() == &rustls::version::TLS12);
    if !opts.ssl_ciphers.is_empty() && !has_tls12_suite {
        problems.push(setting(
            "ssl_ciphers",
            "none of the listed TLS 1.2 cipher suites is available in this build",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let table = Arc::new(ArcSwap::from_pointee(table));
    let provider = Arc::new(p);
    let mut cfg = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| vec![setting("min_version", e.to_string())])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(table.clone())));
    cfg.alpn_protocols = if opts.enable_http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let skipped = skipped
        .into_iter()
        .map(|n| format!("http_server_options.ssl_ciphers: {n:?} is not a TLS 1.2 suite this build offers; skipped"))
        .collect();
    Ok(Some((
        ServerTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
            table,
            provider,
        },
        skipped,
    )))
}
