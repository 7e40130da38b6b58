//! The EIP-3076 interchange format, version 5 (as written by
//! `lighthouse account validator slashing-protection export` and other clients).

use crate::types::{Hash256, PublicKeyBytes};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Errors reading an interchange.
#[derive(Debug, thiserror::Error)]
pub enum InterchangeError {
    /// Not readable.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid interchange JSON (bad hex and bad numbers land here too, with the position).
    #[error("{file}: malformed interchange: {source}")]
    Json {
        /// The file.
        file: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// Not format version 5.
    #[error("{file}: unsupported interchange_format_version {version:?} (only \"5\" is supported)")]
    Version {
        /// The file.
        file: String,
        /// The version found.
        version: String,
    },
    /// An attestation with source after target.
    #[error(
        "{file}: validator {pubkey}: attestation with source epoch {source_epoch} after target epoch {target_epoch}"
    )]
    SourceAfterTarget {
        /// The file.
        file: String,
        /// The validator.
        pubkey: String,
        /// Source.
        source_epoch: u64,
        /// Target.
        target_epoch: u64,
    },
}

/// `metadata` of an interchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeMetadata {
    /// Always `"5"`.
    pub interchange_format_version: String,
    /// The network.
    pub genesis_validators_root: Hash256,
}

/// A signed block in an interchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeBlock {
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
    /// Signing root, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_root: Option<Hash256>,
}

/// A signed attestation in an interchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeAttestation {
    /// Source epoch.
    #[serde(with = "serde_utils::quoted_u64")]
    pub source_epoch: u64,
    /// Target epoch.
    #[serde(with = "serde_utils::quoted_u64")]
    pub target_epoch: u64,
    /// Signing root, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_root: Option<Hash256>,
}

/// One validator's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeData {
    /// The key.
    pub pubkey: PublicKeyBytes,
    /// Its blocks.
    #[serde(default)]
    pub signed_blocks: Vec<InterchangeBlock>,
    /// Its attestations.
    #[serde(default)]
    pub signed_attestations: Vec<InterchangeAttestation>,
}

/// An interchange file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interchange {
    /// Metadata.
    pub metadata: InterchangeMetadata,
    /// Per-validator histories (a key may appear more than once; imports merge them).
    pub data: Vec<InterchangeData>,
}

impl Interchange {
    /// Parses and validates interchange JSON; `file` names it in errors.
    /// Attestations with source after target are kept: EIP-3076 tests expect
    /// them to be imported (they only raise the watermarks).
    pub fn from_json_str(file: &str, text: &str) -> Result<Self, InterchangeError> {
        let i: Interchange =
            serde_json::from_str(text).map_err(|source| InterchangeError::Json { file: file.to_string(), source })?;
        if i.metadata.interchange_format_version != "5" {
            return Err(InterchangeError::Version {
                file: file.to_string(),
                version: i.metadata.interchange_format_version.clone(),
            });
        }
        Ok(i)
    }

    /// Reads a file.
    pub fn from_file(path: &Path) -> Result<Self, InterchangeError> {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| InterchangeError::Io { file: file.clone(), source })?;
        Self::from_json_str(&file, &text)
    }

    /// Rejects attestations with source after target (for strict callers).
    pub fn check_source_not_after_target(&self, file: &str) -> Result<(), InterchangeError> {
        for d in &self.data {
            for a in &d.signed_attestations {
                if a.source_epoch > a.target_epoch {
                    return Err(InterchangeError::SourceAfterTarget {
                        file: file.to_string(),
                        pubkey: format!("0x{}", hex::encode(d.pubkey)),
                        source_epoch: a.source_epoch,
                        target_epoch: a.target_epoch,
                    });
                }
            }
        }
        Ok(())
    }

    /// Pretty JSON.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
