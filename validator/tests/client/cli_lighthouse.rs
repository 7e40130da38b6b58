//! `lighthouse vc`'s command line: every flag of the design list through
//! the parser in one process, global flags before `vc`, the binary under the
//! name `lighthouse`, and bad values named by their flag or file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use poolvc::cli::{Cli, Command};
use poolvc::lighthouse::argv::{normalize, Invocation};
use poolvc::lighthouse::flags::{Support, LIGHTHOUSE_VC_FLAGS};
use std::ffi::OsString;
use std::process::Command as Process;

fn parse(argv: &[String]) -> Result<Cli, clap::Error> {
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    match normalize(argv) {
        Invocation::Run(v) => Cli::try_parse_from(v),
        other => panic!("{other:?}"),
    }
}

fn flag_arg(name: &str, example: Option<&str>) -> String {
    match example {
        Some(v) => format!("--{name}={v}"),
        None => format!("--{name}"),
    }
}

#[test]
fn every_lighthouse_vc_flag_parses() {
    // --network and --testnet-dir exclude each other (as in Lighthouse): all
    // flags but --network in one command line, then --network alone.
    let mut argv = vec!["lighthouse".to_string(), "vc".to_string()];
    argv.extend(LIGHTHOUSE_VC_FLAGS.iter().filter(|f| f.name != "network").map(|f| flag_arg(f.name, f.example)));
    let cli = parse(&argv).unwrap_or_else(|e| panic!("{e}"));
    let Command::Vc(a) = cli.command else { panic!("not vc") };
    assert_eq!(a.validator_registration_batch_size, 100);
    assert_eq!(a.builder_boost_factor, Some(90));
    assert_eq!(a.beacon_nodes.len(), 2);
    assert_eq!(a.logfile_max_number, 5);
    assert!(a.distributed && a.disable_attesting && a.use_long_timeouts && a.log_color == Some(true));
    let cli = parse(&["poolvc".into(), "vc".into(), "--network=hoodi".into()]).unwrap();
    let Command::Vc(a) = cli.command else { panic!("not vc") };
    assert_eq!(a.network.as_deref(), Some("hoodi"));
    // Each flag alone, space-separated values too, all in this process.
    for f in LIGHTHOUSE_VC_FLAGS {
        let mut argv = vec!["poolvc".to_string(), "vc".to_string(), format!("--{}", f.name)];
        argv.extend(f.example.map(str::to_string));
        parse(&argv).unwrap_or_else(|e| panic!("--{}: {e}", f.name));
    }
    let implemented = LIGHTHOUSE_VC_FLAGS.iter().filter(|f| f.support == Support::Implemented).count();
    eprintln!("{} flags parse; {implemented} implemented", LIGHTHOUSE_VC_FLAGS.len());
}

#[test]
fn global_flags_before_vc_and_aliases() {
    let cli = parse(&[
        "lighthouse".into(),
        "--debug-level".into(),
        "debug".into(),
        "-d".into(),
        "/tmp/x".into(),
        "validator_client".into(),
        "--metrics".into(),
    ])
    .unwrap();
    let Command::Vc(a) = cli.command else { panic!("not vc") };
    assert_eq!(a.datadir.as_deref(), Some(std::path::Path::new("/tmp/x")));
    assert!(a.metrics);
}

#[test]
fn bad_values_and_unknown_flags_are_named() {
    let e = parse(&["poolvc".into(), "vc".into(), "--builder-boost-factor=lots".into()]).unwrap_err().to_string();
    assert!(e.contains("--builder-boost-factor"), "{e}");
    let e = parse(&["poolvc".into(), "vc".into(), "--debug-level=loud".into()]).unwrap_err().to_string();
    assert!(e.contains("--debug-level"), "{e}");
    let e = parse(&["poolvc".into(), "vc".into(), "--broadcast=everything".into()]).unwrap_err().to_string();
    assert!(e.contains("--broadcast"), "{e}");
    let e = parse(&["poolvc".into(), "vc".into(), "--no-such-flag".into()]).unwrap_err().to_string();
    assert!(e.contains("--no-such-flag"), "{e}");
}

fn lighthouse(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let link = dir.join("lighthouse");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_poolvc"), &link).unwrap();
    }
    Process::new(&link).args(args).env("HOME", dir).output().unwrap()
}

#[test]
fn the_binary_answers_as_lighthouse() {
    let d = tempfile::tempdir().unwrap();
    let o = lighthouse(d.path(), &["--version"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("poolvc") && out.contains("Lighthouse"), "{out}");
    let o = lighthouse(d.path(), &["bn", "--http"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not `bn`"));
}

#[test]
fn bad_files_are_named_before_anything_starts() {
    let d = tempfile::tempdir().unwrap();
    let g = d.path().join("graffiti.txt");
    std::fs::write(&g, "default: fine\nthis line is wrong\n").unwrap();
    let o = lighthouse(d.path(), &["vc", &format!("--graffiti-file={}", g.display())]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains(&format!("--graffiti-file {}:2:", g.display())), "{err}");
    let pem = d.path().join("bn.pem");
    std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n").unwrap();
    let o = lighthouse(d.path(), &["vc", &format!("--beacon-nodes-tls-certs={}", pem.display())]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains(&format!("--beacon-nodes-tls-certs {}:", pem.display())), "{err}");
    let o = lighthouse(d.path(), &["vc", "--beacon-nodes-sync-tolerances=1,2"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--beacon-nodes-sync-tolerances"));
    // A monitoring endpoint that is not a URL is named, without its API key.
    let o = lighthouse(d.path(), &["vc", "--monitoring-endpoint=beaconcha.in/api/v1/client/metrics?apikey=SECRET"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--monitoring-endpoint \"beaconcha.in/api/v1/client/metrics\""),
        "{err}"
    );
    assert!(!err.contains("SECRET"), "{err}");
    // The keymanager API over plain HTTP on a reachable address is asked
    // for explicitly, as Lighthouse asks.
    let o = lighthouse(d.path(), &["vc", "--http", "--http-address=0.0.0.0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--unencrypted-http-transport"), "{err}");
    let o = lighthouse(d.path(), &["vc", "--http", "--http-address=not-an-ip"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--http-address \"not-an-ip\" is not an IP address"));
}
