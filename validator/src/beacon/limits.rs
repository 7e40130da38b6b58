//! How many bytes an answer from a beacon node may have, per route: the one
//! place these caps are kept.
//!
//! A node the client does not control can answer with any number of bytes
//! within a request's timeout (a 1 GiB `attestation_data` body once took the
//! client past 1 GB resident). Each cap is the spec's bound for what that
//! route can carry, in JSON (hex doubles byte strings, numbers are quoted),
//! with at least twice the room; a body over the cap is dropped unread as
//! soon as its `Content-Length` or its bytes pass the cap.
//!
//! Routes whose answer grows with the keys a request names (duties,
//! validators, liveness) are sized by that count ([`Sizing::PerKey`]): the
//! node may only answer for what it was asked.

/// Room for an envelope and the small fields of any answer.
pub const BASE: usize = 64 * 1024;

/// The consensus specs' `MAX_PAYLOAD_SIZE` (gossip and req/resp): no block
/// or payload the network carries is larger, in SSZ.
pub const MAX_PAYLOAD_SIZE: usize = 10 * 1024 * 1024;

/// Blobs per block allowed for in a produced block's contents: past every
/// fork's `MAX_BLOBS_PER_BLOCK` and `BLOB_SCHEDULE` entry so far (Fulu on
/// mainnet: 21), with room for later schedule steps.
pub const MAX_BLOBS: usize = 128;

/// One blob (`BYTES_PER_BLOB`) and its cell proofs (Fulu: 128 of 48 bytes).
const BLOB_WITH_PROOFS: usize = 131_072 + 128 * 48;

/// A block with its blobs, as JSON (hex doubles bytes): 2 x (payload +
/// blobs) + envelope; about 55 MiB. SSZ answers are about half that.
pub const BLOCK: usize = 2 * (MAX_PAYLOAD_SIZE + MAX_BLOBS * BLOB_WITH_PROOFS) + BASE;

/// The committees of one slot: at most `MAX_COMMITTEES_PER_SLOT` (64) of
/// `MAX_VALIDATORS_PER_COMMITTEE` (2048) indices, up to 22 bytes each as
/// quoted decimals with separators.
pub const COMMITTEES_OF_SLOT: usize = 64 * 2048 * 22 + BASE;

/// An aggregate (Electra: bits over every committee of the slot, 131,072
/// bits as hex) or a sync contribution.
pub const AGGREGATE: usize = 2 * (64 * 2048 / 8) + BASE;

/// Per key in a duties or validators answer: an attester duty is about 260
/// bytes of JSON, a validator entry about 420; sync duties carry up to a few
/// committee positions.
pub const PER_KEY: usize = 1024;

/// One epoch's committees (`/states/{id}/committees?epoch=`, the
/// performance ledger): every active validator once, up to 2^21 of them as
/// quoted decimals with separators.
pub const EPOCH_COMMITTEES: usize = (1 << 21) * 22 + BASE;

/// The ideal attestation rewards of every effective-balance step (Electra:
/// up to 2,048) that the attestation rewards route lists before the keys'.
pub const IDEAL_REWARDS: usize = 2048 * 256;

/// How a route's cap is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// A fixed number of bytes.
    Fixed(usize),
    /// [`BASE`] plus [`PER_KEY`] for each key the request names.
    PerKey,
    /// A fixed part plus [`PER_KEY`] for each key the request names.
    FixedPlusPerKey(usize),
}

/// The routes, by prefix of their path (most specific first), and their
/// caps. Anything not listed gets [`BASE`].
const ROUTES: &[(&str, Sizing)] = &[
    // One epoch's proposers: SLOTS_PER_EPOCH duties of about 200 bytes.
    ("/eth/v1/validator/duties/proposer/", Sizing::Fixed(BASE)),
    ("/eth/v1/validator/duties/", Sizing::PerKey),
    ("/eth/v1/validator/liveness/", Sizing::PerKey),
    // Selections: one entry (about 260 bytes) per entry asked.
    ("/eth/v1/validator/beacon_committee_selections", Sizing::PerKey),
    ("/eth/v1/validator/sync_committee_selections", Sizing::PerKey),
    ("/eth/v1/beacon/rewards/attestations/", Sizing::FixedPlusPerKey(IDEAL_REWARDS)),
    ("/eth/v1/beacon/states/head/validators", Sizing::PerKey),
    ("/eth/v4/validator/blocks/", Sizing::Fixed(BLOCK)),
    ("/eth/v3/validator/blocks/", Sizing::Fixed(BLOCK)),
    // A self-built Gloas payload (stateful fetch): a payload, as JSON.
    ("/eth/v1/validator/execution_payload_envelopes/", Sizing::Fixed(2 * MAX_PAYLOAD_SIZE + BASE)),
    // A block's revealed payload (the pools' proof anchor from Gloas on).
    ("/eth/v1/beacon/execution_payload_envelopes/", Sizing::Fixed(2 * MAX_PAYLOAD_SIZE + BASE)),
    ("/eth/v2/validator/blocks/", Sizing::Fixed(BLOCK)),
    ("/eth/v2/beacon/blocks/", Sizing::Fixed(BLOCK)),
    ("/eth/v1/beacon/states/", Sizing::Fixed(COMMITTEES_OF_SLOT)),
    ("/eth/v2/validator/aggregate_attestation", Sizing::Fixed(AGGREGATE)),
    ("/eth/v1/validator/aggregate_attestation", Sizing::Fixed(AGGREGATE)),
    ("/eth/v1/validator/sync_committee_contribution", Sizing::Fixed(AGGREGATE)),
];

/// How `path`'s answer is sized.
pub fn sizing(path: &str) -> Sizing {
    if path.starts_with("/eth/v1/beacon/states/") && route(path).ends_with("/committees") && !path.contains("slot=") {
        return Sizing::Fixed(EPOCH_COMMITTEES);
    }
    ROUTES.iter().find(|(prefix, _)| path.starts_with(prefix)).map(|(_, s)| *s).unwrap_or(Sizing::Fixed(BASE))
}

/// The most bytes `path`'s answer may have when the request names `keys`
/// keys (0 when it names none).
pub fn max_body(path: &str, keys: usize) -> usize {
    match sizing(path) {
        Sizing::Fixed(n) => n,
        Sizing::PerKey => BASE.saturating_add(keys.saturating_mul(PER_KEY)),
        Sizing::FixedPlusPerKey(n) => n.saturating_add(keys.saturating_mul(PER_KEY)),
    }
}

/// The route of a path, for messages: the path without its query.
pub fn route(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_epoch_of_committees_and_the_ideal_rewards_fit() {
        assert_eq!(sizing("/eth/v1/beacon/states/123/committees?epoch=3"), Sizing::Fixed(EPOCH_COMMITTEES));
        assert!(max_body("/eth/v1/beacon/states/123/committees?epoch=3", 0) > 1_000_000 * 10);
        assert!(max_body("/eth/v1/beacon/rewards/attestations/9", 32) > IDEAL_REWARDS);
        assert_eq!(sizing("/eth/v1/beacon/states/head/sync_committees?epoch=3"), Sizing::Fixed(COMMITTEES_OF_SLOT));
    }

    #[test]
    fn per_key_routes_grow_with_the_request_and_others_do_not() {
        let duties = "/eth/v1/validator/duties/attester/7";
        assert_eq!(max_body(duties, 0), BASE);
        assert_eq!(max_body(duties, 100_000), BASE + 100_000 * PER_KEY);
        assert_eq!(max_body("/eth/v1/validator/attestation_data?slot=1&committee_index=0", 100_000), BASE);
        assert_eq!(max_body("/eth/v3/validator/blocks/9?randao_reveal=0x", 0), BLOCK);
        assert_eq!(max_body("/eth/v4/validator/blocks/9?randao_reveal=0x", 0), BLOCK);
        assert_eq!(sizing("/eth/v1/beacon/states/head/validators"), Sizing::PerKey);
        assert_eq!(sizing("/eth/v1/beacon/states/100/committees?slot=100"), Sizing::Fixed(COMMITTEES_OF_SLOT));
    }

    #[test]
    fn a_mainnet_attester_duty_and_block_fit() {
        // One real-shaped duty, with the largest numbers the fields can hold.
        let duty = r#"{"pubkey":"0x93247f2209abcacf57b75a51dafae777f9dd38bc7053d1af526f220a7489a6d3a2753e5f3e8b1cfe39b56f43611df74a","validator_index":"18446744073709551615","committee_index":"63","committee_length":"2048","committees_at_slot":"64","validator_committee_index":"2047","slot":"18446744073709551615"},"#;
        assert!(duty.len() * 2 <= PER_KEY, "{} bytes", duty.len());
        // Twice the gossip limit plus 21 blobs (Fulu) in hex still fits.
        const { assert!(2 * (MAX_PAYLOAD_SIZE + 21 * BLOB_WITH_PROOFS) < BLOCK) };
        assert_eq!(route("/a/b?c=d"), "/a/b");
    }
}
