//! The `poolvc` command line. Subcommands grow with each capability; flag
//! names follow `lighthouse` where Lighthouse has the same thing.

pub use crate::lighthouse::args::VcArgs;
use crate::remote_signer::{NetworkSource, SignerConfig, SignerError};
use clap::{Parser, Subcommand, ValueEnum};
use poolvc_signer::types::{parse_hex, Hash256};
use std::net::SocketAddr;
use std::path::PathBuf;

/// poolvc: a validator client for staking-pool node operators.
#[derive(Debug, Parser)]
#[command(name = "poolvc", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, inspect and check validator keystores.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Measure this machine: signing throughput and more.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run the validator client (every flag of `lighthouse vc`; also
    /// answers as `lighthouse vc` when invoked under that name).
    Vc(Box<VcArgs>),
    /// Pool awareness: the pools, operators and recipients of the keys
    /// (pools.yaml in the data dir and the pool contracts).
    #[command(subcommand)]
    Pool(PoolCommand),
    /// EIP-3076 slashing-protection interchange (run with the client stopped).
    #[command(subcommand, name = "slashing-protection")]
    SlashingProtection(SlashingCommand),
    /// A Web3Signer-compatible remote signer on the batch engine (its own
    /// slashing protection; poolvc's batch route besides the single one).
    Signer(Box<SignerArgs>),
}

/// `poolvc signer`.
#[derive(Debug, clap::Args)]
pub struct SignerArgs {
    /// Data dir: the SQLite slashing database and the key cache; keys are
    /// read from its `validators/` and `secrets/` unless given below.
    #[arg(long)]
    pub datadir: PathBuf,
    /// Keystores (Lighthouse's layout or `validator_definitions.yml`).
    #[arg(long)]
    pub keystores_path: Option<PathBuf>,
    /// Password files named `0x<pubkey>`.
    #[arg(long)]
    pub keystores_passwords_path: Option<PathBuf>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1")]
    pub http_listen_host: std::net::IpAddr,
    /// Listen port (0: any free port; the bound one is printed as `url=`).
    /// Not 9000 (Web3Signer's default), which beacon nodes use for P2P.
    #[arg(long, default_value_t = 9500)]
    pub http_listen_port: u16,
    /// `Host` names answered (comma-separated; `*`: any). Default: the
    /// loopback names, as Web3Signer's `--http-host-allowlist`.
    #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1,::1")]
    pub http_host_allowlist: Vec<String>,
    /// Listen on a non-loopback address without TLS and client
    /// authentication: anyone who can reach it signs with every key.
    #[arg(long)]
    pub unencrypted_http_transport: bool,
    /// The server's TLS certificate chain (PEM), with `--tls-key-file`.
    #[arg(long, requires = "tls_key_file", conflicts_with = "tls_keystore_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// The server's TLS private key (PEM).
    #[arg(long, requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// The server's TLS identity as a PKCS#12 keystore, with
    /// `--tls-keystore-password-file`.
    #[arg(long, requires = "tls_keystore_password_file")]
    pub tls_keystore_file: Option<PathBuf>,
    /// The file holding the keystore's password.
    #[arg(long, requires = "tls_keystore_file")]
    pub tls_keystore_password_file: Option<PathBuf>,
    /// Clients allowed by certificate: lines of `<name> <sha256 fingerprint>`.
    #[arg(long)]
    pub tls_known_clients_file: Option<PathBuf>,
    /// Clients allowed when this CA (PEM) issued their certificate.
    #[arg(long)]
    pub tls_ca_file: Option<PathBuf>,
    /// Which message kinds each key signs: YAML, `default` or a key ->
    /// list of Web3Signer types (e.g. no VOLUNTARY_EXIT over the network).
    #[arg(long)]
    pub allowed_kinds_file: Option<PathBuf>,
    /// Sign what names a fee recipient (builder registrations, Gloas
    /// proposer preferences and envelopes) only when it pays the key's
    /// `suggested_fee_recipient` in `validator_definitions.yml`; a key
    /// with none there signs none of them.
    #[arg(long)]
    pub enforce_fee_recipients: bool,
    /// A beacon node to read the chain config and genesis from.
    #[arg(long, conflicts_with = "network_config")]
    pub beacon_node: Option<String>,
    /// A consensus `config.yaml` (with `--genesis-validators-root` and `--genesis-time`).
    #[arg(long, requires_all = ["genesis_validators_root", "genesis_time"])]
    pub network_config: Option<PathBuf>,
    /// The network's genesis validators root (with `--network-config`).
    #[arg(long)]
    pub genesis_validators_root: Option<String>,
    /// The network's genesis time, Unix seconds (with `--network-config`):
    /// no message dated past the wall clock is signed.
    #[arg(long)]
    pub genesis_time: Option<u64>,
    /// PostgreSQL slashing database, shared by several signer instances.
    #[arg(long)]
    pub slashing_protection_db_url: Option<String>,
    /// Decrypt every keystore at start (no key cache).
    #[arg(long)]
    pub disable_key_cache: bool,
    /// Signing threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Log level.
    #[arg(long, value_enum, default_value = "info")]
    pub debug_level: crate::lighthouse::args::LogLevel,
}

/// `poolvc pool ...`.
#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Per pool and operator: the keys, the recipient each must pay and why
    /// (with any pending change and when it applies), exit requests outstanding.
    Show {
        /// Data directory (pools.yaml, validators/).
        #[arg(long)]
        datadir: PathBuf,
        /// Beacon node (finality and the clock, for Rocket Pool's cooldown;
        /// the head block's execution state root the reads are proven against).
        #[arg(long, default_value = "http://localhost:5052")]
        beacon_node: String,
        /// What the reads are proven against: `beacon` (the node's head
        /// block), `endpoint-head` (benchmarks: the cost of proofs, proving
        /// nothing), `none`.
        #[arg(long, value_enum, default_value_t = crate::cmd::pool::ProofAnchor::Beacon)]
        proofs: crate::cmd::pool::ProofAnchor,
        /// Read twice at the same block, the second time from the first
        /// read's proven state, and report the second (what the running
        /// client's refresh costs when nothing changed; benchmarks).
        #[arg(long)]
        reread: bool,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Pre-sign a voluntary exit (EIP-7044 domain) for every local key a pool
    /// holds, as Stader's node software does: one `<pubkey>.json` per key,
    /// files 0600, in a new directory, all or none. With
    /// `--encrypt-password-file`, each file is encrypted as Lido's
    /// validator-ejector reads its messages (`MESSAGES_PASSWORD`).
    PresignExits {
        /// Data directory (pools.yaml, validators/, secrets/).
        #[arg(long)]
        datadir: PathBuf,
        /// Beacon node (validator indices, the chain's config).
        #[arg(long, default_value = "http://localhost:5052")]
        beacon_node: String,
        /// The directory to create.
        #[arg(long)]
        out: PathBuf,
        /// The exits' epoch (default: the current epoch).
        #[arg(long)]
        epoch: Option<u64>,
        /// Encrypt each file under the password in this file (EIP-2335
        /// container, PBKDF2): the form of Lido's validator-ejector
        /// encrypted messages (its `MESSAGES_PASSWORD_FILE`).
        #[arg(long)]
        encrypt_password_file: Option<PathBuf>,
    },
    /// A frame's performance per operator and key, from the ledger the
    /// running client keeps (`performance.sqlite`): duties assigned and
    /// included, Lido CSM performance, threshold and strikes, Stader's
    /// missed attestations, rewards. `--json` prints it shaped like Lido's
    /// published frame log.
    Report {
        /// Data directory (pools.yaml, performance.sqlite).
        #[arg(long)]
        datadir: PathBuf,
        /// The ledger in PostgreSQL (the client's --slashing-db-url) instead of the data dir.
        #[arg(long)]
        slashing_db_url: Option<String>,
        /// The frame (default: the newest judged epoch's).
        #[arg(long)]
        frame: Option<u64>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A validator's leaf of a frame report and its Merkle proof, checked
    /// against the root the reporting contract accepted
    /// (`performance.report.contract` in pools.yaml).
    Verify {
        /// Data directory (pools.yaml, performance.sqlite).
        #[arg(long)]
        datadir: PathBuf,
        /// The ledger in PostgreSQL (the client's --slashing-db-url) instead of the data dir.
        #[arg(long)]
        slashing_db_url: Option<String>,
        /// The frame.
        #[arg(long)]
        frame: u64,
        /// The validator's public key (0x + 96 hex digits).
        #[arg(long)]
        validator: String,
    },
    /// Create the reporter's execution-layer key: a new random key in an
    /// Ethereum V3 keystore (scrypt), written 0600; prints its address.
    ReporterKey {
        /// The keystore file to create (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// A file holding the password.
        #[arg(long)]
        password_file: PathBuf,
    },
}

/// Where the slashing-protection database is.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct DbArgs {
    /// Data directory (SQLite database `slashing_protection.sqlite` inside).
    #[arg(long)]
    pub datadir: Option<PathBuf>,
    /// PostgreSQL URL, e.g. postgres://user:pass@host/db.
    #[arg(long)]
    pub postgres: Option<String>,
}

/// `poolvc slashing-protection ...`.
#[derive(Debug, Subcommand)]
pub enum SlashingCommand {
    /// Import an EIP-3076 interchange file (v5), atomically, streamed (the
    /// file's size does not set the memory).
    Import {
        /// The interchange file.
        file: PathBuf,
        /// Database location.
        #[command(flatten)]
        db: DbArgs,
        /// Refuse the file unless it is for this genesis validators root.
        #[arg(long)]
        genesis_validators_root: Option<String>,
        /// Also take a draft version 4 ("complete") file, as Lodestar v1.5
        /// and older export; the same rules as version 5 apply.
        #[arg(long)]
        allow_v4: bool,
    },
    /// Export an EIP-3076 interchange file (v5).
    Export {
        /// The file to write.
        file: PathBuf,
        /// Database location.
        #[command(flatten)]
        db: DbArgs,
        /// Only these keys (comma-separated 0x-hex).
        #[arg(long)]
        pubkeys: Option<String>,
    },
}

/// `poolvc bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Signing throughput: stock per-signature blst signing vs the batch engine,
    /// same workload, same threads; checks both give identical bytes.
    Signing {
        /// Number of keys (interop keys 0..N).
        #[arg(long)]
        keys: usize,
        /// Distinct messages (key i signs message i mod M). 1 = every key signs
        /// the same message, as Electra attesters of a slot do.
        #[arg(long, default_value_t = 1)]
        messages: usize,
        /// Threads for both sides.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Rounds per side (0 = enough for about 2,000 signatures).
        #[arg(long, default_value_t = 0)]
        rounds: usize,
        /// Engine: smallest group that gets a fixed-base table.
        #[arg(long, default_value_t = poolvc_signer::batch::DEFAULT_TABLE_THRESHOLD)]
        threshold: usize,
        /// Engine: table window width (2..=8).
        #[arg(long, default_value_t = poolvc_signer::batch::comb::DEFAULT_WINDOW)]
        window: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The client's attestation hot path for one Electra slot at mainnet shape
    /// (validators / 32 attesters): slashing batch + signing batch + POST body,
    /// vs a per-key path (a transaction and a blst sign per key), same run.
    Slot {
        /// Validators (interop keys 0..N).
        #[arg(long)]
        validators: usize,
        /// Slots measured (at most 32, one epoch).
        #[arg(long, default_value_t = 8)]
        slots: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Slashing database: one epoch of attestations recorded in slot-sized
    /// batches vs one transaction per attestation (how clients used to do it).
    Slashing {
        /// Validators.
        #[arg(long)]
        validators: usize,
        /// Attestations per batch (0 = one slot's attesters, validators / 32).
        #[arg(long, default_value_t = 0)]
        batch: usize,
        /// Epochs recorded in batches (figures are per epoch).
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        /// Epochs of history recorded first, untimed.
        #[arg(long, default_value_t = 0)]
        history_epochs: usize,
        /// PostgreSQL URL (a scratch schema is created and dropped). Default: SQLite in a temp dir.
        #[arg(long)]
        postgres: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Key loading at a restart: N standard scrypt keystores loaded with no
    /// key cache (measured on a sample, scaled) vs from the key cache (all N).
    KeyCache {
        /// Keystores.
        #[arg(long, default_value_t = 10_000)]
        keys: usize,
        /// Keystores decrypted for the cold figure.
        #[arg(long, default_value_t = 100)]
        cold_sample: usize,
        /// Leave the data dir of the N keystores (key cache filled) here.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The 2/3-slot aggregate fetch against a local node that answers each
    /// aggregate after a delay: one GET per committee in turn (as before)
    /// vs the bounded concurrent fetch the attestation service makes.
    AggregateFetch {
        /// Committees with an aggregator of ours (at most 64).
        #[arg(long, default_value_t = 64)]
        committees: u64,
        /// The node's delay per answer, ms.
        #[arg(long, default_value_t = 200)]
        delay_ms: u64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Remote signing: one slot's attestations for N keys through a real
    /// `poolvc signer` process, N single requests vs the batch route; the
    /// signer's memory with N keys.
    RemoteSigning {
        /// Keys (and signatures per run).
        #[arg(long, default_value_t = 10_000)]
        keys: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Slashing-history growth: one attestation per key per epoch into two
    /// SQLite databases, one pruned each epoch as `poolvc vc` does, one never.
    Pruning {
        /// Validators.
        #[arg(long, default_value_t = 1000)]
        validators: usize,
        /// Epochs recorded.
        #[arg(long, default_value_t = 2048)]
        epochs: u64,
        /// Epochs of history kept by the pruned database.
        #[arg(long, default_value_t = crate::config::DEFAULT_HISTORY_EPOCHS)]
        keep: u64,
    },
    /// The performance ledger's cost per epoch (judge, write, frame report)
    /// and disk per day, at each key count; the first count is the baseline.
    Perf {
        /// Key counts, comma-separated.
        #[arg(long, default_value = "1000,10000,100000", value_delimiter = ',')]
        keys: Vec<u64>,
        /// Epochs per count (also the frame length).
        #[arg(long, default_value_t = 8)]
        epochs: u64,
    },
}

/// KDF choice for new keystores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KdfArg {
    /// scrypt, n = 2^18, r = 8, p = 1 (EIP-2335's parameters; ~1 s and 256 MiB per key).
    Scrypt,
    /// PBKDF2-HMAC-SHA256, c = 262144 (EIP-2335's parameters; faster to decrypt).
    Pbkdf2,
}

/// `poolvc keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write interop (insecure, deterministic) keys as EIP-2335 keystores in
    /// Lighthouse's validators/ + secrets/ layout. For devnets only.
    Interop {
        /// Inclusive index range, e.g. 32..63 (as Lodestar's --interopIndexes).
        #[arg(long)]
        range: String,
        /// Data directory to write into (Lighthouse's --datadir).
        #[arg(long)]
        out: PathBuf,
        /// KDF of the keystores.
        #[arg(long, value_enum, default_value_t = KdfArg::Pbkdf2)]
        kdf: KdfArg,
    },
    /// Derive signing keys m/12381/3600/i/0/0 from a BIP-39 mnemonic (EIP-2333/2334).
    Derive {
        /// File holding the mnemonic.
        #[arg(long)]
        mnemonic_file: PathBuf,
        /// File holding the BIP-39 passphrase (default: none).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Number of keys.
        #[arg(long)]
        count: u32,
        /// First validator index i.
        #[arg(long, default_value_t = 0)]
        first_index: u32,
        /// Data directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// KDF of the keystores.
        #[arg(long, value_enum, default_value_t = KdfArg::Scrypt)]
        kdf: KdfArg,
    },
    /// Show the public fields of keystores (pubkey, path, KDF) without decrypting.
    Inspect {
        /// Keystore files, or directories searched for *.json.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Decrypt every enabled keystore of a data dir (in parallel) to check passwords.
    Verify {
        /// Data directory (with validators/validator_definitions.yml).
        #[arg(long)]
        datadir: PathBuf,
    },
    /// Leased key shards: every shard, who holds its lease, until when, and
    /// how many keys it has.
    Shards {
        /// The PostgreSQL the instances share (their --slashing-protection-db).
        #[arg(long)]
        postgres: String,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Adds keys to a shard (made if new); a key already in another shard
    /// refuses the whole call (use `keys move`).
    Assign {
        /// The PostgreSQL the instances share.
        #[arg(long)]
        postgres: String,
        /// The shard.
        #[arg(long)]
        shard: String,
        /// The keys.
        #[command(flatten)]
        keys: ShardKeys,
    },
    /// Moves keys to another shard in one transaction: from its commit the
    /// old shard's holder signs none of them and the new one's signs them
    /// (it must have their keystores loaded).
    Move {
        /// The PostgreSQL the instances share.
        #[arg(long)]
        postgres: String,
        /// The shard the keys go to.
        #[arg(long)]
        to: String,
        /// The keys.
        #[command(flatten)]
        keys: ShardKeys,
    },
}

/// Which keys a shard command names.
#[derive(Debug, clap::Args)]
pub struct ShardKeys {
    /// A file of public keys, one `0x...` a line (`#` comments).
    #[arg(long)]
    pub pubkeys_file: Option<PathBuf>,
    /// Interop keys START..END, inclusive (devnets).
    #[arg(long)]
    pub interop_range: Option<String>,
}

impl SignerArgs {
    /// The settings `poolvc signer`'s flags give.
    pub fn signer_config(self) -> Result<SignerConfig, SignerError> {
        let a = self;
        let network = match (a.beacon_node, a.network_config, a.genesis_validators_root, a.genesis_time) {
            (Some(url), None, _, _) => NetworkSource::BeaconNode { url },
            (None, Some(path), Some(g), Some(genesis_time)) => {
                let root = parse_hex(&g).filter(|b| b.len() == 32).ok_or_else(|| SignerError::Network {
                    source_name: "--genesis-validators-root".into(),
                    reason: format!("{g:?} is not 32 bytes of hex"),
                })?;
                NetworkSource::Config { path, genesis_validators_root: Hash256::from_slice(&root), genesis_time }
            }
            _ => {
                return Err(SignerError::Network {
                    source_name: "the command line".into(),
                    reason: "give --beacon-node, or --network-config with --genesis-validators-root and --genesis-time"
                        .into(),
                })
            }
        };
        use crate::remote_signer::tls::{ServerIdentity, TlsOptions};
        let identity = match (a.tls_cert_file, a.tls_key_file, a.tls_keystore_file, a.tls_keystore_password_file) {
            (Some(cert), Some(key), None, _) => Some(ServerIdentity::Pem { cert, key }),
            (None, None, Some(file), Some(password_file)) => Some(ServerIdentity::Pkcs12 { file, password_file }),
            _ => None,
        };
        let client_auth = a.tls_known_clients_file.is_some() || a.tls_ca_file.is_some();
        if identity.is_none() && client_auth {
            return Err(SignerError::Flags {
                reason: "--tls-known-clients-file and --tls-ca-file need the server's TLS identity \
                         (--tls-cert-file/--tls-key-file or --tls-keystore-file)"
                    .into(),
            });
        }
        let tls = identity.map(|identity| TlsOptions {
            identity,
            known_clients: a.tls_known_clients_file,
            client_ca: a.tls_ca_file,
        });
        let kinds = match &a.allowed_kinds_file {
            Some(p) => crate::remote_signer::exposure::KindsPolicy::read(p)?,
            None => crate::remote_signer::exposure::KindsPolicy::any(),
        };
        Ok(SignerConfig {
            listen: SocketAddr::new(a.http_listen_host, a.http_listen_port),
            validators_dir: a.keystores_path.unwrap_or_else(|| a.datadir.join("validators")),
            secrets_dir: a.keystores_passwords_path.unwrap_or_else(|| a.datadir.join("secrets")),
            datadir: a.datadir,
            key_cache: !a.disable_key_cache,
            slashing_db_url: a.slashing_protection_db_url,
            network,
            threads: a.threads,
            tls,
            unencrypted_http_transport: a.unencrypted_http_transport,
            hosts: crate::remote_signer::exposure::HostAllowlist::new(&a.http_host_allowlist),
            kinds,
            enforce_fee_recipients: a.enforce_fee_recipients,
        })
    }
}
