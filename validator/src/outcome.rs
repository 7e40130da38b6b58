//! What the store answers for each message: signed, refused (and why), or
//! failed (and why). A refusal is a decision (the message must not be
//! signed); a failure is an outage (it could not be signed now).

pub use poolvc_signer::slashing::DatabaseFault;
use poolvc_signer::slashing::NotSafe;
use poolvc_signer::types::{Address, PublicKeyBytes, SignatureBytes};

/// The store's answer for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Signed: the signature, made after every check passed.
    Signed(SignatureBytes),
    /// Not signed, on purpose.
    Refused(Refusal),
    /// Not signed: something local or remote failed.
    Failed(Failure),
}

impl Outcome {
    /// The signature, if signed.
    pub fn signature(&self) -> Option<SignatureBytes> {
        match self {
            Self::Signed(s) => Some(*s),
            _ => None,
        }
    }
}

/// Why a message was not signed, on purpose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The validator index is not one of poolvc's keys (or its index is not
    /// known yet).
    #[error("validator {index} is not one of this client's keys")]
    UnknownValidator {
        /// The index the duty named.
        index: u64,
    },
    /// The public key is not one of poolvc's keys.
    #[error("public key {pubkey} is not one of this client's keys")]
    UnknownKey {
        /// The key named.
        pubkey: PublicKeyBytes,
    },
    /// The duty's public key and index disagree with poolvc's own map.
    #[error("the duty names validator {index} with key {claimed}, but validator {index}'s key is {ours}")]
    KeyMismatch {
        /// The index named.
        index: u64,
        /// The key the duty named.
        claimed: PublicKeyBytes,
        /// The key poolvc holds for that index.
        ours: PublicKeyBytes,
    },
    /// Doppelganger protection has not released the key.
    #[error("validator {pubkey} may not sign yet (doppelganger protection)")]
    Doppelganger {
        /// The key.
        pubkey: PublicKeyBytes,
    },
    /// With leased key shards: this instance holds no live lease on the
    /// key's shard (another instance signs for it, or nobody may).
    #[error("validator {pubkey}: this instance holds no live lease on its shard ({shard})")]
    NotLeased {
        /// The key.
        pubkey: PublicKeyBytes,
        /// Its shard as this instance knows it, or where the refusal came from.
        shard: String,
    },
    /// The key has no fee recipient, so it must not propose or register.
    #[error(
        "validator {pubkey} has no fee recipient; set `suggested_fee_recipient` in validator_definitions.yml or \
         --suggested-fee-recipient"
    )]
    NoFeeRecipient {
        /// The key.
        pubkey: PublicKeyBytes,
    },
    /// A pool key whose pool rule cannot be known now.
    #[error("validator {pubkey} ({pool}, operator {operator}): its pool's fee recipient is not known ({reason}); it does not propose until it is")]
    PoolRecipientUnknown {
        /// The key.
        pubkey: PublicKeyBytes,
        /// The pool.
        pool: String,
        /// The operator.
        operator: String,
        /// Why.
        reason: String,
    },
    /// A block's payload (or a registration) pays someone else.
    #[error("the message pays fee recipient {got}, validator {pubkey}'s fee recipient is {expected}")]
    FeeRecipientMismatch {
        /// The key.
        pubkey: PublicKeyBytes,
        /// The configured recipient.
        expected: Address,
        /// The recipient in the message.
        got: Address,
    },
    /// A blinded block poolvc did not ask for, or that its key may not take.
    #[error("validator {pubkey}: blinded block refused: {why}")]
    BlindedBlockNotAllowed {
        /// The key.
        pubkey: PublicKeyBytes,
        /// Why (builder blocks off for the key, a pool rule, a local block
        /// asked for).
        why: String,
    },
    /// A Gloas block on an external builder's bid the key may not take, or
    /// that poolvc did not ask for.
    #[error("validator {pubkey}: block on builder {builder_index}'s bid refused: {why}")]
    BuilderBidNotAllowed {
        /// The key.
        pubkey: PublicKeyBytes,
        /// The bid's builder.
        builder_index: u64,
        /// Why.
        why: String,
    },
    /// A Gloas envelope that is not the proposer's own (self-built) payload.
    #[error("validator {pubkey}: envelope of builder {builder_index} refused: a proposer signs only its own payload's envelope")]
    EnvelopeNotSelfBuilt {
        /// The key.
        pubkey: PublicKeyBytes,
        /// The envelope's builder.
        builder_index: u64,
    },
    /// A blinded block whose relay would pay what the key's last signed
    /// registration names, which is not its fee recipient now (or there
    /// is none yet).
    #[error(
        "validator {pubkey}: blinded block refused: its last signed builder registration pays {}, its fee recipient is {expected}",
        registered.map_or("nothing (none signed since start)".to_string(), |a| a.to_string())
    )]
    RegistrationNotCurrent {
        /// The key.
        pubkey: PublicKeyBytes,
        /// Its fee recipient now.
        expected: Address,
        /// The recipient of its last signed registration.
        registered: Option<Address>,
    },
    /// The message is dated past the wall clock.
    #[error("{reason}")]
    AheadOfClock {
        /// What is dated how far.
        reason: poolvc_signer::clock::AheadOfClock,
    },
    /// The same validator appears twice in one batch of slashable messages.
    #[error("validator {pubkey} appears twice in one batch")]
    DuplicateInBatch {
        /// The key.
        pubkey: PublicKeyBytes,
    },
    /// Slashing protection refused it.
    #[error("slashing protection: {reason}")]
    Slashable {
        /// The rule it breaks.
        reason: NotSafe,
    },
    /// The remote signer refused the message (412: its own slashing
    /// protection; 404: it does not hold the key; 400: it disagrees with it).
    #[error("remote signer refused ({status}): {reason}")]
    RemoteSigner {
        /// Its HTTP status.
        status: u16,
        /// Its reason.
        reason: String,
    },
    /// The beacon node served data that does not fit the duty.
    #[error("beacon node served inconsistent data: {what}")]
    InconsistentNodeData {
        /// What does not fit.
        what: String,
    },
}

impl Refusal {
    /// A short label of the rule that refused (the metrics' `cause`).
    pub fn cause(&self) -> &'static str {
        match self {
            Self::UnknownValidator { .. } => "unknown_validator",
            Self::UnknownKey { .. } => "unknown_key",
            Self::KeyMismatch { .. } => "key_mismatch",
            Self::Doppelganger { .. } => "doppelganger",
            Self::NotLeased { .. } => "not_leased",
            Self::NoFeeRecipient { .. } => "no_fee_recipient",
            Self::PoolRecipientUnknown { .. } => "pool_recipient_unknown",
            Self::FeeRecipientMismatch { .. } => "fee_recipient_mismatch",
            Self::BlindedBlockNotAllowed { .. } => "blinded_block_not_allowed",
            Self::BuilderBidNotAllowed { .. } => "builder_bid_not_allowed",
            Self::EnvelopeNotSelfBuilt { .. } => "envelope_not_self_built",
            Self::RegistrationNotCurrent { .. } => "registration_not_current",
            Self::AheadOfClock { .. } => "ahead_of_clock",
            Self::DuplicateInBatch { .. } => "duplicate_in_batch",
            Self::Slashable { .. } => "slashable",
            Self::RemoteSigner { .. } => "remote_signer",
            Self::InconsistentNodeData { .. } => "inconsistent_node_data",
        }
    }
}

/// Why a message could not be signed or published (an outage, not a
/// decision). Each carries a typed cause, for the ledger and the metrics,
/// and the message of the error that caused it, for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The slashing database failed (nothing was recorded or signed).
    #[error("slashing database ({fault}): {reason}")]
    SlashingDatabase {
        /// What kind of failure.
        fault: DatabaseFault,
        /// The database's error.
        reason: String,
    },
    /// The signer failed.
    #[error("signer ({fault}): {reason}")]
    Signer {
        /// What kind of failure.
        fault: SignerFault,
        /// The signer's error.
        reason: String,
    },
    /// Publishing to the beacon nodes failed.
    #[error("publishing: {reason}")]
    Publish {
        /// What each node's attempt ended with, in the order tried.
        faults: Vec<NodeFault>,
        /// The beacon client's error.
        reason: String,
    },
}

impl Failure {
    /// The cause as a short stable name (metrics labels): `database_busy`,
    /// `signer_unreachable`, `node_timeout`, `node_status_503`, ... For a
    /// publish, the first node's.
    pub fn cause(&self) -> String {
        match self {
            Self::SlashingDatabase { fault, .. } => format!("database_{fault}"),
            Self::Signer { fault, .. } => format!("signer_{fault}"),
            Self::Publish { faults, .. } => match faults.first() {
                Some(f) => format!("node_{f}"),
                None => "node_unknown".into(),
            },
        }
    }
}

/// What kind of signer failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignerFault {
    /// The local signing engine did not answer as asked.
    Engine,
    /// No remote signer could be reached.
    Unreachable,
    /// A remote signer answered with a server error.
    Status(u16),
    /// A remote signer's answer is not a signature.
    BadAnswer,
    /// The client for a remote signer could not be set up.
    Setup,
}

impl std::fmt::Display for SignerFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Engine => f.write_str("engine"),
            Self::Unreachable => f.write_str("unreachable"),
            Self::Status(s) => write!(f, "status_{s}"),
            Self::BadAnswer => f.write_str("bad_answer"),
            Self::Setup => f.write_str("setup"),
        }
    }
}

/// How one beacon node's attempt at a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeFault {
    /// No whole answer in time.
    Timeout,
    /// No connection could be made.
    Connect,
    /// An HTTP status other than success.
    Status(u16),
    /// An answer past the route's size cap.
    TooLarge,
    /// An answer that is not what the API specifies.
    Malformed,
    /// The connection failed after it was made.
    Transport,
    /// The request body could not be encoded (nothing was sent).
    Encode,
}

impl std::fmt::Display for NodeFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timeout"),
            Self::Connect => f.write_str("connect"),
            Self::Status(s) => write!(f, "status_{s}"),
            Self::TooLarge => f.write_str("too_large"),
            Self::Malformed => f.write_str("malformed"),
            Self::Transport => f.write_str("transport"),
            Self::Encode => f.write_str("encode"),
        }
    }
}
