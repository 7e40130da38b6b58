//! Fork names, ordered by activation.

use std::fmt;
use std::str::FromStr;

/// A consensus fork, in activation order (`Phase0 < Altair < ... < Fulu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForkName {
    /// Phase 0 (genesis).
    Phase0,
    /// Altair: sync committees.
    Altair,
    /// Bellatrix: the Merge, execution payloads.
    Bellatrix,
    /// Capella: withdrawals.
    Capella,
    /// Deneb: blobs; EIP-7044 exits.
    Deneb,
    /// Electra: committee bits, single attestations, execution requests.
    Electra,
    /// Fulu: PeerDAS (containers signed by a VC unchanged from Electra).
    Fulu,
    /// Gloas: enshrined proposer-builder separation (EIP-7732), the PTC,
    /// proposer preferences, progressive SSZ (EIP-7688).
    Gloas,
}

impl ForkName {
    /// All forks in order.
    pub const ALL: [ForkName; 8] = [
        ForkName::Phase0,
        ForkName::Altair,
        ForkName::Bellatrix,
        ForkName::Capella,
        ForkName::Deneb,
        ForkName::Electra,
        ForkName::Fulu,
        ForkName::Gloas,
    ];

    /// The lowercase name used by the Beacon API (`Eth-Consensus-Version`, `version`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ForkName::Phase0 => "phase0",
            ForkName::Altair => "altair",
            ForkName::Bellatrix => "bellatrix",
            ForkName::Capella => "capella",
            ForkName::Deneb => "deneb",
            ForkName::Electra => "electra",
            ForkName::Fulu => "fulu",
            ForkName::Gloas => "gloas",
        }
    }

    /// The prefix of this fork's keys in a config (`ALTAIR` for `ALTAIR_FORK_EPOCH`).
    /// `None` for phase0, whose version is `GENESIS_FORK_VERSION`.
    pub fn config_prefix(&self) -> Option<&'static str> {
        match self {
            ForkName::Phase0 => None,
            ForkName::Altair => Some("ALTAIR"),
            ForkName::Bellatrix => Some("BELLATRIX"),
            ForkName::Capella => Some("CAPELLA"),
            ForkName::Deneb => Some("DENEB"),
            ForkName::Electra => Some("ELECTRA"),
            ForkName::Fulu => Some("FULU"),
            ForkName::Gloas => Some("GLOAS"),
        }
    }

    /// True from Electra on (committee bits, `SingleAttestation`, v2 pool routes).
    pub fn electra_enabled(&self) -> bool {
        *self >= ForkName::Electra
    }

    /// True from Altair on (sync committees).
    pub fn altair_enabled(&self) -> bool {
        *self >= ForkName::Altair
    }

    /// True from Bellatrix on (execution payloads, blinded blocks).
    pub fn bellatrix_enabled(&self) -> bool {
        *self >= ForkName::Bellatrix
    }

    /// True from Gloas on (ePBS: bids, envelopes, the PTC, proposer preferences).
    pub fn gloas_enabled(&self) -> bool {
        *self >= ForkName::Gloas
    }

    /// True from Deneb on (EIP-7044: exits signed with the Capella version).
    pub fn deneb_enabled(&self) -> bool {
        *self >= ForkName::Deneb
    }
}

impl fmt::Display for ForkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown fork name.
#[derive(Debug, thiserror::Error)]
#[error("unknown fork name {0:?} (expected one of phase0, altair, bellatrix, capella, deneb, electra, fulu, gloas)")]
pub struct UnknownForkName(pub String);

impl FromStr for ForkName {
    type Err = UnknownForkName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "phase0" | "base" => Ok(ForkName::Phase0),
            "altair" => Ok(ForkName::Altair),
            "bellatrix" | "merge" => Ok(ForkName::Bellatrix),
            "capella" => Ok(ForkName::Capella),
            "deneb" | "eip4844" => Ok(ForkName::Deneb),
            "electra" => Ok(ForkName::Electra),
            "fulu" => Ok(ForkName::Fulu),
            "gloas" => Ok(ForkName::Gloas),
            other => Err(UnknownForkName(other.to_string())),
        }
    }
}
