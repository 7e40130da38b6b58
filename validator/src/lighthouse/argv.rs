//! The command line as Lighthouse's users write it: the binary may be
//! invoked as `lighthouse` (a link or a copy), the validator client may be
//! called `vc`, `validator_client` or `validator`, and Lighthouse's global
//! flags may come before the subcommand. [`normalize`] turns such a command
//! line into poolvc's own (`poolvc vc <flags>`).

use super::flags::GLOBAL_FLAGS;
use std::ffi::OsString;

/// The names of the validator-client subcommand (Lighthouse's and its aliases).
pub const VC_NAMES: &[&str] = &["vc", "validator_client", "validator"];

/// The Lighthouse release whose `vc` interface poolvc follows.
pub const LIGHTHOUSE_INTERFACE: &str = "v7.1";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Run poolvc with these arguments (argv[0] first).
    Run(Vec<OsString>),
    /// `lighthouse --version` (or `-V`): print [`version_text`].
    LighthouseVersion,
    /// Invoked as `lighthouse` with a subcommand poolvc does not have.
    NotALighthouseSubcommand(String),
}

/// `lighthouse --version`'s answer.
pub fn version_text() -> String {
    format!(
        "Lighthouse-compatible validator client: poolvc {} (answers `lighthouse vc` as Lighthouse {} does; \
         no beacon node or account manager)\n",
        env!("CARGO_PKG_VERSION"),
        LIGHTHOUSE_INTERFACE
    )
}

fn invoked_as_lighthouse(argv0: &OsString) -> bool {
    std::path::Path::new(argv0).file_name().and_then(|n| n.to_str()).is_some_and(|n| n == "lighthouse")
}

/// Whether `token` is a global flag, and whether it takes a separate value
/// (`--flag value`, not `--flag=value`).
fn global_flag(token: &str) -> Option<bool> {
    let (name, has_inline_value) = match token.strip_prefix("--") {
        Some(rest) => match rest.split_once('=') {
            Some((n, _)) => (n, true),
            None => (rest, false),
        },
        None => match token {
            "-d" => ("datadir", false),
            "-t" => ("testnet-dir", false),
            _ if token.starts_with("-d") || token.starts_with("-t") => return Some(false),
            _ => return None,
        },
    };
    if !GLOBAL_FLAGS.contains(&name) {
        return None;
    }
    let switch = matches!(
        name,
        "log-color"
            | "logfile-compress"
            | "logfile-no-restricted-perms"
            | "disable-log-timestamp"
            | "disable-malloc-tuning"
    );
    Some(!has_inline_value && !switch)
}

/// Turns a Lighthouse-style command line into poolvc's: under the name
/// `lighthouse`, only the validator client and `--version` are answered;
/// global flags before the validator-client subcommand move after it; the
/// subcommand's aliases become `vc`.
pub fn normalize(argv: Vec<OsString>) -> Invocation {
    let mut it = argv.into_iter();
    let argv0 = it.next().unwrap_or_else(|| OsString::from("poolvc"));
    let rest: Vec<OsString> = it.collect();
    let as_lighthouse = invoked_as_lighthouse(&argv0);
    // The global flags (with their values) before the first subcommand.
    let mut globals = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let Some(t) = rest[i].to_str() else { break };
        match global_flag(t) {
            Some(takes_value) => {
                globals.push(rest[i].clone());
                if takes_value {
                    if let Some(v) = rest.get(i + 1) {
                        globals.push(v.clone());
                    }
                    i += 1;
                }
                i += 1;
            }
            None => break,
        }
    }
    let sub = rest.get(i).and_then(|s| s.to_str()).map(str::to_string);
    if as_lighthouse {
        match sub.as_deref() {
            Some("--version" | "-V") => return Invocation::LighthouseVersion,
            Some(s) if VC_NAMES.contains(&s) => {}
            // `lighthouse --help` and the like: clap answers as poolvc.
            Some(s) if s.starts_with('-') => {}
            None => {}
            Some(s) => return Invocation::NotALighthouseSubcommand(s.to_string()),
        }
    }
    let mut out = vec![argv0];
    match sub.as_deref() {
        Some(s) if VC_NAMES.contains(&s) => {
            out.push(OsString::from("vc"));
            out.extend(globals);
            out.extend(rest.into_iter().skip(i + 1));
        }
        _ => {
            out.extend(globals);
            out.extend(rest.into_iter().skip(i));
        }
    }
    Invocation::Run(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    fn run(s: &str) -> Vec<String> {
        match normalize(argv(s)) {
            Invocation::Run(v) => v.into_iter().map(|o| o.into_string().unwrap_or_default()).collect(),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn global_flags_move_after_the_subcommand() {
        assert_eq!(
            run("lighthouse --debug-level info -d /x --network=hoodi validator_client --metrics"),
            ["lighthouse", "vc", "--debug-level", "info", "-d", "/x", "--network=hoodi", "--metrics"]
        );
        assert_eq!(run("poolvc vc --datadir /x"), ["poolvc", "vc", "--datadir", "/x"]);
        assert_eq!(run("poolvc --log-color vc"), ["poolvc", "vc", "--log-color"]);
        assert_eq!(run("poolvc keys inspect /k"), ["poolvc", "keys", "inspect", "/k"]);
    }

    #[test]
    fn lighthouse_answers_version_and_refuses_other_subcommands() {
        assert_eq!(normalize(argv("/usr/local/bin/lighthouse --version")), Invocation::LighthouseVersion);
        assert_eq!(normalize(argv("lighthouse -V")), Invocation::LighthouseVersion);
        assert_eq!(normalize(argv("lighthouse bn --http")), Invocation::NotALighthouseSubcommand("bn".into()));
        // Under its own name, --version is clap's.
        assert_eq!(run("poolvc --version"), ["poolvc", "--version"]);
    }
}
