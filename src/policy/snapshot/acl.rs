//! `allowed_urls` patterns: Tyk's pattern rewriting and compiled matching (tyk-compat §5.3).

use regex::Regex;
use std::sync::Arc;

/// How patterns are anchored, from `http_server_options`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Matching {
    pub prefix: bool,
    pub suffix: bool,
}

/// Rewrites a Tyk `allowed_urls` pattern into the regex Tyk actually runs:
/// mux-style `{param}` → `([^/]+)`, `/*/` → `/[^/]+/`, `/*` → `/.*`, then optional anchors.
pub fn tyk_pattern(url: &str, m: Matching) -> String {
    let mut p = if url.contains('{') && braces_balanced(url) {
        replace_params(url)
    } else {
        url.to_string()
    };
    p = p.replace("/*/", "/[^/]+/").replace("/*", "/.*");
    if m.prefix && p.starts_with('/') {
        p.insert(0, '^');
    }
    if m.suffix && !p.ends_with('$') {
        p.push('$');
    }
    p
}

fn braces_balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

fn replace_params(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                out.push_str("([^/]+)");
                rest = &rest[start + end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Compiles a rewritten pattern; bounded so a hostile pattern cannot blow up memory.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string())
}

/// The useful line of a regex error (the crate's message spans several lines).
pub fn error_reason(e: &str) -> String {
    e.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(e)
        .trim()
        .to_string()
}

/// One compiled `allowed_urls` entry.
#[derive(Debug, Clone)]
pub struct UrlRule {
    pub methods: Vec<String>,
    /// `None` when the pattern does not compile: such an entry never matches (fail closed).
    pub re: Option<Arc<Regex>>,
}

/// Does any rule allow `method` on this request? `full` is the path including the listen
/// path; `stripped` the path with it removed (used only with prefix matching, as Tyk does).
pub fn allows(rules: &[UrlRule], method: &str, full: &str, stripped: &str, m: Matching) -> bool {
    rules.iter().any(|r| {
        // Methods compare exactly (case-sensitive), as Tyk does.
        if !r.methods.iter().any(|x| x == method) {
            return false;
        }
        let Some(re) = &r.re else { return false };
        if m.prefix {
            re.is_match(stripped) || re.is_match(full)
        } else {
            re.is_match(full)
        }
    })
}

/// `allowed_urls` compiled for matching: per method, one `RegexSet` of the patterns of
/// every entry listing that method (one pass over the path instead of one per rule).
/// Same answers as [`allows`] over the rules it was built from.
#[derive(Debug, Clone, Default)]
pub struct UrlAcl {
    /// The key's entry lists `allowed_urls`: requests must match one.
    pub restricted: bool,
    by_method: Vec<(String, Arc<regex::RegexSet>)>,
}

impl UrlAcl {
    /// Builds from rules; `set` compiles (or fetches) the set for a list of patterns.
    pub fn build(
        rules: &[UrlRule],
        mut set: impl FnMut(&[&str]) -> Option<Arc<regex::RegexSet>>,
    ) -> UrlAcl {
        let mut methods: Vec<&str> = Vec::new();
        for r in rules {
            for m in &r.methods {
                if !methods.contains(&m.as_str()) {
                    methods.push(m);
                }
            }
        }
        let by_method = methods
            .into_iter()
            .filter_map(|method| {
                // Entries whose pattern did not compile never match (fail closed).
                let patterns: Vec<&str> = rules
                    .iter()
                    .filter(|r| r.methods.iter().any(|m| m == method))
                    .filter_map(|r| r.re.as_ref().map(|re| re.as_str()))
                    .collect();
                if patterns.is_empty() {
                    return None;
                }
                set(&patterns).map(|s| (method.to_string(), s))
            })
            .collect();
        UrlAcl {
            restricted: !rules.is_empty(),
            by_method,
        }
    }

    pub fn allows(&self, method: &str, full: &str, stripped: &str, m: Matching) -> bool {
        if !self.restricted {
            return true;
        }
        // Methods compare exactly (case-sensitive), as Tyk does.
        self.by_method
            .iter()
            .find(|(mm, _)| mm == method)
            .is_some_and(|(_, set)| {
                if m.prefix {
                    set.is_match(stripped) || set.is_match(full)
                } else {
                    set.is_match(full)
                }
            })
    }
}

/// Compiles a set of already validated patterns.
pub fn compile_set(patterns: &[&str]) -> Option<regex::RegexSet> {
    regex::RegexSetBuilder::new(patterns)
        .size_limit(8 << 20)
        .dfa_size_limit(8 << 20)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFF: Matching = Matching {
        prefix: false,
        suffix: false,
    };
    const BOTH: Matching = Matching {
        prefix: true,
        suffix: true,
    };

    #[test]
    fn pattern_rewriting() {
        let cases: &[(&str, Matching, &str)] = &[
            ("/users/{id}", OFF, "/users/([^/]+)"),
            (
                "/users/{id}/posts/{pid}",
                OFF,
                "/users/([^/]+)/posts/([^/]+)",
            ),
            ("/a/*/b", OFF, "/a/[^/]+/b"),
            ("/a/*", OFF, "/a/.*"),
            ("/a", BOTH, "^/a$"),
            ("^/a$", BOTH, "^/a$"),
            ("users", BOTH, "users$"),
            ("/x{1,3}", OFF, "/x([^/]+)"),
            ("/x{", OFF, "/x{"),
        ];
        for (url, m, want) in cases {
            assert_eq!(tyk_pattern(url, *m), *want, "{url}");
        }
    }

    fn rules(list: &[(&str, &[&str])], m: Matching) -> Vec<UrlRule> {
        list.iter()
            .map(|(u, ms)| UrlRule {
                methods: ms.iter().map(|s| s.to_string()).collect(),
                re: compile(&tyk_pattern(u, m)).ok().map(Arc::new),
            })
            .collect()
    }

    #[test]
    fn default_matching_is_unanchored_on_the_full_path() {
        let r = rules(&[("/user", &["GET"])], OFF);
        for (path, want) in [
            ("/api/user", true),
            ("/api/users/1", true),
            ("/api/admin/user", true),
            ("/api/x", false),
        ] {
            assert_eq!(allows(&r, "GET", path, "", OFF), want, "{path}");
        }
        assert!(
            !allows(&r, "get", "/api/user", "", OFF),
            "methods are case-sensitive"
        );
        assert!(!allows(&r, "POST", "/api/user", "", OFF));
    }

    #[test]
    fn prefix_matching_tries_stripped_and_full() {
        let m = Matching {
            prefix: true,
            suffix: false,
        };
        let r = rules(
            &[
                ("^/valid_path", &["GET"]),
                ("^/test/try_valid_path", &["GET"]),
            ],
            m,
        );
        assert!(allows(
            &r,
            "GET",
            "/test/try_valid_path",
            "/try_valid_path",
            m
        ));
        assert!(allows(&r, "GET", "/test/valid_path", "/valid_path", m));
        assert!(!allows(&r, "POST", "/test/valid_path", "/valid_path", m));
        assert!(!allows(&r, "GET", "/test/invalid_path", "/invalid_path", m));
    }

    #[test]
    fn the_compiled_acl_agrees_with_rule_by_rule_matching() {
        let list: &[(&str, &[&str])] = &[
            ("/users/{id}", &["GET", "PUT"]),
            ("^/admin$", &["DELETE"]),
            ("/a(", &["GET"]),
            ("/files/*", &["GET"]),
            ("/empty", &[]),
        ];
        for m in [
            OFF,
            BOTH,
            Matching {
                prefix: true,
                suffix: false,
            },
        ] {
            let r = rules(list, m);
            let acl = UrlAcl::build(&r, |p| compile_set(p).map(Arc::new));
            for method in ["GET", "PUT", "DELETE", "get", "POST"] {
                for (full, stripped) in [
                    ("/api/users/7", "/users/7"),
                    ("/users/7", "/users/7"),
                    ("/admin", "/admin"),
                    ("/api/admin", "/admin"),
                    ("/files/a/b", "/files/a/b"),
                    ("/empty", "/empty"),
                    ("/a(", "/a("),
                ] {
                    assert_eq!(
                        acl.allows(method, full, stripped, m),
                        allows(&r, method, full, stripped, m),
                        "{method} {full} {m:?}"
                    );
                }
            }
        }
        assert!(
            UrlAcl::default().allows("GET", "/x", "/x", OFF),
            "no allowed_urls: unrestricted"
        );
        let only_bad = rules(&[("/a(", &["GET"])], OFF);
        assert!(!UrlAcl::build(&only_bad, |p| compile_set(p).map(Arc::new))
            .allows("GET", "/a(", "/a(", OFF));
    }

    #[test]
    fn invalid_and_empty_entries_never_match() {
        let r = rules(&[("/a(", &["GET"]), ("/b", &[])], OFF);
        assert!(!allows(&r, "GET", "/a(", "", OFF));
        assert!(!allows(&r, "GET", "/b", "", OFF));
    }
}
