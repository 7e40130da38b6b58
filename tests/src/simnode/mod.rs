//! A simulated Electra/Fulu beacon node for the validator client's tests.
//!
//! **Not the reference for correctness.** End-to-end correctness on Electra
//! and Fulu is shown on `testnets/specnode/` (Lodestar's published state
//! transition, every block checked, the chain replayed in the consensus-specs
//! pyspec: `testnets/local/e2e-specnode.sh`), which shares no code with
//! poolvc. This node's signing roots come from `poolvc-signer` itself, so it
//! cannot catch a mistake poolvc shares with it; it stays for what a real
//! state transition is not needed for: fault injection (hostile and failing
//! nodes, reorgs, doppelgangers) and scale (100,000 keys).
//!
//! It serves the Electra and Fulu validator routes as the Beacon API spec
//! describes them, over a simulated chain (deterministic committees, proposers
//! and sync committees; no state transition), and checks everything it
//! receives:
//! - every signature with real BLS (blst) under the real domains of the
//!   message's fork (the signing roots come from `poolvc-signer`'s
//!   `SigningContext`, whose roots are pinned to pyspec known answers);
//! - every duty against the assignments it served (right slot, committee,
//!   position, aggregator selection, sync subcommittee);
//! - every published block against the block it produced, by its
//!   hash-tree root through the ssz types, and the consensus-version header;
//! - slashability across everything received: two different attestations
//!   for one target epoch, surround votes, two blocks for one slot.
//!
//! Anything wrong is recorded in [`Report::failures`]; a test asserts it is
//! empty and that every duty of the epochs it watches was done.
//!
//! Bad-node behaviour for tests: a listener can be taken down and brought
//! back on the same address ([`SimHandle::take_down`], [`SimHandle::bring_up`]),
//! a reorg changes the duties of the current and next epoch
//! ([`SimHandle::reorg`]).

pub mod attacks;
pub mod block_json;
pub mod chain;
pub mod harness;
mod routes;

use chain::Chain;
use poolvc_signer::keys::{interop::interop_secret_key, PublicKey};
use poolvc_signer::types::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the simulated chain looks like.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Interop validators 0..n exist.
    pub validators: u64,
    /// `ELECTRA_FORK_EPOCH` (earlier forks at 0).
    pub electra_epoch: u64,
    /// `FULU_FORK_EPOCH`.
    pub fulu_epoch: u64,
    /// `SLOT_DURATION_MS`.
    pub slot_ms: u64,
    /// Unix time of slot 0.
    pub genesis_time: u64,
    /// Serve a blinded (builder) block on odd slots when the client's
    /// `builder_boost_factor` is not 0.
    pub builder: bool,
    /// Serve `POST /eth/v1/validator/liveness/{epoch}` (else 404, as older nodes).
    pub liveness: bool,
    /// Answer produceBlockV3 in SSZ when asked (and accept SSZ publishing).
    pub ssz: bool,
    /// 1: verify every signature before answering. N > 1: verify one
    /// signature in N, after answering, on a thread of its own (for runs at
    /// 100,000 keys on 2 cores); duties and slashability are still checked
    /// for every message before answering.
    pub verify_every: u64,
    /// N > 0: verify, after answering on a thread of its own, every
    /// signature whose (first) signer is in a fixed random sample of N
    /// validators (the same N for every run: [`sample_of`]), and pass the
    /// rest unverified; `verify_every` is then not used. 16,000 of them give
    /// about 500 attestation signatures a slot at the mainnet preset, at
    /// 100,000 keys as at 1,000,000: the node's cost stays the same.
    pub verify_sample: u64,
    /// Act as distributed-validator middleware: answer
    /// `beacon_committee_selections` / `sync_committee_selections` (each
    /// partial proof verified) with the combined proofs, except for the
    /// validators [`middleware_withholds`]; accept aggregates and
    /// contributions only with a proof it returned. Off: those routes
    /// answer 501, as a consensus client may.
    pub distributed: bool,
}

/// Validators whose combined selection proofs the middleware does not
/// return (their cluster did not reach its threshold): one in eight.
pub fn middleware_withholds(validator: u64) -> bool {
    validator % 8 == 7
}

impl SimConfig {
    /// The tests' usual chain: 64 validators (the client holds all),
    /// Electra from genesis, Fulu at epoch 2, 2-second slots, genesis in 2 s,
    /// builder blocks on odd slots, the liveness route, JSON blocks.
    pub fn electra_minimal() -> Self {
        Self {
            validators: harness::VALIDATORS,
            electra_epoch: 0,
            fulu_epoch: 2,
            slot_ms: 2000,
            genesis_time: harness::now() + 2,
            builder: true,
            liveness: true,
            ssz: false,
            verify_every: 1,
            verify_sample: 0,
            distributed: false,
        }
    }
}

/// A fixed random sample of `k` of `n` validators (a seeded shuffle, the
/// same for every run), as a membership table.
pub fn sample_of(n: u64, k: u64) -> Vec<bool> {
    use rand::{seq::SliceRandom, SeedableRng};
    let mut all: Vec<u64> = (0..n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5a3b_1e00_0d0e_5eed);
    all.shuffle(&mut rng);
    let mut member = vec![false; n as usize];
    for v in all.into_iter().take(k as usize) {
        member[v as usize] = true;
    }
    member
}

/// Ways the node misbehaves on purpose (all off by default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Misbehaviour {
    /// After each real attester, proposer and sync duty, serve a second one
    /// for the same validator labelled with another of the client's keys
    /// (attester: at another slot of the same epoch).
    pub relabelled_duplicates: bool,
    /// After each real attester duty, serve the same duty again and one for
    /// the same validator at another slot of the same epoch.
    pub duplicate_duties: bool,
    /// On odd slots, serve attestation data for the next slot, and for the
    /// next epoch's target.
    pub wrong_attestation_data: bool,
    /// Build full blocks paying the node's own address instead of the
    /// fee recipient the client prepared.
    pub ignore_fee_recipients: bool,
    /// Answer produceBlockV3 with a blinded (builder) block on odd slots
    /// even when the client asked for a local one (`builder_boost_factor=0`).
    pub blinded_to_local_requests: bool,
    /// Answer produceBlockV3 after this many milliseconds.
    pub produce_delay_ms: u64,
    /// Answer the duty routes after this many milliseconds.
    pub duties_delay_ms: u64,
}

/// What the node received and checked.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Every check that failed, with where.
    pub failures: Vec<String>,
    /// (slot, validator) of verified attestations.
    pub attested: HashSet<(u64, u64)>,
    /// (slot, validator) of attestations verified a second time (another
    /// signing of a duty already done: two instances signing one key).
    pub attested_twice: Vec<(u64, u64)>,
    /// When each (slot, validator)'s first attestation arrived, in
    /// milliseconds since genesis.
    pub attested_at_ms: HashMap<(u64, u64), u64>,
    /// (slot, validator) of sync-committee messages verified a second time.
    pub sync_twice: Vec<(u64, u64)>,
    /// (slot, validator) of verified aggregates.
    pub aggregated: HashSet<(u64, u64)>,
    /// Verified blocks: slot -> (proposer, blinded, fork).
    pub blocks: BTreeMap<u64, (u64, bool, ForkName)>,
    /// (slot, validator) of verified sync-committee messages.
    pub sync_messages: HashSet<(u64, u64)>,
    /// (slot, validator, subcommittee) of verified contributions.
    pub contributions: HashSet<(u64, u64, u64)>,
    /// Blocks produced in SSZ and published in SSZ.
    pub ssz_blocks: u64,
    /// Validators with a verified builder registration.
    pub registrations: HashSet<u64>,
    /// Signatures verified in all.
    pub signatures_verified: u64,
    /// Requests served, per listener.
    pub requests: Vec<u64>,
    /// When each attestation's POST arrived (before the node verified
    /// anything in it): (slot, milliseconds into the slot).
    pub attestation_offsets_ms: Vec<(u64, u64)>,
    /// Requests served by (listener, "METHOD /path").
    pub routes: HashMap<(usize, String), u64>,
    /// When the head event of each slot's block went out: milliseconds since genesis.
    pub head_ms: BTreeMap<u64, u64>,
    /// Attestation POSTs answered: (slot, milliseconds since genesis when answered).
    pub attestation_posts_ms: Vec<(u64, u64)>,
    /// Each attestation POST: (slot of its last entry, when it had arrived
    /// whole, when it was answered), milliseconds since genesis. From the
    /// head event to arrival is the client's time; from arrival to the
    /// answer, the node's.
    pub attestation_posts: Vec<(u64, u64, u64)>,
    /// Combined selection proofs returned (attestation, sync).
    pub selections: (u64, u64),
    /// Graffiti of each published block, as text where it is UTF-8.
    pub graffiti: BTreeMap<u64, String>,
}

/// Mutable node state. Invariant: `att_data[slot]`, once set, is what every
/// later request for that slot gets.
struct State {
    chain: Chain,
    head: Hash256,
    att_data: HashMap<u64, AttestationData>,
    /// Verified single attestations by (slot, committee, seed version):
    /// position -> signature.
    pool: HashMap<(u64, u64, u64), BTreeMap<u64, SignatureBytes>>,
    /// Verified sync messages by (slot, root, subcommittee): position -> signature.
    sync_pool: HashMap<(u64, Hash256, u64), BTreeMap<u64, SignatureBytes>>,
    /// Blocks produced (several clients may ask): slot -> (root, blinded).
    produced: HashMap<u64, Vec<(Hash256, bool)>>,
    /// Attestations seen: validator -> (source, target, signing root).
    votes: HashMap<u64, Vec<(u64, u64, Hash256)>>,
    /// Blocks seen: (validator, slot) -> signing root.
    block_votes: HashMap<(u64, u64), Hash256>,
    /// Slots of known block roots (genesis and published blocks).
    roots: HashMap<Hash256, u64>,
    /// Published signed blocks (JSON), by slot.
    published: HashMap<u64, serde_json::Value>,
    /// Validators active "elsewhere": live on the liveness route, and
    /// attesting in the node's blocks.
    doppelgangers: HashSet<u64>,
    /// Fee recipients from `prepare_beacon_proposer`.
    fee_recipients: HashMap<u64, Address>,
    /// Combined selection proofs returned (`distributed`): (validator,
    /// slot, subcommittee; `u64::MAX` for attestations) -> proof.
    selections: HashMap<(u64, u64, u64), SignatureBytes>,
    misbehaviour: Misbehaviour,
    report: Report,
}

/// The node.
pub struct Sim<P: Preset> {
    cfg: SimConfig,
    spec: ChainSpec,
    spec_json: serde_json::Value,
    gvr: Hash256,
    pubkeys: Vec<PublicKey>,
    pubkey_bytes: Vec<PublicKeyBytes>,
    index_of: HashMap<PublicKeyBytes, u64>,
    state: Mutex<State>,
    /// Head events (slot, block root) for `/eth/v1/events` subscribers.
    heads: tokio::sync::broadcast::Sender<(u64, Hash256)>,
    /// Per listener: answers `is_syncing: true, sync_distance: 64`.
    syncing: Mutex<Vec<bool>>,
    /// Per listener: hostile answers (`attacks.rs`).
    attacks: Mutex<Vec<attacks::Attacks>>,
    /// Sampled verification (`verify_every` > 1 or `verify_sample` > 0):
    /// the queue and its count.
    sampler: Option<Mutex<std::sync::mpsc::Sender<VerifyJob>>>,
    /// With `verify_sample`: which validators are in the sample.
    sample: Vec<bool>,
    sampled: std::sync::atomic::AtomicU64,
    /// What the sampling thread found: (signatures verified, failures).
    deferred: Arc<Mutex<(u64, Vec<String>)>>,
    /// Signatures found valid (by a request's batch check or alone), kept
    /// as a real node's seen caches keep messages: what the node's other
    /// listener already checked (a client broadcasts to both) is not
    /// checked again. Cleared past `SEEN_MAX` entries.
    seen_valid: Mutex<HashSet<Claim>>,
    _p: std::marker::PhantomData<P>,
}

/// A signature over one signing root by a set of validators (one, or an
/// aggregate's signers).
pub type Claim = (Vec<u64>, Hash256, SignatureBytes);

/// The most signatures `Sim::seen_valid` keeps (a few epochs of a test).
const SEEN_MAX: usize = 100_000;

/// A signature to verify later: (who, public keys, root, signature).
type VerifyJob = (String, Vec<PublicKey>, Hash256, SignatureBytes);

/// Verifies `sig` over `root` by one key, or as an aggregate of several.
fn verify_sig(pks: &[PublicKey], root: Hash256, sig: &SignatureBytes) -> bool {
    let refs: Vec<&blst::min_pk::PublicKey> = pks.iter().map(|p| p.as_blst()).collect();
    if refs.is_empty() {
        return false;
    }
    let Ok(s) = blst::min_pk::Signature::sig_validate(sig.as_slice(), true) else { return false };
    s.fast_aggregate_verify(true, root.as_slice(), poolvc_signer::keys::ETH_DST, &refs)
        == blst::BLST_ERROR::BLST_SUCCESS
}

/// The spec map served at `/eth/v1/config/spec`, from the project's
/// consensus config of the preset with the simulated fork schedule.
fn spec_map(preset: PresetName, cfg: &SimConfig) -> BTreeMap<String, String> {
    let file = match preset {
        PresetName::Mainnet => "mainnet.yaml",
        PresetName::Minimal => "minimal.yaml",
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnets/configs").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Read as text: YAML would turn 0x-versions into numbers.
    let mut map: BTreeMap<String, String> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.starts_with(' '))
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let v = v.split('#').next().unwrap_or("").trim().trim_matches('\'').trim_matches('"');
            (!k.trim().is_empty() && !v.is_empty()).then(|| (k.trim().to_string(), v.to_string()))
        })
        .collect();
    for f in ["ALTAIR", "BELLATRIX", "CAPELLA", "DENEB"] {
        map.insert(format!("{f}_FORK_EPOCH"), "0".into());
    }
    map.insert("ELECTRA_FORK_EPOCH".into(), cfg.electra_epoch.to_string());
    map.insert("FULU_FORK_EPOCH".into(), cfg.fulu_epoch.to_string());
    map.insert("SLOT_DURATION_MS".into(), cfg.slot_ms.to_string());
    map.insert("SECONDS_PER_SLOT".into(), (cfg.slot_ms / 1000).max(1).to_string());
    map.insert("CONFIG_NAME".into(), "poolvc-simnode".into());
    map
}

impl<P: Preset> Sim<P> {
    /// A node over `cfg`.
    pub fn new(cfg: SimConfig) -> Self {
        let preset = if P::NAME == "minimal" { PresetName::Minimal } else { PresetName::Mainnet };
        let map = spec_map(preset, &cfg);
        let spec = ChainSpec::from_map("simnode", map.clone()).unwrap_or_else(|e| panic!("simnode spec: {e}"));
        let pubkeys: Vec<PublicKey> = (0..cfg.validators).map(|i| interop_secret_key(i).public_key()).collect();
        let pubkey_bytes: Vec<PublicKeyBytes> = pubkeys.iter().map(|p| p.to_bytes()).collect();
        let index_of = pubkey_bytes.iter().enumerate().map(|(i, p)| (*p, i as u64)).collect();
        let chain = Chain { spec: spec.clone(), n: cfg.validators, seeds: HashMap::new(), cache: Default::default() };
        let state = State {
            chain,
            head: chain::tag(&[b"genesis block"]),
            roots: [(chain::tag(&[b"genesis block"]), 0)].into_iter().collect(),
            att_data: HashMap::new(),
            pool: HashMap::new(),
            sync_pool: HashMap::new(),
            produced: HashMap::new(),
            votes: HashMap::new(),
            block_votes: HashMap::new(),
            published: HashMap::new(),
            doppelgangers: HashSet::new(),
            fee_recipients: HashMap::new(),
            selections: HashMap::new(),
            misbehaviour: Misbehaviour::default(),
            report: Report::default(),
        };
        let deferred = Arc::new(Mutex::new((0u64, Vec::new())));
        let sample = if cfg.verify_sample > 0 { sample_of(cfg.validators, cfg.verify_sample) } else { Vec::new() };
        let sampler = (cfg.verify_every > 1 || cfg.verify_sample > 0).then(|| {
            let (tx, rx) = std::sync::mpsc::channel::<VerifyJob>();
            let found = Arc::clone(&deferred);
            std::thread::spawn(move || {
                for (who, pks, root, sig) in rx {
                    let ok = verify_sig(&pks, root, &sig);
                    let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
                    if ok {
                        f.0 += 1;
                    } else {
                        f.1.push(format!("{who}: signature invalid (sampled check)"));
                    }
                }
            });
            Mutex::new(tx)
        });
        Self {
            gvr: chain::tag(&[b"simnode genesis validators root", P::NAME.as_bytes()]),
            cfg,
            spec,
            spec_json: serde_json::json!({ "data": map }),
            pubkeys,
            pubkey_bytes,
            index_of,
            state: Mutex::new(state),
            syncing: Mutex::new(Vec::new()),
            attacks: Mutex::new(Vec::new()),
            sampler,
            sample,
            sampled: std::sync::atomic::AtomicU64::new(0),
            deferred,
            seen_valid: Mutex::new(HashSet::new()),
            heads: tokio::sync::broadcast::channel(64).0,
            _p: std::marker::PhantomData,
        }
    }

    /// The spec served.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The genesis validators root served.
    pub fn genesis_validators_root(&self) -> Hash256 {
        self.gvr
    }

    fn ctx(&self) -> SigningContext<'_> {
        SigningContext { spec: &self.spec, genesis_validators_root: self.gvr }
    }

    fn current_slot(&self) -> u64 {
        self.ms_since_genesis() / self.cfg.slot_ms.max(1)
    }

    fn ms_since_genesis(&self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        now.saturating_sub(self.cfg.genesis_time * 1000)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the report so far.
    pub fn report(&self) -> Report {
        let (verified, failures) = self.deferred.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut r = self.report_inner();
        r.signatures_verified += verified;
        r.failures.extend(failures);
        r
    }

    fn report_inner(&self) -> Report {
        self.lock().report.clone()
    }

    /// The assignments as they stand (after any reorg).
    pub fn chain(&self) -> Chain {
        self.lock().chain.clone()
    }

    /// Simulates a reorg past the dependent roots of `epoch` and `epoch + 1`:
    /// their duties are reshuffled and their dependent roots change.
    pub fn reorg(&self, epoch: u64) {
        let mut st = self.lock();
        for e in [epoch, epoch + 1] {
            *st.chain.seeds.entry(e).or_insert(0) += 1;
        }
    }

    /// Makes validator `v` active elsewhere (a doppelganger of the client's key).
    pub fn add_doppelganger(&self, v: u64) {
        self.lock().doppelgangers.insert(v);
    }

    /// How long to hold a request for `path` (slow-node behaviour).
    pub fn delay_for(&self, path: &str) -> std::time::Duration {
        let m = self.lock().misbehaviour;
        let ms = if path.starts_with("/eth/v3/validator/blocks/") {
            m.produce_delay_ms
        } else if path.starts_with("/eth/v1/validator/duties/") {
            m.duties_delay_ms
        } else {
            0
        };
        std::time::Duration::from_millis(ms)
    }

    /// Listener `which`'s attacks.
    fn attacks_of(&self, which: usize) -> attacks::Attacks {
        self.attacks.lock().unwrap_or_else(|p| p.into_inner()).get(which).copied().unwrap_or_default()
    }

    /// Starts misbehaving as `m` says.
    pub fn set_misbehaviour(&self, m: Misbehaviour) {
        self.lock().misbehaviour = m;
    }

    /// Checks a request's signatures together before its handler takes
    /// the node's lock (`batch_valid`), leaving out those already seen; the
    /// handler's `verify` of each then finds it seen. The lock is not held
    /// while pairings run, so the node answers other requests meanwhile, as
    /// a real node does. Sampling nodes (`verify_every` > 1) sample each in
    /// `verify` instead.
    pub(super) fn preverify(&self, claims: Vec<Claim>) {
        if self.sampler.is_some() {
            return;
        }
        let fresh: Vec<Claim> = {
            let seen = self.seen_valid.lock().unwrap_or_else(|p| p.into_inner());
            claims.into_iter().filter(|c| !seen.contains(c)).collect()
        };
        // One alone is checked by its handler.
        if fresh.len() < 2 {
            return;
        }
        let valid = batch_valid(&self.pubkeys, fresh);
        self.remember(valid);
    }

    fn remember(&self, valid: impl IntoIterator<Item = Claim>) {
        let mut seen = self.seen_valid.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > SEEN_MAX {
            seen.clear();
        }
        seen.extend(valid);
    }

    /// Verifies one signature by validator `v`; counts it.
    fn verify(&self, st: &mut State, v: u64, root: Hash256, sig: &SignatureBytes) -> bool {
        self.verify_aggregate(st, &[v], root, sig)
    }

    /// Verifies a signature of `signers` (one, or an aggregate's) over
    /// `root`, or finds it already seen valid; counts it.
    fn verify_aggregate(&self, st: &mut State, signers: &[u64], root: Hash256, sig: &SignatureBytes) -> bool {
        let claim = (signers.to_vec(), root, *sig);
        if self.seen_valid.lock().unwrap_or_else(|p| p.into_inner()).contains(&claim) {
            st.report.signatures_verified += 1;
            return true;
        }
        let pks: Vec<PublicKey> = signers.iter().filter_map(|v| self.pubkeys.get(*v as usize)).copied().collect();
        if pks.is_empty() || pks.len() != signers.len() {
            return false;
        }
        let who = match signers {
            [v] => format!("validator {v}"),
            _ => format!("aggregate of {} validators", pks.len()),
        };
        let ok = self.check(st, signers[0], who, pks, root, sig);
        if ok && self.sampler.is_none() {
            self.remember([claim]);
        }
        ok
    }

    /// Verifies now, or (sampling) queues for the sampling thread those of
    /// the sample's validators (`first` signing), or one in `verify_every`,
    /// and passes the rest.
    fn check(
        &self,
        st: &mut State,
        first: u64,
        who: String,
        pks: Vec<PublicKey>,
        root: Hash256,
        sig: &SignatureBytes,
    ) -> bool {
        if let Some(tx) = &self.sampler {
            let picked = if self.cfg.verify_sample > 0 {
                self.sample.get(first as usize).copied().unwrap_or(false)
            } else {
                let n = self.sampled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                n.is_multiple_of(self.cfg.verify_every)
            };
            if picked {
                let _ = tx.lock().unwrap_or_else(|p| p.into_inner()).send((who, pks, root, *sig));
            }
            return true;
        }
        let ok = verify_sig(&pks, root, sig);
        if ok {
            st.report.signatures_verified += 1;
        }
        ok
    }
}

/// The claims of `claims` whose signatures verify, checked together: one
/// randomised multi-pairing (blst's `verify_multiple_aggregate_signatures`
/// with 64-bit random scalars, as beacon nodes batch gossip signatures),
/// about a third of the cost of checking each alone. When the batch fails,
/// each is checked alone, so a bad one is named by its own check.
pub fn batch_valid(pubkeys: &[PublicKey], claims: Vec<Claim>) -> Vec<Claim> {
    use rand::RngCore;
    let infinity = {
        let mut b = [0u8; 96];
        b[0] = 0xc0;
        b
    };
    let mut kept = Vec::with_capacity(claims.len());
    let mut keys = Vec::with_capacity(claims.len());
    let mut sigs = Vec::with_capacity(claims.len());
    for c in claims {
        let pks: Option<Vec<&blst::min_pk::PublicKey>> =
            c.0.iter().map(|v| pubkeys.get(*v as usize).map(PublicKey::as_blst)).collect();
        let Some(pks) = pks.filter(|p| !p.is_empty()) else { continue };
        let Ok(key) = blst::min_pk::AggregatePublicKey::aggregate(&pks, false) else { continue };
        // The point at infinity is never a validator's signature (the
        // single check refuses it too).
        if c.2.as_slice() == infinity.as_slice() {
            continue;
        }
        let Ok(s) = blst::min_pk::Signature::from_bytes(c.2.as_slice()) else { continue };
        keys.push(key.to_public_key());
        sigs.push(s);
        kept.push(c);
    }
    let mut rng = rand::thread_rng();
    let rands: Vec<blst::blst_scalar> = kept
        .iter()
        .map(|_| {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b[..8]);
            b[0] |= 1;
            blst::blst_scalar { b }
        })
        .collect();
    let msgs: Vec<&[u8]> = kept.iter().map(|c| c.1.as_slice()).collect();
    let key_refs: Vec<&blst::min_pk::PublicKey> = keys.iter().collect();
    let sig_refs: Vec<&blst::min_pk::Signature> = sigs.iter().collect();
    let all = !kept.is_empty()
        && blst::min_pk::Signature::verify_multiple_aggregate_signatures(
            &msgs,
            poolvc_signer::keys::ETH_DST,
            &key_refs,
            false,
            &sig_refs,
            true,
            &rands,
            64,
        ) == blst::BLST_ERROR::BLST_SUCCESS;
    if all {
        return kept;
    }
    kept.into_iter()
        .filter(|c| {
            let pks: Vec<PublicKey> = c.0.iter().filter_map(|v| pubkeys.get(*v as usize)).copied().collect();
            verify_sig(&pks, c.1, &c.2)
        })
        .collect()
}

/// Aggregates signatures (already verified).
pub fn aggregate_signatures<'a>(sigs: impl Iterator<Item = &'a SignatureBytes>) -> Option<SignatureBytes> {
    let parsed: Vec<blst::min_pk::Signature> =
        sigs.filter_map(|s| blst::min_pk::Signature::from_bytes(s.as_slice()).ok()).collect();
    let refs: Vec<&blst::min_pk::Signature> = parsed.iter().collect();
    let agg = blst::min_pk::AggregateSignature::aggregate(&refs, false).ok()?;
    Some(SignatureBytes::from(agg.to_signature().compress()))
}

/// A running node: its listeners and their control.
pub struct SimHandle<P: Preset> {
    /// The node.
    pub sim: Arc<Sim<P>>,
    addrs: Vec<SocketAddr>,
    stops: Mutex<Vec<Option<tokio::sync::oneshot::Sender<()>>>>,
}

impl<P: Preset> SimHandle<P> {
    /// Starts the node with `listeners` HTTP listeners on loopback (each a
    /// separate "beacon node" URL over the same chain). Call inside a Tokio
    /// runtime.
    pub async fn start(cfg: SimConfig, listeners: usize) -> Self {
        let local: SocketAddr = ([127, 0, 0, 1], 0).into();
        Self::start_on(cfg, &vec![local; listeners]).await
    }

    /// A node with one listener on each of `binds` (port 0: any free port).
    pub async fn start_on(cfg: SimConfig, binds: &[SocketAddr]) -> Self {
        let listeners = binds.len();
        let sim = Arc::new(Sim::<P>::new(cfg));
        sim.lock().report.requests = vec![0; listeners];
        *sim.syncing.lock().unwrap_or_else(|p| p.into_inner()) = vec![false; listeners];
        *sim.attacks.lock().unwrap_or_else(|p| p.into_inner()) = vec![attacks::Attacks::default(); listeners];
        let mut addrs = Vec::new();
        let mut stops = Vec::new();
        for (i, bind) in binds.iter().enumerate() {
            let l = tokio::net::TcpListener::bind(bind).await.unwrap_or_else(|e| panic!("bind {bind}: {e}"));
            addrs.push(l.local_addr().unwrap_or_else(|e| panic!("addr: {e}")));
            stops.push(Some(routes::serve(Arc::clone(&sim), i, l)));
        }
        Self { sim, addrs, stops: Mutex::new(stops) }
    }

    /// Base URLs of the listeners.
    pub fn urls(&self) -> Vec<String> {
        self.addrs.iter().map(|a| format!("http://{a}")).collect()
    }

    /// Stops listener `i` (connections refused until [`Self::bring_up`]).
    pub fn take_down(&self, i: usize) {
        if let Some(tx) = self.stops.lock().unwrap_or_else(|p| p.into_inner())[i].take() {
            let _ = tx.send(());
        }
    }

    /// Makes listener `i` hostile as `a` says (`Attacks::default()`: honest).
    pub fn set_attacks(&self, i: usize, a: attacks::Attacks) {
        self.sim.attacks.lock().unwrap_or_else(|p| p.into_inner())[i] = a;
    }

    /// Makes listener `i` report itself syncing (or synced again).
    pub fn set_syncing(&self, i: usize, syncing: bool) {
        self.sim.syncing.lock().unwrap_or_else(|p| p.into_inner())[i] = syncing;
    }

    /// Restarts listener `i` on its old address.
    pub async fn bring_up(&self, i: usize) {
        let mut tries = 0;
        let l = loop {
            match tokio::net::TcpListener::bind(self.addrs[i]).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebind {}: {e}", self.addrs[i]),
            }
        };
        self.stops.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(routes::serve(Arc::clone(&self.sim), i, l));
    }
}
