//! The listener's certificates: read from `http_server_options.certificates` (cert and key
//! files) and `ssl_certificates` (one PEM holding both, a file or inline), checked (key
//! matches, not expired), and indexed by the names they answer to for SNI.
//!
//! Selection is Tyk's (tyk-apidef §6.1): the SNI name, lower-cased, looked up among every
//! certificate's DNS names and common name plus the entry's `domain_name`; then a
//! `*.` wildcard one label up; otherwise the first certificate loaded (`certificates`
//! first, then `ssl_certificates`, in file order).

use crate::tyk::config::HttpServerOptions;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// One certificate problem: where (a file, or the config entry for inline PEM) and why.
/// Never carries key material or PEM text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertProblem {
    pub source: String,
    pub reason: String,
    /// Only expired: the files are otherwise usable (`tollgate check` warns).
    pub expired: bool,
}

impl std::fmt::Display for CertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

/// A loaded certificate chain with its key.
#[derive(Debug)]
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    /// Lower-cased names, wildcards as written (`*.example.com`).
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_after: i64,
    /// The file (or config entry) it came from.
    pub source: String,
}

/// Every loaded certificate, indexed for SNI.
#[derive(Debug, Default)]
pub struct CertTable {
    certs: Vec<LoadedCert>,
    exact: HashMap<String, usize>,
    /// `*.example.com` under `example.com`.
    wildcard: HashMap<String, usize>,
}

impl CertTable {
    /// Loads every certificate named by `opts`; `now` (Unix seconds) decides expiry.
    /// Every problem is returned; the table holds the certificates that loaded.
    pub fn load(
        opts: &HttpServerOptions,
        provider: &CryptoProvider,
        now: i64,
    ) -> (CertTable, Vec<CertProblem>) {
        let mut table = CertTable::default();
        let mut problems = Vec::new();
        for (i, entry) in opts.certificates.iter().enumerate() {
            let what = format!("http_server_options.certificates[{i}]");
            if entry.cert_file.is_empty() || entry.key_file.is_empty() {
                problems.push(problem(&what, "needs both cert_file and key_file"));
                continue;
            }
            let cert = read(&entry.cert_file);
            let key = read(&entry.key_file);
            let (cert, key) = match (cert, key) {
                (Ok(c), Ok(k)) => (c, k),
                (c, k) => {
                    problems.extend(c.err());
                    problems.extend(k.err());
                    continue;
                }
            };
            let extra = (!entry.domain_name.is_empty()).then(|| entry.domain_name.clone());
            match build(
                &cert,
                &key,
                &entry.cert_file,
                &entry.key_file,
                provider,
                now,
            ) {
                Ok(mut c) => {
                    c.names.extend(extra.map(|n| n.to_ascii_lowercase()));
                    table.push(c);
                }
                Err(p) => problems.push(p),
            }
        }
        for (i, entry) in opts.ssl_certificates.iter().enumerate() {
            let (pem, source) = if entry.trim_start().starts_with("-----BEGIN") {
                (
                    entry.as_bytes().to_vec(),
                    format!("http_server_options.ssl_certificates[{i}] (inline PEM)"),
                )
            } else {
                match read(entry) {
                    Ok(b) => (b, entry.clone()),
                    Err(mut p) => {
                        p.reason.push_str(
                            " (certificate store ids are not supported: give a PEM file holding the certificate and its key)",
                        );
                        problems.push(p);
                        continue;
                    }
                }
            };
            match build(&pem, &pem, &source, &source, provider, now) {
                Ok(c) => table.push(c),
                Err(p) => problems.push(p),
            }
        }
        (table, problems)
    }

    fn push(&mut self, c: LoadedCert) {
        let at = self.certs.len();
        for name in &c.names {
            match name.strip_prefix("*.") {
                Some(parent) => self.wildcard.entry(parent.to_string()).or_insert(at),
                None => self.exact.entry(name.clone()).or_insert(at),
            };
        }
        self.certs.push(c);
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    pub fn certs(&self) -> &[LoadedCert] {
        &self.certs
    }

    /// The certificate for a handshake: by SNI, a wildcard one label up, or the first.
    pub fn pick(&self, sni: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let found = sni.and_then(|name| {
            let name = name.trim_end_matches('.');
            let lookup = |table: &HashMap<String, usize>, n: &str| {
                if n.bytes().any(|b| b.is_ascii_uppercase()) {
                    table.get(&n.to_ascii_lowercase()).copied()
                } else {
                    table.get(n).copied()
                }
            };
            lookup(&self.exact, name).or_else(|| {
                let (_, parent) = name.split_once('.')?;
                lookup(&self.wildcard, parent)
            })
        });
        self.certs.get(found.unwrap_or(0)).map(|c| &c.key)
    }
}

fn problem(source: &str, reason: impl Into<String>) -> CertProblem {
    CertProblem {
        source: source.to_string(),
        reason: reason.into(),
        expired: false,
    }
}

fn read(path: &str) -> Result<Vec<u8>, CertProblem> {
    std::fs::read(path).map_err(|e| problem(path, format!("cannot read: {e}")))
}

/// The certificates of a PEM document, in order (errors name `source`).
pub fn pem_certs(pem: &[u8], source: &str) -> Result<Vec<CertificateDer<'static>>, CertProblem> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| problem(source, format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(problem(
            source,
            "holds no certificate (no BEGIN CERTIFICATE block)",
        ));
    }
    Ok(certs)
}

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub names: Vec<String>,
    pub not_after: i64,
    pub is_ca: bool,
    /// DER of the subject, for the CA hints of a client-certificate request.
    pub subject: Vec<u8>,
}

/// Names (DNS SANs, then the CN), expiry and CA flag of one DER certificate.
pub fn inspect(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            let s = s.to_ascii_lowercase();
            if !names.contains(&s) {
                names.push(s);
            }
        }
    }
    Ok(CertInfo {
        names,
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
        subject: cert.tbs_certificate.subject.as_raw().to_vec(),
    })
}

fn build(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_source: &str,
    key_source: &str,
    provider: &CryptoProvider,
    now: i64,
) -> Result<LoadedCert, CertProblem> {
    let chain = pem_certs(cert_pem, cert_source)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        problem(
            key_source,
            match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "holds no private key (no BEGIN PRIVATE KEY block)".to_string()
                }
                e => format!("private key is not valid PEM: {e}"),
            },
        )
    })?;
    let info = inspect(chain[0].as_ref()).map_err(|r| problem(cert_source, r))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| problem(key_source, format!("unusable private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(problem(
                key_source,
                format!("private key does not match the certificate in {cert_source}"),
            ))
        }
        Err(e) => {
            return Err(problem(
                key_source,
                format!("cannot check that the key matches the certificate: {e}"),
            ))
        }
    }
    if info.not_after < now {
        return Err(CertProblem {
            source: cert_source.to_string(),
            reason: format!(
                "certificate expired at {} (Unix time {})",
                crate::util::rfc3339_secs(info.not_after),
                info.not_after
            ),
            expired: true,
        });
    }
    Ok(LoadedCert {
        key: Arc::new(certified),
        names: info.names,
        not_after: info.not_after,
        source: cert_source.to_string(),
    })
}
