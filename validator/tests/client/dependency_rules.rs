//! The client crate's dependency rules, read from the source: which module
//! may import which (the layers of `ARCHITECTURE.md`), and no import circle
//! between files anywhere in `validator/src` or `signer/src`.
//!
//! An import is any `crate::`, `super::` or `self::` path in a file's code
//! (a `use`, or a path written inline), and any path that starts with the
//! name of a child module the file declares (`mod routes;` then
//! `routes::X` or `pub use routes::X`), resolved to the file of the longest
//! module it names; comments and `#[cfg(test)]` modules are left out (a test
//! may reach anywhere). A `mod x;` declaration is not an import.
//!
//! Each rule is checked on the real tree, and each has a planted violation
//! that must be caught (`the_rules_catch_*`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside a crate (`["services", "attestation"]`); the crate
/// root is the empty path.
type ModPath = Vec<String>;

/// One file's module path and the modules its code names.
#[derive(Debug)]
struct SourceFile {
    /// The path below `src/`, for messages.
    rel: String,
    module: ModPath,
    /// The text, comments and test modules removed.
    code: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `services/attestation.rs` -> `services::attestation`; `mod.rs`, `lib.rs`
/// and `main.rs` name their folder.
fn module_of(rel: &str) -> ModPath {
    let stem = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib" || l == "main") {
        parts.pop();
    }
    parts
}

/// The text without `//` comments (a `//` inside a string goes too: only
/// paths are read from what is left) and without `#[cfg(test)]` items.
fn code_of(text: &str) -> String {
    let no_comments: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = String::with_capacity(no_comments.len());
    let mut rest = no_comments.as_str();
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        // Skip the item: up to its matching closing brace, or its `;`.
        let mut depth = 0usize;
        let mut end = after.len();
        for (j, c) in after.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = j + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn read_tree(src: &Path) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src).unwrap_or(&p).to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            SourceFile { module: module_of(&rel), code: code_of(&text), rel }
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `a::b::{c, d::e}` (or a bare `{c, d}`) at the start of `s` into
/// full paths below `base`.
fn read_paths(s: &str, base: &[String], out: &mut Vec<ModPath>) {
    let mut path = base.to_vec();
    let mut rest = s.trim_start();
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            // Split the group at top-level commas.
            let mut depth = 0usize;
            let mut start = 0usize;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        read_paths(group[start..j].trim(), &path, out);
                        return;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        read_paths(group[start..j].trim(), &path, out);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let ident_len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if ident_len > 0 && &rest[..ident_len] != "self" {
            path.push(rest[..ident_len].to_string());
        }
        rest = &rest[ident_len..];
        match rest.strip_prefix("::") {
            Some(r) if ident_len > 0 => rest = r.trim_start(),
            _ => break,
        }
    }
    out.push(path);
}

/// The child modules a file declares (`mod x;`, `pub mod x;`, ...).
fn declared_children(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("mod ") {
        if code[..i].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &code[i + 4..];
        let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if len > 0 && rest[len..].trim_start().starts_with(';') {
            out.insert(rest[..len].to_string());
        }
    }
    out
}

/// The inline modules of a file (`mod x { .. }`): each one's byte range
/// and name, outermost first.
fn inline_modules(code: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("mod ") {
        if code[..i].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &code[i + 4..];
        let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        let after = rest[len..].trim_start();
        if len == 0 || !after.starts_with('{') {
            continue;
        }
        let open = code.len() - after.len();
        let mut depth = 0usize;
        let mut end = code.len();
        for (j, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((open, end, rest[..len].to_string()));
    }
    out
}

/// Every module path a file's code names through `crate::`, `super::`,
/// `self::` or one of its declared child modules, made absolute (`self` and
/// `super` inside an inline module are relative to it).
fn named_paths(f: &SourceFile) -> Vec<ModPath> {
    let code = &f.code;
    let children = declared_children(code);
    let inline = inline_modules(code);
    let mut out = Vec::new();
    for (i, _) in code.match_indices("::") {
        // The word before this `::`.
        let before = &code[..i];
        let start = before.rfind(|c: char| !is_ident(c)).map_or(0, |j| j + 1);
        let word = &before[start..];
        // Only the first `::` of a path: what stands before the word is not
        // another `::` (nor an identifier).
        let prev = before[..start].trim_end();
        if prev.ends_with("::") {
            continue;
        }
        // The module this `::` is written in: the file's, and the inline
        // modules around it.
        let mut here = f.module.clone();
        here.extend(inline.iter().filter(|(a, b, _)| *a < i && i < *b).map(|(_, _, n)| n.clone()));
        let mut base: ModPath = match word {
            "crate" => Vec::new(),
            "self" => here,
            "super" => {
                let mut m = here;
                m.pop();
                m
            }
            child if children.contains(child) => {
                let mut m = here;
                m.push(child.to_string());
                m
            }
            _ => continue,
        };
        let mut rest = &code[i + 2..];
        // `super::super::`
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        read_paths(rest, &base, &mut out);
    }
    out
}

/// The file-level import graph: each file's index to the files it imports.
fn import_graph(files: &[SourceFile]) -> Vec<BTreeSet<usize>> {
    let by_module: BTreeMap<&ModPath, usize> = files.iter().enumerate().map(|(i, f)| (&f.module, i)).collect();
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut to = BTreeSet::new();
            for p in named_paths(f) {
                // The longest prefix that is a file; the crate root counts
                // only when named whole (`crate::X` where X is in lib.rs).
                let target = (1..=p.len()).rev().find_map(|n| by_module.get(&p[..n].to_vec()).copied());
                if let Some(t) = target {
                    if t != i {
                        to.insert(t);
                    }
                }
            }
            to
        })
        .collect()
}

/// Strongly connected components of more than one file (Tarjan).
fn circles(graph: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct Tarjan<'a> {
        graph: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.next);
            self.low[v] = self.next;
            self.next += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in self.graph[v].iter() {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort_unstable();
                    self.found.push(component);
                }
            }
        }
    }
    let n = graph.len();
    let mut t = Tarjan {
        graph,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on_stack: vec![false; n],
        next: 0,
        found: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    t.found
}

/// The import circles of a tree, each as its files.
fn circles_in(files: &[SourceFile]) -> Vec<String> {
    circles(&import_graph(files))
        .into_iter()
        .map(|c| c.iter().map(|&i| files[i].rel.as_str()).collect::<Vec<_>>().join(" <-> "))
        .collect()
}

/// The top-level module a file belongs to (`services`, `config`, `lib`).
fn unit(f: &SourceFile) -> &str {
    f.module.first().map_or("lib", String::as_str)
}

/// A layer rule: files of `from` may not import files of any of `not`
/// (top-level modules), except the listed `(file, module)` pairs.
struct Rule {
    from: &'static str,
    not: &'static [&'static str],
    why: &'static str,
}

/// Every top-level module of the crate (what "imports nothing of the crate"
/// means).
const ALL: &[&str] = &[
    "beacon",
    "cli",
    "cmd",
    "config",
    "datadir",
    "el",
    "error",
    "events",
    "heap",
    "http",
    "leases",
    "ledger",
    "lighthouse",
    "logging",
    "metrics",
    "networks",
    "outcome",
    "policy",
    "pool",
    "progress",
    "remote_signer",
    "runtime",
    "services",
    "signals",
    "store",
    "lib",
];

/// What sits above the services: the only modules that may start or call
/// them.
const ABOVE_SERVICES: &[&str] = &["runtime", "lib"];

const RULES: &[Rule] = &[
    Rule { from: "outcome", not: ALL, why: "the vocabulary is a leaf" },
    Rule {
        from: "events",
        not: &[
            "beacon",
            "cli",
            "cmd",
            "config",
            "datadir",
            "el",
            "error",
            "heap",
            "http",
            "leases",
            "ledger",
            "lighthouse",
            "logging",
            "metrics",
            "networks",
            "policy",
            "pool",
            "progress",
            "remote_signer",
            "runtime",
            "services",
            "signals",
            "store",
        ],
        why: "the vocabulary imports only itself (events name outcomes)",
    },
    Rule { from: "beacon", not: ALL, why: "the Beacon API client imports nothing of the crate" },
    Rule { from: "el", not: ALL, why: "the execution-layer client imports nothing of the crate" },
    Rule {
        from: "store",
        not: &[
            "services",
            "beacon",
            "runtime",
            "http",
            "cmd",
            "cli",
            "lighthouse",
            "remote_signer",
            "pool",
            "ledger",
            "datadir",
            "config",
        ],
        why: "the store (the gate) depends only on the signer, the vocabulary and the policy",
    },
    Rule {
        from: "policy",
        not: &["store", "services", "runtime", "http", "cmd", "cli", "pool", "ledger", "beacon", "el"],
        why: "the policy is rules over the vocabulary",
    },
    Rule {
        from: "ledger",
        not: &["pool", "services", "runtime", "http", "cmd", "cli", "lighthouse", "store"],
        why: "the ledger judges the chain; it reads no pool internals",
    },
    Rule {
        from: "pool",
        not: &["services", "runtime", "http", "cmd", "cli", "lighthouse", "store"],
        why: "pool facts come from the contracts, not from the client around them",
    },
    Rule {
        from: "datadir",
        not: &["services", "runtime", "http", "cmd", "cli", "lighthouse", "remote_signer"],
        why: "the data dir is read by the client and the commands alike",
    },
    Rule {
        from: "http",
        not: &["services", "runtime", "cmd", "cli", "lighthouse"],
        why: "the servers read the store, the ledger and the data dir, never a service",
    },
    Rule {
        from: "metrics",
        not: &["services", "runtime", "http", "store", "cmd", "cli"],
        why: "the registry subscribes to events",
    },
    Rule {
        from: "config",
        not: &["services", "runtime", "cmd", "cli", "lighthouse"],
        why: "the settings are a leaf of types",
    },
    Rule {
        from: "error",
        not: &["services", "runtime", "cmd", "cli", "lighthouse"],
        why: "the errors are a leaf of types",
    },
    Rule {
        from: "leases",
        not: &[
            "services",
            "runtime",
            "http",
            "cmd",
            "cli",
            "lighthouse",
            "store",
            "pool",
            "ledger",
            "beacon",
            "el",
            "config",
        ],
        why: "the lease table and the gate's view of it import only the vocabulary",
    },
    Rule {
        from: "remote_signer",
        not: &["services", "runtime", "http", "cmd", "cli", "lighthouse", "ledger", "pool"],
        why: "poolvc signer is its own way in",
    },
];

/// The one place outside the runtime that may import a service: `poolvc
/// bench slot` measures the attestation service's own signing step.
const SERVICE_IMPORT_EXCEPTIONS: &[&str] = &["cmd/bench/slot.rs"];

/// Breaches of the layer rules and of "nothing imports services but the
/// runtime" and "no task imports another task" in `files`.
fn broken_rules(files: &[SourceFile]) -> Vec<String> {
    let graph = import_graph(files);
    let mut found = Vec::new();
    for (i, f) in files.iter().enumerate() {
        for &t in &graph[i] {
            let (from, to) = (unit(f), unit(&files[t]));
            if from == to {
                continue;
            }
            for r in RULES.iter().filter(|r| r.from == from) {
                if r.not.contains(&to) {
                    found.push(format!("src/{} imports src/{}: {}", f.rel, files[t].rel, r.why));
                }
            }
            if to == "services"
                && !ABOVE_SERVICES.contains(&from)
                && !SERVICE_IMPORT_EXCEPTIONS.contains(&f.rel.as_str())
            {
                found.push(format!(
                    "src/{} imports src/{}: nothing imports a service but the runtime",
                    f.rel, files[t].rel
                ));
            }
        }
    }
    // Inside services: a task (a file with its own `async fn run`) imports
    // the shared steps and state, never another task.
    let is_task = |f: &SourceFile| unit(f) == "services" && f.code.contains("async fn run<");
    for (i, f) in files.iter().enumerate().filter(|(_, f)| is_task(f)) {
        for &t in &graph[i] {
            if is_task(&files[t]) {
                found.push(format!(
                    "src/{} imports src/{}: a service task imports no other task (share a step through context or a \
                     step module)",
                    f.rel, files[t].rel
                ));
            }
        }
    }
    found
}

fn validator_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn signer_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../signer/src")
}

/// No import circle among the files under `src` (at least `min_files` read).
fn assert_no_circle(src: &Path, min_files: usize) {
    let files = read_tree(src);
    assert!(files.len() > min_files, "read {} files of {}", files.len(), src.display());
    let c = circles_in(&files);
    assert!(c.is_empty(), "import circles between files of {}:\n{}", src.display(), c.join("\n"));
}

#[test]
fn no_import_circle_in_the_client_crate() {
    assert_no_circle(&validator_src(), 80);
}

#[test]
fn no_import_circle_in_the_signer_crate() {
    assert_no_circle(&signer_src(), 20);
}

#[test]
fn the_layers_hold() {
    let files = read_tree(&validator_src());
    let found = broken_rules(&files);
    assert!(found.is_empty(), "dependency rules broken:\n{}", found.join("\n"));
}

#[test]
fn every_top_level_module_has_a_place_in_the_rules() {
    // A new top-level module must be placed in the layers (added to ALL and,
    // where it is below something, to a rule) before it lands.
    let files = read_tree(&validator_src());
    let units: BTreeSet<&str> = files.iter().map(unit).collect();
    let unplaced: Vec<&&str> = units.iter().filter(|u| !ALL.contains(u)).collect();
    assert!(unplaced.is_empty(), "top-level modules not in the dependency rules: {unplaced:?}");
}

/// A copy of the real tree with `(file, extra code)` planted into it.
fn planted(plants: &[(&str, &str)]) -> Vec<SourceFile> {
    let mut files = read_tree(&validator_src());
    for (rel, extra) in plants {
        match files.iter_mut().find(|f| f.rel == *rel) {
            Some(f) => f.code.push_str(&code_of(extra)),
            None => files.push(SourceFile { rel: rel.to_string(), module: module_of(rel), code: code_of(extra) }),
        }
    }
    files
}

#[test]
fn the_rules_catch_a_planted_circle() {
    // The outcome vocabulary importing the store closes store -> outcome ->
    // store; the duty book importing the context closes context -> duty_book.
    let files = planted(&[
        ("outcome.rs", "use crate::store::ValidatorStore;\n"),
        ("services/duty_book.rs", "fn f(c: &super::context::Ctx<P>) {}\n"),
    ]);
    let c = circles_in(&files);
    assert!(c.iter().any(|c| c.contains("outcome.rs") && c.contains("store/mod.rs")), "{c:?}");
    assert!(c.iter().any(|c| c.contains("services/duty_book.rs") && c.contains("services/context.rs")), "{c:?}");
    // A `use` group and `super::super::` resolve too.
    let files = planted(&[("ledger/rows.rs", "use super::{config::PerfConfig, frames::{self, FrameData}};\n")]);
    let c = circles_in(&files);
    assert!(c.iter().any(|c| c.contains("ledger/rows.rs") && c.contains("ledger/frames.rs")), "{c:?}");
    // A bare child path in a mod.rs counts: the ledger's root using its
    // database while the database names the root's `Roster`.
    let files = planted(&[
        (
            "ledger/mod.rs",
            "fn f() -> db::Ledger { todo!() }
",
        ),
        (
            "ledger/db.rs",
            "fn g(r: &super::Roster) {}
",
        ),
    ]);
    let c = circles_in(&files);
    assert!(c.iter().any(|c| c.contains("ledger/mod.rs") && c.contains("ledger/db.rs")), "{c:?}");
}

#[test]
fn the_rules_catch_planted_layer_breaches() {
    let cases: &[(&str, &str, &str)] = &[
        ("beacon/routes.rs", "use crate::store::ValidatorStore;\n", "the Beacon API client imports nothing"),
        ("el/rpc.rs", "fn f() { crate::pool::config::x(); }\n", "the execution-layer client imports nothing"),
        ("store/registry.rs", "use crate::beacon::BeaconClient;\n", "the store (the gate)"),
        ("store/local.rs", "use crate::services::context::Ctx;\n", "nothing imports a service"),
        ("ledger/frames.rs", "use crate::pool::map::PoolMap;\n", "reads no pool internals"),
        ("events.rs", "use crate::policy::ProposalConfig;\n", "the vocabulary imports only itself"),
        ("http/pool_api.rs", "use crate::services::duties;\n", "never a service"),
        ("services/attestation.rs", "use super::block::run;\n", "a service task imports no other task"),
    ];
    for (file, code, why) in cases {
        let found = broken_rules(&planted(&[(file, code)]));
        assert!(
            found.iter().any(|l| l.starts_with(&format!("src/{file}")) && l.contains(why)),
            "planting {code:?} in {file} was not caught as {why:?}: {found:?}"
        );
    }
    // The untouched tree breaks nothing (so each case above was caught for
    // its plant alone).
    assert!(broken_rules(&read_tree(&validator_src())).is_empty());
}

#[test]
fn comments_and_test_modules_are_not_imports() {
    let f = SourceFile {
        rel: "x.rs".into(),
        module: vec!["x".into()],
        code: code_of(
            "// use crate::services::attestation;\nfn a() {}\n#[cfg(test)]\nmod tests {\n    use crate::services::block;\n    fn b() { if true { } }\n}\nuse crate::beacon::X;\n",
        ),
    };
    let paths = named_paths(&f);
    assert_eq!(paths, vec![vec!["beacon".to_string(), "X".to_string()]]);
}
