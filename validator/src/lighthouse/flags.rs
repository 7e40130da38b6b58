//! Every flag of `lighthouse vc` (the list in `../shared/design/lighthouse-vc.md`,
//! from Lighthouse's `help_vc.md` and newer releases), and what poolvc does
//! with each: this table is the one place that says so. The start-up
//! warning names the given flags that poolvc accepts without acting on, and
//! the parser test runs every row through the parser in one process.

/// What poolvc does with a Lighthouse flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented as Lighthouse documents it.
    Implemented,
    /// Accepted; it has no effect in poolvc (why).
    NoEffect(&'static str),
    /// Accepted; not implemented yet (what will serve it).
    NotYet(&'static str),
}

/// One flag: its long name, an example value (`None` for a switch) and
/// what poolvc does with it.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// The long name without `--`.
    pub name: &'static str,
    /// A valid value, for the parser test and the docs; `None` for a switch.
    pub example: Option<&'static str>,
    /// What poolvc does with it.
    pub support: Support,
}

const fn f(name: &'static str, example: Option<&'static str>, support: Support) -> Flag {
    Flag { name, example, support }
}

use Support::{Implemented as I, NoEffect as N, NotYet as Y};

const LIGHTHOUSE_ROUTES: &str = "Lighthouse's own /lighthouse/ routes are not served; the standard keymanager API is";
const MERGE: &str = "deprecated in Lighthouse: the merge is past";

/// The flags of `lighthouse vc`, in the order of the design list.
pub const LIGHTHOUSE_VC_FLAGS: &[Flag] = &[
    f("beacon-nodes", Some("http://127.0.0.1:5052,http://127.0.0.1:5053"), I),
    f("beacon-nodes-tls-certs", Some("/etc/ssl/bn.pem"), I),
    f("broadcast", Some("attestations,blocks"), I),
    f("builder-boost-factor", Some("90"), I),
    f("builder-registration-timestamp-override", Some("1700000000"), I),
    f("datadir", Some("/tmp/lh"), I),
    f("debug-level", Some("debug"), I),
    f("gas-limit", Some("30000000"), I),
    f("genesis-state-url", Some("http://127.0.0.1:5052"), N("poolvc reads genesis from the beacon node")),
    f("genesis-state-url-timeout", Some("60"), N("poolvc reads genesis from the beacon node")),
    f("graffiti", Some("pool"), I),
    f("graffiti-file", Some("/tmp/graffiti.txt"), I),
    f("http-address", Some("127.0.0.1"), I),
    f("http-allow-origin", Some("*"), I),
    f("http-port", Some("5062"), I),
    f("log-format", Some("JSON"), I),
    f("logfile", Some("/tmp/vc.log"), I),
    f("logfile-debug-level", Some("info"), I),
    f("logfile-format", Some("JSON"), I),
    f("logfile-max-number", Some("5"), I),
    f("logfile-max-size", Some("10"), I),
    f("metrics-address", Some("0.0.0.0"), I),
    f("metrics-allow-origin", Some("*"), I),
    f("metrics-port", Some("8080"), I),
    f("monitoring-endpoint", Some("http://127.0.0.1:9999/api"), I),
    f("monitoring-endpoint-period", Some("30"), I),
    f("network", Some("hoodi"), I),
    f("proposer-nodes", Some("http://127.0.0.1:5054"), I),
    f("safe-slots-to-import-optimistically", Some("128"), N(MERGE)),
    f("secrets-dir", Some("/tmp/lh/secrets"), I),
    f("suggested-fee-recipient", Some("0x00000000000000000000000000000000000000aa"), I),
    f("testnet-dir", Some("/tmp/testnet"), I),
    f("terminal-block-hash-epoch-override", Some("0"), N(MERGE)),
    f("terminal-block-hash-override", Some("0x00"), N(MERGE)),
    f("terminal-total-difficulty-override", Some("0"), N(MERGE)),
    f("validator-registration-batch-size", Some("100"), I),
    f("validators-dir", Some("/tmp/lh/validators"), I),
    f("web3-signer-keep-alive-timeout", Some("20000"), I),
    f("web3-signer-max-idle-connections", Some("8"), I),
    f("builder-proposals", None, I),
    f("disable-auto-discover", None, I),
    f("disable-latency-measurement-service", None, N("poolvc has no latency probe to disable")),
    f("disable-log-timestamp", None, I),
    f("disable-malloc-tuning", None, I),
    f("disable-run-on-all", None, N("deprecated in Lighthouse; --broadcast says what goes to every node")),
    f("disable-slashing-protection-web3signer", None, I),
    f("distributed", None, I),
    f("enable-doppelganger-protection", None, I),
    f("enable-high-validator-count-metrics", None, I),
    f("http", None, I),
    f("http-allow-keystore-export", None, Y(LIGHTHOUSE_ROUTES)),
    f("http-store-passwords-in-secrets-dir", None, I),
    f("init-slashing-protection", None, I),
    f("log-color", None, I),
    f("logfile-compress", None, I),
    f("logfile-no-restricted-perms", None, I),
    f("metrics", None, I),
    f("prefer-builder-proposals", None, I),
    f("produce-block-v3", None, N("poolvc asks /eth/v3 for blocks from Electra on, /eth/v2 before")),
    f("unencrypted-http-transport", None, I),
    f("use-long-timeouts", None, I),
    f("http-token-path", Some("/tmp/api-token.txt"), I),
    f("beacon-nodes-sync-tolerances", Some("4,4,32"), I),
    f("long-timeouts-multiplier", Some("3"), I),
    f("disable-attesting", None, I),
    f("telemetry-collector-url", Some("http://127.0.0.1:4317"), N("poolvc exports no OpenTelemetry traces")),
    f("telemetry-service-name", Some("vc"), N("poolvc exports no OpenTelemetry traces")),
];

/// Lighthouse's global flags: accepted before `vc` as well as after it.
pub const GLOBAL_FLAGS: &[&str] = &[
    "datadir",
    "testnet-dir",
    "network",
    "debug-level",
    "log-format",
    "log-color",
    "logfile",
    "logfile-debug-level",
    "logfile-format",
    "logfile-max-number",
    "logfile-max-size",
    "logfile-compress",
    "logfile-no-restricted-perms",
    "disable-log-timestamp",
    "disable-malloc-tuning",
    "genesis-state-url",
    "genesis-state-url-timeout",
    "safe-slots-to-import-optimistically",
    "terminal-block-hash-epoch-override",
    "terminal-block-hash-override",
    "terminal-total-difficulty-override",
    "telemetry-collector-url",
    "telemetry-service-name",
];

/// The one start-up warning: the given flags poolvc accepts without acting
/// on, each with why. `None` if there are none.
pub fn unimplemented_warning(given: &[&str]) -> Option<String> {
    let named: Vec<String> = LIGHTHOUSE_VC_FLAGS
        .iter()
        .filter(|flag| given.contains(&flag.name))
        .filter_map(|flag| match flag.support {
            Support::Implemented => None,
            Support::NoEffect(why) => Some(format!("--{} (no effect: {why})", flag.name)),
            Support::NotYet(why) => Some(format!("--{} (not implemented: {why})", flag.name)),
        })
        .collect();
    (!named.is_empty()).then(|| format!("accepted but not acted on: {}", named.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_flag_of_the_design_list_once() {
        // The design list's block names 67 distinct flags (its prose counts
        // `--flag=value` of the example among them: 68 `--` words).
        assert_eq!(LIGHTHOUSE_VC_FLAGS.len(), 67, "the design list has 67 flags");
        let mut names: Vec<&str> = LIGHTHOUSE_VC_FLAGS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 67, "a flag is listed twice");
        for g in GLOBAL_FLAGS {
            assert!(names.contains(g), "global flag {g} is not a vc flag");
        }
    }

    #[test]
    fn warning_names_only_flags_not_acted_on() {
        assert_eq!(unimplemented_warning(&["metrics", "datadir"]), None);
        let w =
            unimplemented_warning(&["http-allow-keystore-export", "metrics", "produce-block-v3"]).unwrap_or_default();
        assert!(w.contains("--http-allow-keystore-export (not implemented"), "{w}");
        assert!(w.contains("--produce-block-v3 (no effect"), "{w}");
        assert!(!w.contains("--metrics"), "{w}");
    }
}
