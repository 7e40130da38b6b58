//! Bounded fuzzing in CI (issue 10): every decoder that reads what a file, a
//! beacon node or an operator hands poolvc is fed its seeds (real files from
//! `tests/vectors` and `tests/fuzz/corpus`) and then, for a fixed number of
//! cases each, mutations of them (bytes overwritten, cut, spliced,
//! repeated) and raw random bytes. It passes when no decoder panics and no
//! decode allocates more than its input allows: a counting allocator
//! measures, per thread, the most bytes held at once during each decode
//! beyond what was held before it.
//!
//! Targets: the EIP-3076 interchange parser (whole and streamed), keystore
//! JSON, `validator_definitions.yml`, and the Beacon API answers poolvc
//! decodes: attester, proposer and sync duties, attestation data, produced
//! blocks in JSON (every fork) and SSZ (every fork, full and blinded, and
//! Deneb+ block contents).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use poolvc::beacon::{AttesterDuty, Data, DutiesResponse, ProposerDuty, SyncDuty};
use poolvc_signer::types::*;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

/// Counts this thread's live heap bytes and their high-water mark.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get().saturating_add(n);
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn sub(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counters are thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for `layout`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller promised.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            sub(layout.size());
            add(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes held at once during `f`, beyond those held before it.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    PEAK.with(Cell::get).saturating_sub(base)
}

/// What a decode of `len` bytes may allocate: JSON trees take some tens of
/// bytes per input byte (a one-byte number becomes a 32-byte value in a
/// growing vector), SSZ a few; a fixed allowance for tables and buffers.
fn allowance(len: usize) -> usize {
    64 * len + (4 << 20)
}

type Decoder = fn(&[u8]);

struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    decode: Decoder,
}

fn vectors() -> PathBuf {
    poolvc_tests::vectors()
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.push(std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn files(dir: &Path, ext: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn ssz_blocks(kind: &str) -> Vec<Vec<u8>> {
    let dir =
        vectors().join("ssz_static/fulu_mainnet_consensus-spec-tests_v1.5.0/tests/mainnet/fulu/ssz_static").join(kind);
    let mut out = Vec::new();
    for case in ["case_0", "case_1", "case_2"] {
        let p = dir.join("ssz_random").join(case).join("serialized.ssz_snappy");
        if let Ok(c) = std::fs::read(&p) {
            out.push(snap::raw::Decoder::new().decompress_vec(&c).unwrap());
        }
    }
    out
}

fn json_text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// The targets, their seeds read once.
fn targets() -> &'static [Target] {
    static TARGETS: std::sync::OnceLock<Vec<Target>> = std::sync::OnceLock::new();
    TARGETS.get_or_init(load_targets)
}

fn load_targets() -> Vec<Target> {
    let lodestar = vectors().join("lodestar");
    let read = |p: PathBuf| vec![std::fs::read(p).unwrap()];
    let mut interchange = files(&vectors().join("slashing_interchange"), "json");
    interchange.extend(corpus("interchange"));
    vec![
        Target {
            name: "interchange",
            seeds: interchange.clone(),
            decode: |b| {
                if let Some(t) = json_text(b) {
                    let _ = poolvc_signer::slashing::Interchange::from_json_str("fuzz.json", t);
                }
            },
        },
        Target {
            name: "interchange, streamed",
            seeds: interchange,
            decode: |b| {
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("fuzz.json");
                std::fs::write(&p, b).unwrap();
                let _ = poolvc_signer::slashing::interchange::read_streaming::<
                    poolvc_signer::slashing::InterchangeError,
                >(&p, poolvc_signer::slashing::interchange::Accept::V5OrCompleteV4, &mut |_| Ok(()));
            },
        },
        Target {
            name: "keystore",
            seeds: files(&vectors().join("keystore"), "json"),
            decode: |b| {
                if let Some(t) = json_text(b) {
                    let _ = poolvc_signer::keys::Keystore::from_json_str("fuzz.json", t);
                }
            },
        },
        Target {
            name: "validator_definitions.yml",
            seeds: corpus("validator_definitions"),
            decode: |b| {
                if let Some(t) = json_text(b) {
                    let _ = poolvc::datadir::definitions::ValidatorDefinitions::parse(Path::new("fuzz.yml"), t);
                }
            },
        },
        Target {
            name: "attester duties",
            seeds: read(lodestar.join("duties_attester.json")),
            decode: |b| {
                let _ = serde_json::from_slice::<DutiesResponse<AttesterDuty>>(b);
            },
        },
        Target {
            name: "proposer duties",
            seeds: read(lodestar.join("duties_proposer.json")),
            decode: |b| {
                let _ = serde_json::from_slice::<DutiesResponse<ProposerDuty>>(b);
            },
        },
        Target {
            name: "sync duties",
            seeds: vec![br#"{"execution_optimistic":false,"data":[{"pubkey":"0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c","validator_index":"1","validator_sync_committee_indices":["0","7"]}]}"#.to_vec()],
            decode: |b| {
                let _ = serde_json::from_slice::<Data<Vec<SyncDuty>>>(b);
            },
        },
        Target {
            name: "attestation data",
            seeds: read(lodestar.join("attestation_data.json")),
            decode: |b| {
                let _ = serde_json::from_slice::<Data<AttestationData>>(b);
            },
        },
        Target {
            name: "produced block, JSON",
            seeds: vec![
                std::fs::read(lodestar.join("produce_v2_bad.json")).unwrap(),
                std::fs::read(lodestar.join("produce_v3_bad.json")).unwrap(),
            ],
            decode: |b| {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(b) {
                    let data = v.get("data").cloned().unwrap_or(v);
                    for fork in ForkName::ALL {
                        let _ = BeaconBlock::<Mainnet>::from_json(fork, data.clone());
                        let _ = BlindedBeaconBlock::<Mainnet>::from_json(fork, data.clone());
                    }
                }
            },
        },
        Target {
            name: "produced block, SSZ",
            seeds: ssz_blocks("BeaconBlock"),
            decode: |b| {
                for fork in ForkName::ALL {
                    let _ = BeaconBlock::<Mainnet>::from_ssz_bytes(fork, b);
                    let _ = BlindedBeaconBlock::<Mainnet>::from_ssz_bytes(fork, b);
                }
                let _ = poolvc::beacon::ssz_envelope::split_block_contents(b);
            },
        },
    ]
}

/// `seed` changed by `edits`: (position, kind, byte) each.
fn mutate(seed: &[u8], edits: &[(u32, u8, u8)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for &(pos, kind, byte) in edits {
        let at = if v.is_empty() { 0 } else { pos as usize % (v.len() + 1) };
        match kind % 6 {
            0 if at < v.len() => v[at] = byte,
            1 => v.truncate(at),
            2 => v.insert(at, byte),
            3 => {
                // Repeat a short run (a length, a number, a bracket).
                let end = (at + 1 + byte as usize % 16).min(v.len());
                let run: Vec<u8> = v[at.min(end)..end].to_vec();
                for _ in 0..(byte % 8) {
                    v.splice(at..at, run.iter().copied());
                }
            }
            4 if at < v.len() => v[at] ^= 1 << (byte % 8),
            _ => {
                // Digits grow numbers and lengths past their bounds.
                v.splice(at..at, std::iter::repeat_n(b'9', 1 + byte as usize % 24));
            }
        }
    }
    v
}

fn check(t: &Target, input: &[u8]) {
    let used = peak_during(|| (t.decode)(input));
    assert!(
        used <= allowance(input.len()),
        "{}: decoding {} bytes allocated {used} bytes at once (allowed {})",
        t.name,
        input.len(),
        allowance(input.len())
    );
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/regressions/decoders.txt"
        )))),
        ..ProptestConfig::default()
    }
}

#[test]
fn seeds_decode_within_bounds() {
    for t in targets() {
        assert!(!t.seeds.is_empty(), "{}: no seeds", t.name);
        for s in &t.seeds {
            check(t, s);
        }
    }
}

proptest! {
    #![proptest_config(config(20_000))]

    #[test]
    fn mutated_seeds_never_panic_nor_overallocate(
        which in 0usize..64,
        seed in 0usize..64,
        edits in proptest::collection::vec(any::<(u32, u8, u8)>(), 1..8),
    ) {
        let ts = targets();
        let t = &ts[which % ts.len()];
        let s = &t.seeds[seed % t.seeds.len()];
        check(t, &mutate(s, &edits));
    }

    #[test]
    fn random_bytes_never_panic_nor_overallocate(
        which in 0usize..64,
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let ts = targets();
        check(&ts[which % ts.len()], &bytes);
    }
}

/// The allocation check can fail: a decoder that reserves by a length it
/// read, as a careless SSZ decoder would, is caught.
#[test]
fn the_allocation_check_catches_a_decoder_that_trusts_a_length() {
    let careless = Target {
        name: "careless",
        seeds: Vec::new(),
        decode: |b| {
            let n = b.iter().take(4).fold(0usize, |a, x| (a << 8) | *x as usize);
            std::hint::black_box(Vec::<u8>::with_capacity(n));
        },
    };
    let input = [0x7f, 0xff, 0xff, 0xff];
    let caught = std::panic::catch_unwind(|| check(&careless, &input));
    assert!(caught.is_err(), "a 2 GiB reservation from 4 bytes must fail the check");
    check(&careless, &[0, 0, 0, 16]);
}
