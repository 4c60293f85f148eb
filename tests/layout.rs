//! The module graph has no circles: a request goes down the layout (server → pipeline
//! → upstream, files → tyk → policy → snapshot) without returning to a room it left.
//!
//! The graph is read from the source itself: every `crate::…` and `super::…` path in
//! code (not comments) is an edge from the file's module to the deepest module the path
//! names (unit-test modules left out). A module's own `mod` declarations are edges too (a parent uses its children),
//! so a child that reaches back into its parent's file closes a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `a::b::c` → the longest prefix that is a module.
fn resolve(path: &[&str], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut list = Vec::new();
    files(&src, &mut list);
    let modules: BTreeSet<String> = list
        .iter()
        .map(|p| module_of(p.strip_prefix(&src).unwrap()))
        .collect();
    let path_re = regex::Regex::new(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &list {
        let me = module_of(p.strip_prefix(&src).unwrap());
        if me == "main" {
            continue;
        }
        let text = std::fs::read_to_string(p).unwrap();
        let mut out = BTreeSet::new();
        // Unit tests reach into their parents by design: only the code itself counts.
        for line in text.lines().take_while(|l| l.trim() != "#[cfg(test)]") {
            let code = line.split("//").next().unwrap_or("");
            for cap in path_re.captures_iter(code) {
                let segs: Vec<&str> = cap[2].trim_start_matches("::").split("::").collect();
                let base: Vec<&str> = match &cap[1] {
                    "crate" => Vec::new(),
                    _ => {
                        let mut b: Vec<&str> = me.split("::").filter(|s| !s.is_empty()).collect();
                        b.pop();
                        b
                    }
                };
                let full: Vec<&str> = base.into_iter().chain(segs).collect();
                if let Some(target) = resolve(&full, &modules) {
                    // A path into one's own descendants is the parent using a child.
                    if target != me && !target.starts_with(&format!("{me}::")) && !me.is_empty() {
                        out.insert(target);
                    }
                }
            }
        }
        // Parents use their children.
        for m in &modules {
            if let Some(rest) = m.strip_prefix(&format!("{me}::")) {
                if !rest.contains("::") && !me.is_empty() {
                    out.insert(m.clone());
                }
            }
        }
        edges.insert(me, out);
    }
    edges
}

/// Strongly connected components with more than one module (Tarjan).
fn circles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn the_module_graph_has_no_circles() {
    let g = graph();
    assert!(
        g.get("pipeline::forward")
            .is_some_and(|e| e.contains("upstream")),
        "graph not read: {g:?}"
    );
    let found = circles(&g);
    let shown: Vec<String> = found
        .iter()
        .map(|c| {
            let detail: Vec<String> = c
                .iter()
                .map(|m| {
                    let inside: Vec<&str> = g[m]
                        .iter()
                        .filter(|t| c.contains(t))
                        .map(String::as_str)
                        .collect();
                    format!("{m} → {}", inside.join(", "))
                })
                .collect();
            detail.join("; ")
        })
        .collect();
    assert!(found.is_empty(), "module circles:\n{}", shown.join("\n"));
}

#[test]
fn a_circle_is_found() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(circles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
}
