//! Named environments (`tollgate config add/use/list`) and how a command finds its
//! gateway URL and secret.
//!
//! The config file stores only the *name* of the environment variable that holds an
//! environment's secret, never the secret, so it can be shared or committed.

use super::failure::Failure;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "config.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub url: String,
    pub secret_env: String,
}

/// Reads process environment variables; a function so tests need not mutate the
/// real environment.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `$TOLLGATE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/tollgate`, else
/// `$HOME/.config/tollgate`.
pub fn config_dir(env: Lookup<'_>) -> Result<PathBuf, Failure> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(d) = set("TOLLGATE_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(d) = set("XDG_CONFIG_HOME").filter(|d| Path::new(d).is_absolute()) {
        return Ok(PathBuf::from(d).join("tollgate"));
    }
    if let Some(h) = set("HOME") {
        return Ok(PathBuf::from(h).join(".config").join("tollgate"));
    }
    Err(Failure::Usage(
        "cannot find a config directory: set TOLLGATE_CONFIG_DIR, XDG_CONFIG_HOME or HOME".into(),
    ))
}

/// The config file, or an empty one when it does not exist yet.
pub fn load(dir: &Path) -> Result<ConfigFile, Failure> {
    let path = dir.join(FILE_NAME);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Usage(format!(
                "{}: not a valid tollgate config file: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(Failure::Io(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Writes the config file atomically (temp file + rename), creating the directory.
pub fn save(dir: &Path, cfg: &ConfigFile) -> Result<(), Failure> {
    let path = dir.join(FILE_NAME);
    let io = |e: std::io::Error| Failure::Io(format!("cannot write {}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut bytes = serde_json::to_vec_pretty(cfg)
        .map_err(|e| Failure::Io(format!("cannot encode the config: {e}")))?;
    bytes.push(b'\n');
    crate::util::atomic_write(&path, &bytes).map_err(io)
}

pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("an environment name must be 1 to 64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "invalid environment name {name:?}: use letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

pub fn validate_var(var: &str) -> Result<(), String> {
    let mut chars = var.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid environment variable name {var:?}: use letters, digits and '_', not starting with a digit (the secret itself is never stored; pass the NAME of the variable that holds it)"
        ))
    }
}

/// Where a command sends its requests, and with which secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub secret: Option<String>,
    /// Where the secret was expected, for the authentication-failure hint.
    pub secret_source: String,
}

/// `--url` > `TOLLGATE_URL` > the current environment; `TOLLGATE_SECRET` > the
/// current environment's secret variable. The environment's secret is only sent to
/// the environment's own URL, so `--url` can never leak it to another host.
pub fn target(url_flag: Option<&str>, env: Lookup<'_>) -> Result<Target, Failure> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    let overridden = url_flag.is_some() || set("TOLLGATE_URL").is_some();
    let current = match config_dir(env).map(|dir| load(&dir)) {
        Err(_) => None,
        Ok(Ok(cfg)) => cfg
            .current
            .as_ref()
            .and_then(|c| cfg.environments.get(c).map(|e| (c.clone(), e.clone()))),
        // A broken config file only matters when the URL has to come from it.
        Ok(Err(_)) if overridden => None,
        Ok(Err(e)) => return Err(e),
    };
    let url = match (url_flag, set("TOLLGATE_URL"), &current) {
        (Some(u), _, _) => u.to_string(),
        (None, Some(u), _) => u,
        (None, None, Some((_, e))) => e.url.clone(),
        (None, None, None) => {
            return Err(Failure::Usage(
                "no gateway URL: pass --url, set TOLLGATE_URL, or add an environment with `tollgate config add NAME --url URL --secret-env VAR` and `tollgate config use NAME`".into(),
            ))
        }
    };
    let url = normalise_url(&url)?;
    if let Some(s) = set("TOLLGATE_SECRET") {
        return Ok(Target {
            url,
            secret: Some(s),
            secret_source: "TOLLGATE_SECRET".into(),
        });
    }
    let own = current
        .as_ref()
        .filter(|(_, e)| normalise_url(&e.url).ok().as_deref() == Some(url.as_str()));
    Ok(match own {
        Some((name, e)) => Target {
            url,
            secret: set(&e.secret_env),
            secret_source: format!("{} (environment {name})", e.secret_env),
        },
        None => Target {
            url,
            secret: None,
            secret_source: "TOLLGATE_SECRET".into(),
        },
    })
}

/// `http://host:port[/prefix]` without a trailing slash. Only plain HTTP: this build
/// has no TLS client (put the control listener on loopback or behind a tunnel).
pub fn normalise_url(url: &str) -> Result<String, Failure> {
    let bad = |why: &str| Failure::Usage(format!("invalid gateway URL {url:?}: {why}"));
    let uri: http::Uri = url.parse().map_err(|_| bad("expected http://HOST:PORT"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported by this build; use http:// to a trusted network address",
            ))
        }
        _ => return Err(bad("expected http://HOST:PORT")),
    }
    let Some(auth) = uri.authority() else {
        return Err(bad("missing host"));
    };
    if auth.as_str().contains('@') {
        return Err(bad(
            "credentials in the URL are not supported; use --secret-env",
        ));
    }
    if uri.query().is_some() {
        return Err(bad("a query string is not allowed"));
    }
    let path = uri.path().trim_end_matches('/');
    Ok(format!("http://{auth}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn config_dir_precedence() {
        let l = lookup(&[
            ("TOLLGATE_CONFIG_DIR", "/a"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(config_dir(&l).unwrap(), PathBuf::from("/a"));
        let l = lookup(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(config_dir(&l).unwrap(), PathBuf::from("/x/tollgate"));
        let l = lookup(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")]);
        assert_eq!(
            config_dir(&l).unwrap(),
            PathBuf::from("/h/.config/tollgate")
        );
        assert!(config_dir(&lookup(&[])).is_err());
    }

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("nested");
        assert_eq!(load(&sub).unwrap(), ConfigFile::default());
        let mut cfg = ConfigFile::default();
        cfg.environments.insert(
            "dev".into(),
            Environment {
                url: "http://127.0.0.1:8080".into(),
                secret_env: "DEV_SECRET".into(),
            },
        );
        cfg.current = Some("dev".into());
        save(&sub, &cfg).unwrap();
        assert_eq!(load(&sub).unwrap(), cfg);
        let text = std::fs::read_to_string(sub.join(FILE_NAME)).unwrap();
        assert!(text.contains("\"secret_env\": \"DEV_SECRET\""), "{text}");
        std::fs::write(sub.join(FILE_NAME), "{").unwrap();
        assert!(matches!(load(&sub), Err(Failure::Usage(_))));
    }

    #[test]
    fn target_precedence_and_secret_scoping() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let mut cfg = ConfigFile::default();
        cfg.environments.insert(
            "dev".into(),
            Environment {
                url: "http://dev:8080/".into(),
                secret_env: "DEV_SECRET".into(),
            },
        );
        cfg.current = Some("dev".into());
        save(dir.path(), &cfg).unwrap();

        let t = target(
            None,
            &lookup(&[("TOLLGATE_CONFIG_DIR", d), ("DEV_SECRET", "s3")]),
        )
        .unwrap();
        assert_eq!(t.url, "http://dev:8080");
        assert_eq!(t.secret.as_deref(), Some("s3"));
        assert_eq!(t.secret_source, "DEV_SECRET (environment dev)");

        // An override URL does not receive the environment's secret...
        let t = target(
            Some("http://elsewhere:1"),
            &lookup(&[("TOLLGATE_CONFIG_DIR", d), ("DEV_SECRET", "s3")]),
        )
        .unwrap();
        assert_eq!(t.url, "http://elsewhere:1");
        assert_eq!(t.secret, None);
        // ...but TOLLGATE_SECRET goes with whichever URL is used.
        let t = target(
            None,
            &lookup(&[
                ("TOLLGATE_CONFIG_DIR", d),
                ("TOLLGATE_URL", "http://u:2/"),
                ("TOLLGATE_SECRET", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (t.url.as_str(), t.secret.as_deref()),
            ("http://u:2", Some("x"))
        );
        // --url beats TOLLGATE_URL.
        let t = target(
            Some("http://flag:3"),
            &lookup(&[("TOLLGATE_CONFIG_DIR", d), ("TOLLGATE_URL", "http://u:2")]),
        )
        .unwrap();
        assert_eq!(t.url, "http://flag:3");

        let empty = tempfile::tempdir().unwrap();
        let e = target(
            None,
            &lookup(&[("TOLLGATE_CONFIG_DIR", empty.path().to_str().unwrap())]),
        )
        .unwrap_err();
        assert!(matches!(e, Failure::Usage(m) if m.starts_with("no gateway URL")));
    }

    #[test]
    fn urls() {
        assert_eq!(
            normalise_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(normalise_url("http://h/gw/").unwrap(), "http://h/gw");
        for bad in [
            "https://h",
            "ftp://h",
            "h:8080",
            "http://u:p@h",
            "http://h/?x=1",
            "",
            "http://",
        ] {
            assert!(normalise_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(validate_name("dev").is_ok());
        assert!(validate_name("prod-eu_1.a").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_var("TOLLGATE_DEV_SECRET").is_ok());
        assert!(validate_var("_X1").is_ok());
        assert!(validate_var("1X").is_err());
        assert!(validate_var("my-secret").is_err());
        assert!(validate_var("").is_err());
    }
}
