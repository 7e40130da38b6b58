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
    /// A draft version 4 "complete" file, without the operator's consent.
    #[error(
        "{file}: a draft EIP-3076 version 4 (\"complete\") file, as Lodestar v1.5 and older export; \
         import it with --allow-v4 (same rules as version 5)"
    )]
    CompleteV4 {
        /// The file.
        file: String,
    },
    /// An entry whose `pubkey` is not a public key (version 5).
    #[error("{file}: {pubkey:?} is not a public key (0x and 96 hex digits)")]
    NotAPublicKey {
        /// The file.
        file: String,
        /// What it says.
        pubkey: String,
    },
    /// No `metadata` in the file.
    #[error("{file}: no metadata (interchange_format_version, genesis_validators_root)")]
    NoMetadata {
        /// The file.
        file: String,
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
    /// `"complete"` in the draft version 4 files (Lodestar up to v1.5
    /// exports them); absent in version 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interchange_format: Option<String>,
    /// `"5"` (or `"4"` in a draft "complete" file).
    pub interchange_format_version: String,
    /// The network.
    #[serde(deserialize_with = "strict::root")]
    pub genesis_validators_root: Hash256,
}

/// A signed block in an interchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeBlock {
    /// Slot.
    #[serde(serialize_with = "serde_utils::quoted_u64::serialize", deserialize_with = "strict::u64_string")]
    pub slot: u64,
    /// Signing root, if known.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "strict::optional_root")]
    pub signing_root: Option<Hash256>,
}

/// A signed attestation in an interchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeAttestation {
    /// Source epoch.
    #[serde(serialize_with = "serde_utils::quoted_u64::serialize", deserialize_with = "strict::u64_string")]
    pub source_epoch: u64,
    /// Target epoch.
    #[serde(serialize_with = "serde_utils::quoted_u64::serialize", deserialize_with = "strict::u64_string")]
    pub target_epoch: u64,
    /// Signing root, if known.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "strict::optional_root")]
    pub signing_root: Option<Hash256>,
}

/// One validator's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeData {
    /// The key.
    #[serde(deserialize_with = "strict::pubkey")]
    pub pubkey: PublicKeyBytes,
    /// Its blocks.
    #[serde(default)]
    pub signed_blocks: Vec<InterchangeBlock>,
    /// Its attestations.
    #[serde(default)]
    pub signed_attestations: Vec<InterchangeAttestation>,
}

impl InterchangeData {
    /// Rejects an attestation with source after target.
    pub fn check_source_not_after_target(&self, file: &str) -> Result<(), InterchangeError> {
        match self.signed_attestations.iter().find(|a| a.source_epoch > a.target_epoch) {
            Some(a) => Err(InterchangeError::SourceAfterTarget {
                file: file.to_string(),
                pubkey: format!("0x{}", hex::encode(self.pubkey)),
                source_epoch: a.source_epoch,
                target_epoch: a.target_epoch,
            }),
            None => Ok(()),
        }
    }
}

/// An interchange file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interchange {
    /// Metadata.
    pub metadata: InterchangeMetadata,
    /// Per-validator histories (a key may appear more than once; imports merge them).
    pub data: Vec<InterchangeData>,
}

/// Which interchange versions a reader takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accept {
    /// EIP-3076 version 5 only.
    #[default]
    V5,
    /// Version 5, and the draft version 4 "complete" format (same fields,
    /// same rules), asked for explicitly by the operator.
    V5OrCompleteV4,
}

impl InterchangeMetadata {
    /// Version 5 metadata of network `genesis_validators_root`.
    pub fn v5(genesis_validators_root: Hash256) -> Self {
        Self { interchange_format: None, interchange_format_version: "5".into(), genesis_validators_root }
    }

    /// Checks the format and version against what the reader takes.
    pub fn check_version(&self, file: &str, accept: Accept) -> Result<(), InterchangeError> {
        let v = self.interchange_format_version.as_str();
        match (v, self.interchange_format.as_deref(), accept) {
            ("5", None | Some("complete"), _) => Ok(()),
            ("4", Some("complete"), Accept::V5OrCompleteV4) => Ok(()),
            ("4", Some("complete"), Accept::V5) => Err(InterchangeError::CompleteV4 { file: file.to_string() }),
            _ => Err(InterchangeError::Version { file: file.to_string(), version: v.to_string() }),
        }
    }
}

/// The text without a leading UTF-8 byte-order mark (editors on Windows
/// write one; it is not JSON).
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

impl Interchange {
    /// Parses and validates interchange JSON (version 5); `file` names it in
    /// errors. Attestations with source after target are kept: EIP-3076
    /// tests expect them to be imported (they only raise the watermarks).
    pub fn from_json_str(file: &str, text: &str) -> Result<Self, InterchangeError> {
        Self::from_json_str_accepting(file, text, Accept::V5)
    }

    /// [`Self::from_json_str`], taking the versions `accept` allows.
    pub fn from_json_str_accepting(file: &str, text: &str, accept: Accept) -> Result<Self, InterchangeError> {
        let i: Interchange = serde_json::from_str(without_bom(text))
            .map_err(|source| InterchangeError::Json { file: file.to_string(), source })?;
        i.metadata.check_version(file, accept)?;
        Ok(i)
    }

    /// Reads a file (version 5) whole. Large files: [`read_streaming`].
    pub fn from_file(path: &Path) -> Result<Self, InterchangeError> {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| InterchangeError::Io { file: file.clone(), source })?;
        Self::from_json_str(&file, &text)
    }

    /// Rejects attestations with source after target (for strict callers).
    pub fn check_source_not_after_target(&self, file: &str) -> Result<(), InterchangeError> {
        self.data.iter().try_for_each(|d| d.check_source_not_after_target(file))
    }

    /// Pretty JSON.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// What [`read_streaming`] found besides the entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streamed {
    /// The file's metadata.
    pub metadata: InterchangeMetadata,
    /// `pubkey` values of entries skipped in a draft version 4 file: not a
    /// public key, and no history (Lodestar v1.5.1 lists its database's
    /// `GENESIS_TIME` and `GENESIS_VALIDATORS_ROOT` keys as validators). Such
    /// an entry protects nothing; one with history is refused.
    pub skipped: Vec<String>,
}

/// Streams `path` without holding it in memory: checks the metadata with
/// `accept` and hands each validator entry to `sink` as it is parsed (one
/// entry in memory at a time). The sink's first error ends the read and is
/// returned as is.
pub fn read_streaming<E: From<InterchangeError>>(
    path: &Path,
    accept: Accept,
    sink: &mut dyn FnMut(&InterchangeData) -> Result<(), E>,
) -> Result<Streamed, E> {
    use serde::de::DeserializeSeed;
    use std::io::BufRead;
    let file = path.display().to_string();
    let io = |source| InterchangeError::Io { file: file.clone(), source };
    let mut reader = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(io)?);
    if reader.fill_buf().map_err(io)?.starts_with(b"\xef\xbb\xbf") {
        reader.consume(3);
    }
    let mut failed: Option<E> = None;
    let mut skipped = Vec::new();
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = streaming::Top {
        sink: &mut |d: &InterchangeData| match sink(d) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        },
        skipped: &mut skipped,
    }
    .deserialize(&mut de)
    .and_then(|m| de.end().map(|_| m));
    if let Some(e) = failed {
        return Err(e);
    }
    let metadata = parsed
        .map_err(|source| InterchangeError::Json { file: file.clone(), source })?
        .ok_or(InterchangeError::NoMetadata { file: file.clone() })?;
    metadata.check_version(&file, accept)?;
    if metadata.interchange_format_version == "5" {
        if let Some(pubkey) = skipped.first() {
            return Err(InterchangeError::NotAPublicKey { file, pubkey: pubkey.clone() }.into());
        }
    }
    Ok(Streamed { metadata, skipped })
}

/// The visitors of [`read_streaming`].
mod streaming {
    use super::{InterchangeAttestation, InterchangeBlock, InterchangeData, InterchangeMetadata};
    use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    /// The top-level object: `metadata` kept, `data` streamed to the sink.
    pub(super) struct Top<'a> {
        /// Takes one entry; `false` stops the read.
        pub(super) sink: &'a mut dyn FnMut(&InterchangeData) -> bool,
        /// Entries without history whose `pubkey` is not a public key.
        pub(super) skipped: &'a mut Vec<String>,
    }

    /// An entry as written, its key not yet judged.
    #[derive(serde::Deserialize)]
    struct RawEntry {
        pubkey: String,
        #[serde(default)]
        signed_blocks: Vec<InterchangeBlock>,
        #[serde(default)]
        signed_attestations: Vec<InterchangeAttestation>,
    }

    impl<'de> DeserializeSeed<'de> for Top<'_> {
        type Value = Option<InterchangeMetadata>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Top<'_> {
        type Value = Option<InterchangeMetadata>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an interchange object with metadata and data")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut metadata = None;
            let mut data_seen = false;
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "metadata" if metadata.is_none() => metadata = Some(map.next_value::<InterchangeMetadata>()?),
                    "data" if !data_seen => {
                        data_seen = true;
                        map.next_value_seed(Data { sink: &mut *self.sink, skipped: &mut *self.skipped })?;
                    }
                    "metadata" | "data" => return Err(A::Error::custom(format!("duplicate field `{key}`"))),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            if !data_seen {
                return Err(A::Error::missing_field("data"));
            }
            Ok(metadata)
        }
    }

    struct Data<'a> {
        sink: &'a mut dyn FnMut(&InterchangeData) -> bool,
        skipped: &'a mut Vec<String>,
    }

    impl<'de> DeserializeSeed<'de> for Data<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Data<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of validator entries")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(raw) = seq.next_element::<RawEntry>()? {
                let pubkey = match super::strict::pubkey_str(&raw.pubkey) {
                    Ok(pk) => pk,
                    Err(_) if raw.signed_blocks.is_empty() && raw.signed_attestations.is_empty() => {
                        self.skipped.push(raw.pubkey);
                        continue;
                    }
                    Err(why) => return Err(A::Error::custom(why)),
                };
                let entry = InterchangeData {
                    pubkey,
                    signed_blocks: raw.signed_blocks,
                    signed_attestations: raw.signed_attestations,
                };
                if !(self.sink)(&entry) {
                    return Err(A::Error::custom("import stopped"));
                }
            }
            Ok(())
        }
    }
}

/// EIP-3076's strict encodings: numbers as decimal strings, byte strings as
/// `0x`-prefixed hex of the exact length (as Lighthouse reads them).
mod strict {
    use crate::types::{Hash256, PublicKeyBytes};
    use serde::de::{Deserializer, Error};
    use serde::Deserialize;

    /// A `u64` given as a decimal string.
    pub(super) fn u64_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)
            .map_err(|_| D::Error::custom("expected a decimal number in a string (EIP-3076), e.g. \"81952\""))?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(D::Error::custom(format!("{s:?} is not a decimal number")));
        }
        s.parse::<u64>().map_err(|_| D::Error::custom(format!("{s:?} is larger than 2^64 - 1")))
    }

    /// A byte string that is not `0x` and exactly `N` bytes of hex.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub(super) enum HexError {
        /// No `0x` prefix.
        #[error("{what} {text:?} lacks the 0x prefix (EIP-3076)")]
        NoPrefix {
            /// What it is.
            what: String,
            /// The text.
            text: String,
        },
        /// Not the right number of hex bytes.
        #[error("{what} {text:?} is not {len} bytes of hex")]
        NotHex {
            /// What it is.
            what: String,
            /// The text.
            text: String,
            /// The length wanted.
            len: usize,
        },
    }

    fn hex_exact_str<const N: usize>(s: &str, what: &str) -> Result<[u8; N], HexError> {
        let Some(digits) = s.strip_prefix("0x") else {
            return Err(HexError::NoPrefix { what: what.to_string(), text: s.to_string() });
        };
        let mut out = [0u8; N];
        hex::decode_to_slice(digits, &mut out).map_err(|_| HexError::NotHex {
            what: what.to_string(),
            text: s.to_string(),
            len: N,
        })?;
        Ok(out)
    }

    fn hex_exact<'de, D: Deserializer<'de>, const N: usize>(d: D, what: &str) -> Result<[u8; N], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex_exact_str::<N>(&s, what).map_err(D::Error::custom)
    }

    /// A public key from its text.
    pub(super) fn pubkey_str(s: &str) -> Result<PublicKeyBytes, HexError> {
        hex_exact_str::<48>(s, "public key").map(PublicKeyBytes::from)
    }

    /// A public key: `0x` and 96 hex digits.
    pub(super) fn pubkey<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKeyBytes, D::Error> {
        hex_exact::<D, 48>(d, "public key").map(PublicKeyBytes::from)
    }

    /// A root: `0x` and 64 hex digits.
    pub(super) fn root<'de, D: Deserializer<'de>>(d: D) -> Result<Hash256, D::Error> {
        hex_exact::<D, 32>(d, "root").map(Hash256::from)
    }

    /// An optional root (absent, or `0x` and 64 hex digits).
    pub(super) fn optional_root<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash256>, D::Error> {
        root(d).map(Some)
    }
}
