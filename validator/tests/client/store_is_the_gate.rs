//! The validator store is the only path from a message to a signature: no
//! module of the client outside `src/store/` names the signing engine or its
//! raw requests, and none signs with a secret key directly
//! (`SecretKey::sign`). Exceptions: `poolvc bench signing`
//! (`src/cmd/bench/signing.rs`) measures the engine and stock per-signature
//! signing and signs nothing for a duty, `poolvc bench slot`
//! (`src/cmd/bench/slot.rs`) measures a per-key baseline beside the store, and
//! `poolvc signer`'s own gate (`src/remote_signer/gate.rs`) is the remote
//! signer's single path (its key map, root check and slashing protection).
//!
//! This fails if someone adds a call that would sign a root the store's
//! checks (key map, doppelganger, policy, slashing) did not see.

use std::path::{Path, PathBuf};

const ENGINE_NAMES: &[&str] = &["SigningEngine", "SignRequest", "KeySet", "sign_async"];
const ALLOWED: &[&str] = &["store/", "cmd/bench/signing.rs", "remote_signer/gate.rs"];

/// Where a secret key may sign by itself: the store's local signer (the
/// engine's caller) and the two benches' stock baselines.
const RAW_SIGN_ALLOWED: &[&str] = &["store/", "cmd/bench/signing.rs", "cmd/bench/slot.rs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `code` holds `name` as a whole word.
fn names(code: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(name).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Lines naming the engine in `src`, outside the allowed places, and raw
/// `.sign(` calls in files that hold a `SecretKey` outside theirs.
fn offenders(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap_or(&f).to_string_lossy().replace('\\', "/");
        if ALLOWED.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let holds_secret = names(&text, "SecretKey") && !RAW_SIGN_ALLOWED.iter().any(|a| rel.starts_with(a));
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if let Some(name) = ENGINE_NAMES.iter().find(|name| names(code, name)) {
                found.push(format!("src/{rel}:{}: names `{name}`: {}", n + 1, line.trim()));
            }
            if holds_secret && (code.contains(".sign(") || code.contains("::sign(")) {
                found.push(format!("src/{rel}:{}: signs with a secret key directly: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn nothing_outside_the_store_names_the_signing_engine() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = offenders(&src);
    assert!(found.is_empty(), "the signing engine is used outside the validator store:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_a_bypass() {
    // A copy of the source tree with one bypass added must be caught.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let vc = dir.path().join("vc");
    std::fs::create_dir_all(&vc).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(vc.join("attest.rs"), "fn f(e: &SigningEngine) { let _ = e.sign_async(vec![]); }\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join("store")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("store/local.rs"), "use poolvc_signer::batch::SigningEngine;\n")
        .unwrap_or_else(|e| panic!("{e}"));
    // A secret key signing by itself outside the store is caught too; the
    // store's own local signer is not.
    std::fs::create_dir_all(dir.path().join("cmd")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("cmd/pool.rs"),
        "use poolvc_signer::keys::SecretKey;\nfn f(sk: &SecretKey, root: &[u8]) { let _ = sk.sign(root); }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("store/local.rs"),
        "use poolvc_signer::keys::SecretKey;\nfn f(sk: &SecretKey, root: &[u8]) { let _ = sk.sign(root); }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut found = offenders(dir.path());
    found.sort();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("src/cmd/pool.rs:2: signs with a secret key directly"), "{found:?}");
    assert!(found[1].starts_with("src/vc/attest.rs:1"), "{found:?}");
}
