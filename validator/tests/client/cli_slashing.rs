//! `poolvc slashing-protection import|export` as an operator runs them, with
//! an interchange file in the format `lighthouse account validator
//! slashing-protection export` writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn poolvc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_poolvc")).args(args).output().expect("run poolvc")
}

const LIGHTHOUSE_EXPORT: &str = r#"{
  "metadata": {
    "interchange_format_version": "5",
    "genesis_validators_root": "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"
  },
  "data": [
    {
      "pubkey": "0xb845089a1457f811bfc000588fbb4e713669be8ce060ea6be3c6ece09afc3794106c91ca73acda5e5457122d58723bed",
      "signed_blocks": [
        { "slot": "81952", "signing_root": "0x4ff6f743a43f3b4f95350831aeaf0a122a1a392922c45d804280284a69eb850b" },
        { "slot": "81951" }
      ],
      "signed_attestations": [
        { "source_epoch": "2290", "target_epoch": "3007", "signing_root": "0x587d6a4f59a58fe24f406e0502413e77fe1babddee641fda30034ed37ecc884d" },
        { "source_epoch": "2290", "target_epoch": "3008" }
      ]
    },
    {
      "pubkey": "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c",
      "signed_blocks": [],
      "signed_attestations": [{ "source_epoch": "10", "target_epoch": "11" }]
    }
  ]
}"#;

fn round_trip(db_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lighthouse-export.json");
    std::fs::write(&file, LIGHTHOUSE_EXPORT).unwrap();
    let mut args = vec!["slashing-protection", "import", file.to_str().unwrap()];
    args.extend_from_slice(db_args);
    let o = poolvc(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 validators, 2 blocks, 3 attestations"));

    let out = dir.path().join("export.json");
    let mut args = vec!["slashing-protection", "export", out.to_str().unwrap()];
    args.extend_from_slice(db_args);
    let o = poolvc(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let orig: serde_json::Value = serde_json::from_str(LIGHTHOUSE_EXPORT).unwrap();
    let back: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(back["metadata"], orig["metadata"]);
    for d in orig["data"].as_array().unwrap() {
        let e = back["data"].as_array().unwrap().iter().find(|x| x["pubkey"] == d["pubkey"]).expect("exported");
        let mut want_blocks = d["signed_blocks"].as_array().unwrap().clone();
        want_blocks.sort_by_key(|b| b["slot"].as_str().unwrap().parse::<u64>().unwrap());
        assert_eq!(e["signed_blocks"].as_array().unwrap(), &want_blocks);
        assert_eq!(e["signed_attestations"], d["signed_attestations"]);
    }

    // Filtered export.
    let mut args = vec![
        "slashing-protection",
        "export",
        out.to_str().unwrap(),
        "--pubkeys",
        "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c",
    ];
    args.extend_from_slice(db_args);
    assert!(poolvc(&args).status.success());
    let back: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(back["data"].as_array().unwrap().len(), 1);

    // Another network's file is refused with a clear message, nothing changes.
    let other = dir.path().join("other-network.json");
    std::fs::write(&other, LIGHTHOUSE_EXPORT.replace("0x4b363db9", "0x5b363db9")).unwrap();
    let mut args = vec!["slashing-protection", "import", other.to_str().unwrap()];
    args.extend_from_slice(db_args);
    let o = poolvc(&args);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not match this database's"));
}

#[test]
fn sqlite_import_export() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(&["--datadir", dir.path().to_str().unwrap()]);
    assert!(dir.path().join("slashing_protection.sqlite").exists());
    // Neither or both locations: a usage error.
    let o = poolvc(&["slashing-protection", "export", "/tmp/x.json"]);
    assert!(!o.status.success());
}

#[test]
fn postgres_import_export() {
    let Ok(base) = std::env::var("POOLVC_TEST_POSTGRES_URL") else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI=true but POOLVC_TEST_POSTGRES_URL is not set");
        eprintln!("SKIPPED: POOLVC_TEST_POSTGRES_URL not set");
        return;
    };
    let mut c = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    c.batch_execute("DROP DATABASE IF EXISTS poolvc_t_cli WITH (FORCE)").unwrap();
    c.batch_execute("CREATE DATABASE poolvc_t_cli").unwrap();
    let url = format!("{}/poolvc_t_cli", base.rsplit_once('/').unwrap().0);
    round_trip(&["--postgres", &url]);
}

/// Every file under `dir` (relative path -> bytes); `None` if `dir` is absent.
fn snapshot(dir: &std::path::Path) -> Option<std::collections::BTreeMap<String, Vec<u8>>> {
    if !dir.exists() {
        return None;
    }
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if p.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    Some(out)
}

/// A rejected import leaves the data dir byte for byte as it was: absent,
/// empty, or holding a database (issue 10: a refused file used to leave a
/// database pinned to its network behind).
#[test]
fn a_rejected_import_leaves_the_data_dir_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let bad = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let files = [
        ("slot out of range", bad("slot.json", LIGHTHOUSE_EXPORT.replace("\"81952\"", "\"9223372036854775808\""))),
        (
            "source after target",
            bad("source.json", LIGHTHOUSE_EXPORT.replace("\"source_epoch\": \"10\"", "\"source_epoch\": \"12\"")),
        ),
        ("malformed", bad("malformed.json", LIGHTHOUSE_EXPORT[..300].to_string())),
    ];
    let other_network = bad("other.json", LIGHTHOUSE_EXPORT.replace("0x4b363db9", "0x5b363db9"));
    let good = bad("good.json", LIGHTHOUSE_EXPORT.to_string());

    let absent = dir.path().join("absent/datadir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let with_db = dir.path().join("with-db");
    assert!(poolvc(&["slashing-protection", "import", good.to_str().unwrap(), "--datadir", with_db.to_str().unwrap()])
        .status
        .success());

    for datadir in [&absent, &empty, &with_db] {
        let mut cases: Vec<(&str, &std::path::Path)> = files.iter().map(|(w, p)| (*w, p.as_path())).collect();
        if datadir == &with_db {
            cases.push(("another network", other_network.as_path()));
        }
        for (what, file) in cases {
            let before = snapshot(datadir);
            let o = poolvc(&[
                "slashing-protection",
                "import",
                file.to_str().unwrap(),
                "--datadir",
                datadir.to_str().unwrap(),
            ]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{what} into {}: {err}", datadir.display());
            assert!(err.contains(file.to_str().unwrap()) || what == "another network", "{what}: names the file: {err}");
            assert_eq!(snapshot(datadir), before, "{what} changed {}", datadir.display());
        }
    }
    assert!(!dir.path().join("absent").exists(), "a refused import made directories");

    // The same files' good twin imports into the absent and empty dirs.
    for datadir in [&absent, &empty] {
        let o =
            poolvc(&["slashing-protection", "import", good.to_str().unwrap(), "--datadir", datadir.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(datadir.join("slashing_protection.sqlite").exists());
        assert!(!datadir.join(".slashing_protection.sqlite.import").exists());
    }
}

/// The largest resident set of any child this process has waited for, in KiB.
fn children_peak_rss_kib() -> i64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) }, 0);
    u.ru_maxrss
}

/// A file's size does not set the importer's memory: a 64 MB interchange
/// is read through (every entry checked) in a few MB. Refused at the end for
/// its network, it leaves nothing behind; the whole file read at once would
/// take more than its size.
#[test]
fn a_large_file_is_streamed_not_read_whole() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("large.json");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    write!(
        w,
        r#"{{"metadata":{{"interchange_format_version":"5","genesis_validators_root":"0x{}"}},"data":["#,
        "04".repeat(32)
    )
    .unwrap();
    let mut i = 0u64;
    while w.get_ref().metadata().unwrap().len() < 64 << 20 {
        if i > 0 {
            write!(w, ",").unwrap();
        }
        write!(w, r#"{{"pubkey":"0x{:096x}","signed_blocks":[],"signed_attestations":["#, i).unwrap();
        for e in 0..40u64 {
            let sep = if e > 0 { "," } else { "" };
            write!(
                w,
                r#"{sep}{{"source_epoch":"{e}","target_epoch":"{}","signing_root":"0x{:064x}"}}"#,
                e + 1,
                i * 40 + e
            )
            .unwrap();
        }
        write!(w, "]}}").unwrap();
        i += 1;
        if i % 256 == 0 {
            w.flush().unwrap();
        }
    }
    write!(w, "]}}").unwrap();
    w.flush().unwrap();
    drop(w);
    let size_kib = (std::fs::metadata(&file).unwrap().len() / 1024) as i64;
    let datadir = dir.path().join("vc");
    let other = format!("0x{}", "05".repeat(32));
    let o = poolvc(&[
        "slashing-protection",
        "import",
        file.to_str().unwrap(),
        "--datadir",
        datadir.to_str().unwrap(),
        "--genesis-validators-root",
        &other,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("does not match"), "{err}");
    assert!(!datadir.exists());
    let peak = children_peak_rss_kib();
    eprintln!("importer peak RSS {peak} KiB for a {size_kib} KiB file");
    assert!(peak < size_kib / 4, "importer peak RSS {peak} KiB for a {size_kib} KiB file");
}

/// A draft v4 ("complete") file exported by Lodestar v1.5.1 itself (recorded
/// by `testnets/local/record-lodestar-export.sh`): refused without
/// `--allow-v4`, imported with it, and its watermarks then protect.
#[test]
fn lodestar_v4_export_imports_with_allow_v4_and_protects() {
    use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
    use poolvc_signer::slashing::{AttestationRecord, BlockRecord, SlashingDatabase};
    use poolvc_signer::types::{Hash256, PublicKeyBytes};
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/lodestar/interchange_v4_export.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["metadata"]["interchange_format_version"], "4");
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("vc");
    let args = ["slashing-protection", "import", file.to_str().unwrap(), "--datadir", datadir.to_str().unwrap()];
    let o = poolvc(&args);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-v4"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!datadir.exists());

    let mut with = args.to_vec();
    with.push("--allow-v4");
    let o = poolvc(&with);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // Lodestar lists two database keys as validators; they are skipped, named.
    assert!(err.contains("0x47454e455349535f54494d45"), "{err}");

    let gvr =
        Hash256::from_slice(&hex::decode(&v["metadata"]["genesis_validators_root"].as_str().unwrap()[2..]).unwrap());
    let db = SqliteSlashingDb::open(&datadir.join("slashing_protection.sqlite"), gvr).unwrap();
    let mut checked = 0;
    for entry in v["data"].as_array().unwrap() {
        let Ok(pk) = hex::decode(&entry["pubkey"].as_str().unwrap()[2..]) else { continue };
        if pk.len() != 48 {
            continue;
        }
        let pubkey = PublicKeyBytes::from_slice(&pk);
        let num = |x: &serde_json::Value| x.as_str().unwrap().parse::<u64>().unwrap();
        let atts = entry["signed_attestations"].as_array().unwrap();
        let max_target = atts.iter().map(|a| num(&a["target_epoch"])).max().unwrap();
        let max_source = atts.iter().map(|a| num(&a["source_epoch"])).max().unwrap();
        // At or below the watermarks: refused. Above: signed.
        for target in [max_target, max_target.saturating_sub(1)] {
            let a = AttestationRecord { pubkey, source_epoch: max_source, target_epoch: target, signing_root: None };
            assert!(db.check_and_insert_attestations(&[a]).unwrap()[0].is_err(), "target {target} refused");
        }
        let a =
            AttestationRecord { pubkey, source_epoch: max_source, target_epoch: max_target + 1, signing_root: None };
        assert!(db.check_and_insert_attestations(&[a]).unwrap()[0].is_ok());
        if let Some(top) = entry["signed_blocks"].as_array().unwrap().iter().map(|b| num(&b["slot"])).max() {
            for slot in [top, top.saturating_sub(1)] {
                let b = BlockRecord { pubkey, slot, signing_root: None };
                assert!(db.check_and_insert_blocks(&[b]).unwrap()[0].is_err(), "slot {slot} refused");
            }
            assert!(db.check_and_insert_blocks(&[BlockRecord { pubkey, slot: top + 1, signing_root: None }]).unwrap()
                [0]
            .is_ok());
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "the four keys Lodestar's client ran");
}
