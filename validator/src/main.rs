//! The `poolvc` binary.

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, FromArgMatches};
use poolvc::cli::{BenchCommand, Cli, Command, DbArgs, KdfArg, KeysCommand, PoolCommand, SlashingCommand};
use poolvc::cmd::bench::signing::{self, SigningBenchOptions, SlashingBenchOptions};
use poolvc::cmd::keys::{self, WriteOptions};
use poolvc::cmd::shards;
use poolvc::cmd::slashing::{self, DbLocation};
use poolvc_signer::keys::Kdf;
use poolvc_signer::slashing::interchange::Accept;
use std::path::Path;

fn kdf(k: KdfArg) -> Kdf {
    match k {
        KdfArg::Scrypt => Kdf::STANDARD_SCRYPT,
        KdfArg::Pbkdf2 => Kdf::STANDARD_PBKDF2,
    }
}

fn print_write_report(r: &keys::WriteReport, out: &std::path::Path) {
    for pk in &r.written {
        println!("wrote {pk}");
    }
    for pk in &r.already_present {
        println!("already present {pk}");
    }
    println!(
        "{} keystores written, {} already present, in {}",
        r.written.len(),
        r.already_present.len(),
        out.display()
    );
}

fn db_location(db: DbArgs) -> Result<DbLocation> {
    match (db.datadir, db.postgres) {
        (Some(d), None) => Ok(DbLocation::Datadir(d)),
        (None, Some(u)) => Ok(DbLocation::Postgres(u)),
        _ => bail!("give exactly one of --datadir or --postgres"),
    }
}

fn run(cli: Cli, given: Vec<&str>) -> Result<()> {
    match cli.command {
        Command::Keys(c) => run_keys(c)?,
        Command::Bench(c) => run_bench(c)?,
        Command::Pool(c) => run_pool(c)?,
        Command::SlashingProtection(c) => run_slashing(c)?,
        Command::Vc(args) => {
            let args = *args;
            let log = poolvc::logging::LogConfig::from_args(&args);
            let cfg = poolvc::lighthouse::config::vc_config(&args, std::env::var_os("HOME").as_deref().map(Path::new))?;
            poolvc::logging::init(&log)?;
            if let Some(w) = poolvc::lighthouse::flags::unimplemented_warning(&given) {
                tracing::warn!("{w}");
            }
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let summary = rt.block_on(poolvc::runtime::run(cfg));
            // Blocking work still running (a slashing transaction finishing, a
            // database that does not answer) gets a moment, not a veto.
            rt.shutdown_timeout(std::time::Duration::from_millis(300));
            let summary = summary?;
            tracing::info!("stopped; totals {summary:?}");
        }
        Command::Signer(a) => {
            let log = poolvc::logging::LogConfig {
                level: a.debug_level,
                format: poolvc::lighthouse::args::LogFormat::Default,
                color: None,
                timestamps: true,
                file: None,
            };
            poolvc::logging::init(&log)?;
            let cfg = a.signer_config()?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let r = rt.block_on(poolvc::remote_signer::run(cfg));
            rt.shutdown_timeout(std::time::Duration::from_millis(300));
            r?;
        }
    }
    Ok(())
}

/// `poolvc keys ...`.
fn run_keys(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Interop { range, out, kdf: k } => {
            let range = keys::parse_range(&range)?;
            let report = keys::write_interop(range, &WriteOptions { out: out.clone(), kdf: kdf(k) })?;
            print_write_report(&report, &out);
        }
        KeysCommand::Derive { mnemonic_file, passphrase_file, count, first_index, out, kdf: k } => {
            let passphrase = match passphrase_file {
                Some(p) => zeroize::Zeroizing::new(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("reading passphrase file {}", p.display()))?
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                ),
                None => zeroize::Zeroizing::new(String::new()),
            };
            let report = keys::write_derived(
                &mnemonic_file,
                &passphrase,
                first_index,
                count,
                &WriteOptions { out: out.clone(), kdf: kdf(k) },
            )?;
            print_write_report(&report, &out);
        }
        KeysCommand::Inspect { paths, json } => {
            let files = keys::find_keystores(&paths)?;
            let mut failures = 0usize;
            for row in keys::inspect(&files) {
                match row {
                    Ok(r) if json => println!("{}", serde_json::to_string(&r)?),
                    Ok(r) => println!(
                        "{}\t{}\t{}\t{}",
                        r.pubkey.as_deref().unwrap_or("-"),
                        if r.path.is_empty() { "-" } else { &r.path },
                        r.kdf,
                        r.file.display()
                    ),
                    Err(e) => {
                        failures += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            if failures > 0 {
                bail!("{failures} of {} keystores could not be read", files.len());
            }
        }
        KeysCommand::Shards { postgres, json } => {
            let rows = shards::list(&postgres)?;
            if json {
                for r in &rows {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else {
                print!("{}", shards::render(&rows));
            }
        }
        KeysCommand::Assign { postgres, shard, keys } => {
            let k = shards::keys_of(keys.pubkeys_file.as_deref(), keys.interop_range.as_deref())?;
            let added = shards::assign(&postgres, &shard, &k)?;
            println!("shard {shard}: {added} keys added, {} already there", k.len() - added);
        }
        KeysCommand::Move { postgres, to, keys } => {
            let k = shards::keys_of(keys.pubkeys_file.as_deref(), keys.interop_range.as_deref())?;
            let started = std::time::Instant::now();
            let m = shards::move_keys(&postgres, &to, &k)?;
            let from: Vec<String> = m.from.iter().map(|(s, n)| format!("{n} from {s}")).collect();
            println!(
                "moved={} already={} to={to} from=[{}] ms={}",
                m.moved,
                m.already,
                from.join(", "),
                started.elapsed().as_millis()
            );
        }
        KeysCommand::Verify { datadir } => {
            let report = keys::verify(&datadir)?;
            for f in &report.failed {
                eprintln!("error: {f}");
            }
            println!(
                "{} keystores decrypted, {} failed, {} skipped (disabled or remote)",
                report.ok.len(),
                report.failed.len(),
                report.skipped
            );
            if !report.failed.is_empty() {
                bail!("{} keystores failed to decrypt", report.failed.len());
            }
        }
    }
    Ok(())
}

/// `poolvc bench ...`.
fn run_bench(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Signing { keys, messages, threads, rounds, threshold, window, json } => {
            let opts = SigningBenchOptions { keys, messages, threads, rounds, threshold, window };
            let r = signing::run_signing(&opts)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "keys={} messages={} threads={} rounds={}: baseline {:.0} sigs/s, engine {:.0} sigs/s, speedup {:.2}x, identical={}",
                    r.keys, r.messages, r.threads, r.rounds, r.baseline_sigs_per_s, r.engine_sigs_per_s, r.speedup, r.identical
                );
                if let (Some(e1), Some(scale)) = (r.engine_1_thread_sigs_per_s, r.thread_scaling) {
                    println!("engine on 1 thread {e1:.0} sigs/s: {}-thread scaling {scale:.2}x", r.threads);
                }
            }
            if !r.identical {
                bail!("engine output differs from blst's");
            }
        }
        BenchCommand::Slashing { validators, batch, epochs, history_epochs, postgres, json } => {
            let r =
                signing::run_slashing(&SlashingBenchOptions { validators, batch, epochs, history_epochs, postgres })?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{}: validators={} batch={}: batched {:.1} ms/epoch (batch median {:.1} ms, max {:.1} ms), one transaction per attestation {:.1} ms/epoch, speedup {:.1}x",
                    r.backend, r.validators, r.batch_size, r.batched_ms, r.batch_median_ms, r.batch_max_ms, r.per_message_ms, r.speedup
                );
            }
        }
        BenchCommand::AggregateFetch { committees, delay_ms, json } => {
            let r = poolvc::cmd::bench::aggregate_fetch::run(committees, delay_ms)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "aggregate fetch, {} committees, node answering in {} ms: one at a time {:.0} ms, at most {} at \
                     once {:.0} ms ({} held at once), speedup {:.1}x",
                    r.committees, r.delay_ms, r.sequential_ms, r.bound, r.concurrent_ms, r.max_in_flight, r.speedup
                );
            }
        }
        BenchCommand::RemoteSigning { keys, json } => {
            let r = poolvc::cmd::bench::remote::run(keys)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "keys={}: {} single requests {:.2} s, batch route {:.2} s, speedup {:.1}x; signer ready in {:.1} s, \
                     resident {:.0} MiB (peak {:.0} MiB); {} signatures verified",
                    r.keys,
                    r.keys,
                    r.single_s,
                    r.batch_s,
                    r.speedup,
                    r.signer_start_s,
                    r.signer_rss_ready_mib,
                    r.signer_rss_peak_mib,
                    r.verified_sample
                );
            }
        }
        BenchCommand::KeyCache { keys, cold_sample, out, json } => {
            let r = poolvc::cmd::bench::key_cache::run(keys, cold_sample, out.as_deref())?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "keys={} scrypt (n=2^18): cold {:.1} s for {} keystores, scaled to {}: {:.0} s; warm from the key cache {:.2} s; speedup {:.0}x",
                    r.keys, r.cold_sample_s, r.cold_sample, r.keys, r.cold_scaled_s, r.warm_s, r.speedup
                );
            }
        }
        BenchCommand::Perf { keys, epochs } => {
            for line in poolvc::cmd::bench::perf::run(&keys, epochs).map_err(anyhow::Error::msg)? {
                println!("{line}");
            }
        }
        BenchCommand::Pruning { validators, epochs, keep } => {
            let r = poolvc::cmd::bench::slot::run_pruning(validators, epochs, keep)?;
            for line in r {
                println!("{line}");
            }
        }
        BenchCommand::Slot { validators, slots, json } => {
            let r = poolvc::cmd::bench::slot::run_slot(validators, slots)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "validators={} attesters/slot={}: poolvc {:.1} ms/slot (median; max {:.1} ms), per key {:.1} ms/slot, speedup {:.1}x, identical={}",
                    r.validators, r.attesters_per_slot, r.batched_median_ms, r.batched_max_ms, r.per_key_median_ms, r.speedup, r.identical
                );
                println!(
                    "ptc seats/slot={}: poolvc {:.1} ms/slot, per key {:.1} ms/slot; attestations + PTC: speedup {:.1}x",
                    r.ptc_seats_per_slot, r.ptc_batched_median_ms, r.ptc_per_key_median_ms, r.slot_speedup
                );
            }
        }
    }
    Ok(())
}

/// `poolvc pool ...`.
fn run_pool(command: PoolCommand) -> Result<()> {
    match command {
        PoolCommand::Show { datadir, beacon_node, proofs, reread, json } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (snap, warnings) = rt.block_on(poolvc::cmd::pool::show(&datadir, &beacon_node, proofs, reread))?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&snap)?);
            } else {
                print!("{}", snap.render());
            }
        }
        PoolCommand::Report { datadir, slashing_db_url, frame, json } => {
            let (perf, _) = poolvc::pool::config::performance_in(&datadir)?;
            let r = poolvc::ledger::report::load(&perf, &datadir, slashing_db_url.as_deref(), frame)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", poolvc::ledger::report::render(&r));
            }
        }
        PoolCommand::Verify { datadir, slashing_db_url, frame, validator } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (perf, rpc) = poolvc::pool::config::performance_in(&datadir)?;
            let v = rt.block_on(poolvc::ledger::report::verify(
                &perf,
                rpc.as_deref(),
                &datadir,
                slashing_db_url.as_deref(),
                frame,
                &validator,
            ))?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            if !v.verified_on_chain {
                anyhow::bail!("the proof does not verify against the accepted root of frame {frame}");
            }
        }
        PoolCommand::ReporterKey { out, password_file } => {
            let address = poolvc::ledger::report::new_reporter_key(&out, &password_file)?;
            println!("{address}");
        }
        PoolCommand::PresignExits { datadir, beacon_node, out, epoch, encrypt_password_file } => {
            // The ejector reads its password file as it is; EIP-2335's
            // normalisation drops a trailing newline either way.
            let password = match &encrypt_password_file {
                Some(f) => Some(zeroize::Zeroizing::new(
                    std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
                )),
                None => None,
            };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let r = rt.block_on(poolvc::cmd::pool::presign_exits(
                &datadir,
                &beacon_node,
                &out,
                epoch,
                password.as_ref().map(|p| p.as_str()),
            ))?;
            let how = if password.is_some() { "encrypted for Lido's validator-ejector" } else { "plain" };
            println!("{} pre-signed exits for epoch {} in {} ({how})", r.files, r.epoch, r.out.display());
        }
    }
    Ok(())
}

/// `poolvc slashing-protection ...`.
fn run_slashing(command: SlashingCommand) -> Result<()> {
    match command {
        SlashingCommand::Import { file, db, genesis_validators_root, allow_v4 } => {
            let gvr = match genesis_validators_root {
                Some(s) => Some(
                    poolvc_signer::types::parse_hex(&s)
                        .filter(|b| b.len() == 32)
                        .map(|b| poolvc_signer::types::Hash256::from_slice(&b))
                        .with_context(|| format!("--genesis-validators-root {s:?} is not 32 bytes of hex"))?,
                ),
                None => None,
            };
            let accept = if allow_v4 { Accept::V5OrCompleteV4 } else { Accept::V5 };
            let imported = slashing::import(&db_location(db)?, &file, gvr, accept)?;
            for k in &imported.skipped {
                eprintln!("{}: skipped the entry {k:?}: not a public key, and no history to protect", file.display());
            }
            let s = imported.summary;
            println!(
                "imported {}: {} validators, {} blocks, {} attestations ({} already present or conflicting, kept as they were)",
                file.display(),
                s.validators,
                s.blocks_imported,
                s.attestations_imported,
                s.skipped
            );
        }
        SlashingCommand::Export { file, db, pubkeys } => {
            let keys = pubkeys.as_deref().map(slashing::parse_pubkeys).transpose()?;
            let n = slashing::export(&db_location(db)?, &file, keys.as_deref())?;
            println!("exported {n} validators to {}", file.display());
        }
    }
    Ok(())
}

/// The Lighthouse flags given on the command line of `vc`.
fn given_flags(matches: &clap::ArgMatches) -> Vec<&'static str> {
    let Some(("vc", m)) = matches.subcommand() else { return Vec::new() };
    poolvc::lighthouse::flags::LIGHTHOUSE_VC_FLAGS
        .iter()
        .filter(|f| {
            let id = f.name.replace('-', "_");
            m.try_contains_id(&id).unwrap_or(false)
                && m.value_source(&id) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|f| f.name)
        .collect()
}

fn main() {
    use poolvc::lighthouse::argv::{normalize, version_text, Invocation};
    let argv = match normalize(std::env::args_os().collect()) {
        Invocation::Run(argv) => argv,
        Invocation::LighthouseVersion => {
            print!("{}", version_text());
            return;
        }
        Invocation::NotALighthouseSubcommand(sub) => {
            eprintln!(
                "poolvc: invoked as `lighthouse`, it runs only the validator client (`lighthouse vc`), not `{sub}`"
            );
            std::process::exit(2);
        }
    };
    let matches = Cli::command().get_matches_from(argv);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let tune_malloc = !matches!(&cli.command, Command::Vc(a) if a.disable_malloc_tuning);
    if tune_malloc {
        // Before any thread starts: glibc fixes a thread's arena when it first allocates.
        poolvc::heap::limit_arenas();
    }
    if let Err(e) = run(cli, given_flags(&matches)) {
        eprintln!("poolvc: error: {e:#}");
        std::process::exit(1);
    }
}
