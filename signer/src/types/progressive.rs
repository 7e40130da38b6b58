//! Progressive SSZ (Gloas, EIP-7688): the hash tree roots of EIP-7916
//! progressive lists and bitlists and of EIP-7495 progressive containers.
//!
//! Serialization is unchanged: a progressive list encodes as a list, a
//! progressive bitlist as a bitlist and a progressive container as a
//! container. Only the roots differ, so each type here wraps the list type
//! poolvc already decodes with and changes only its [`TreeHash`]. SSZ no
//! longer bounds a progressive list; poolvc still decodes each within the
//! consensus limit the spec checks in `process_block` (as Lodestar's types
//! do), so the `N` of a wrapper is that limit, not part of the root.
//!
//! `sigp`'s `tree_hash` 0.12 (and 1.0.0-beta.0) has no progressive
//! merkleization; the roots here are checked against pyspec 1.7.0b2's in
//! the Gloas `ssz_static` vectors.

use super::primitives::Hash256;
use serde::{Deserialize, Serialize};
use ssz::{Decode, DecodeError, Encode};
use ssz_types::typenum::Unsigned;
use ssz_types::{BitList, VariableList};
use tree_hash::{PackedEncoding, TreeHash, TreeHashType, BYTES_PER_CHUNK};

fn hash_pair(left: &[u8], right: &[u8]) -> Hash256 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(left);
    h.update(right);
    Hash256::from_slice(&h.finalize())
}

/// `merkleize_progressive(chunks)` over `bytes` packed into 32-byte chunks
/// (the last zero-padded): level `k` (from 0) is a binary tree of `4^k`
/// chunks, hashed as `hash(level_root, rest)`, and the spine ends in a zero
/// chunk. No bytes give the zero chunk.
pub fn merkleize_progressive(bytes: &[u8]) -> Hash256 {
    let mut levels = Vec::new();
    let (mut at, mut width) = (0usize, 1usize);
    while at < bytes.len() {
        let end = bytes.len().min(at + width * BYTES_PER_CHUNK);
        levels.push(tree_hash::merkle_root(&bytes[at..end], width));
        at = end;
        width *= 4;
    }
    levels.iter().rev().fold(Hash256::ZERO, |rest, level| hash_pair(level.as_slice(), rest.as_slice()))
}

/// The active-fields word of a progressive container whose `fields`
/// positions are all used: bit `i` set for position `i`, lowest bit first.
pub fn active_fields_word(fields: usize) -> [u8; 32] {
    let mut word = [0u8; 32];
    for i in 0..fields.min(256) {
        word[i / 8] |= 1 << (i % 8);
    }
    word
}

/// The root of a progressive container whose fields (all active) have
/// these roots, in order.
pub fn progressive_container_root(field_roots: &[Hash256]) -> Hash256 {
    let bytes: Vec<u8> = field_roots.iter().flat_map(|r| r.0).collect();
    let root = merkleize_progressive(&bytes);
    hash_pair(root.as_slice(), &active_fields_word(field_roots.len()))
}

/// An EIP-7916 progressive list, decoded within the consensus limit `N`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent, bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>, N: Unsigned"))]
pub struct ProgressiveList<T, N>(pub VariableList<T, N>);

impl<T, N: Unsigned> Default for ProgressiveList<T, N> {
    fn default() -> Self {
        Self(VariableList::empty())
    }
}

impl<T, N: Unsigned> std::ops::Deref for ProgressiveList<T, N> {
    type Target = VariableList<T, N>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T, N: Unsigned> From<VariableList<T, N>> for ProgressiveList<T, N> {
    fn from(list: VariableList<T, N>) -> Self {
        Self(list)
    }
}

/// A wrapper whose SSZ is its inner list's: serialization is unchanged
/// by EIP-7688, only the root differs.
macro_rules! ssz_as_inner {
    (encode [$($e:tt)*] decode [$($d:tt)*] $ty:ty, $inner:ty) => {
        impl<$($e)*> Encode for $ty {
            fn is_ssz_fixed_len() -> bool {
                false
            }
            fn ssz_append(&self, buf: &mut Vec<u8>) {
                self.0.ssz_append(buf)
            }
            fn ssz_bytes_len(&self) -> usize {
                self.0.ssz_bytes_len()
            }
        }

        impl<$($d)*> Decode for $ty {
            fn is_ssz_fixed_len() -> bool {
                false
            }
            fn from_ssz_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
                <$inner>::from_ssz_bytes(bytes).map(Self)
            }
        }
    };
}

ssz_as_inner!(encode [T: Encode, N: Unsigned] decode [T: Decode + 'static, N: Unsigned]
    ProgressiveList<T, N>, VariableList<T, N>);

impl<T: TreeHash, N: Unsigned> TreeHash for ProgressiveList<T, N> {
    fn tree_hash_type() -> TreeHashType {
        TreeHashType::List
    }
    fn tree_hash_packed_encoding(&self) -> PackedEncoding {
        unreachable!("a list is never packed")
    }
    fn tree_hash_packing_factor() -> usize {
        unreachable!("a list is never packed")
    }
    fn tree_hash_root(&self) -> Hash256 {
        let bytes: Vec<u8> = match T::tree_hash_type() {
            TreeHashType::Basic => self.0.iter().flat_map(|e| e.tree_hash_packed_encoding()).collect(),
            _ => self.0.iter().flat_map(|e| e.tree_hash_root().0).collect(),
        };
        tree_hash::mix_in_length(&merkleize_progressive(&bytes), self.0.len())
    }
}

/// An EIP-7916 progressive bitlist, decoded within the consensus limit `N`.
/// Its root packs the bits without the length bit and mixes in the bit count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct ProgressiveBitList<N: Unsigned + Clone>(pub BitList<N>);

impl<N: Unsigned + Clone> std::ops::Deref for ProgressiveBitList<N> {
    type Target = BitList<N>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

ssz_as_inner!(encode [N: Unsigned + Clone] decode [N: Unsigned + Clone] ProgressiveBitList<N>, BitList<N>);

impl<N: Unsigned + Clone> TreeHash for ProgressiveBitList<N> {
    fn tree_hash_type() -> TreeHashType {
        TreeHashType::List
    }
    fn tree_hash_packed_encoding(&self) -> PackedEncoding {
        unreachable!("a bitlist is never packed")
    }
    fn tree_hash_packing_factor() -> usize {
        unreachable!("a bitlist is never packed")
    }
    fn tree_hash_root(&self) -> Hash256 {
        let len = self.0.len();
        // A bitlist of no bits still holds one (zero) byte: it packs nothing.
        let bytes = if len == 0 { &[][..] } else { self.0.as_slice() };
        tree_hash::mix_in_length(&merkleize_progressive(bytes), len)
    }
}

/// Defines a progressive container whose positions all hold a field: the
/// struct (SSZ-encoded as a container) and its progressive root, from one
/// field list so the two cannot disagree on order.
macro_rules! progressive_container {
    (
        $(#[$m:meta])*
        pub struct $name:ident $(<$g:ident : $gb:ident>)? {
            $($(#[$fm:meta])* pub $f:ident : $t:ty,)+
        }
    ) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, ssz_derive::Encode, ssz_derive::Decode)]
        $(#[$m])*
        pub struct $name $(<$g: $gb>)? {
            $($(#[$fm])* pub $f: $t,)+
        }

        impl $(<$g: $gb>)? tree_hash::TreeHash for $name $(<$g>)? {
            fn tree_hash_type() -> tree_hash::TreeHashType {
                tree_hash::TreeHashType::Container
            }
            fn tree_hash_packed_encoding(&self) -> tree_hash::PackedEncoding {
                unreachable!("a container is never packed")
            }
            fn tree_hash_packing_factor() -> usize {
                unreachable!("a container is never packed")
            }
            fn tree_hash_root(&self) -> $crate::types::primitives::Hash256 {
                $crate::types::progressive::progressive_container_root(&[
                    $(tree_hash::TreeHash::tree_hash_root(&self.$f),)+
                ])
            }
        }
    };
}
pub(crate) use progressive_container;

/// JSON for a progressive byte list: one `0x` hex string.
pub mod serde_hex {
    use super::ProgressiveList;
    use serde::{Deserializer, Serializer};
    use ssz_types::typenum::Unsigned;

    /// Serializes as `0x…`.
    pub fn serialize<S: Serializer, N: Unsigned>(v: &ProgressiveList<u8, N>, s: S) -> Result<S::Ok, S::Error> {
        ssz_types::serde_utils::hex_var_list::serialize(&v.0, s)
    }

    /// Parses `0x…` within the list's limit.
    pub fn deserialize<'de, D: Deserializer<'de>, N: Unsigned>(d: D) -> Result<ProgressiveList<u8, N>, D::Error> {
        ssz_types::serde_utils::hex_var_list::deserialize(d).map(ProgressiveList)
    }
}

/// JSON for a progressive list of quoted integers (`["1", "2"]`).
pub mod serde_quoted_u64s {
    use super::ProgressiveList;
    use serde::{Deserializer, Serializer};
    use ssz_types::typenum::Unsigned;

    /// Serializes as decimal strings.
    pub fn serialize<S: Serializer, N: Unsigned>(v: &ProgressiveList<u64, N>, s: S) -> Result<S::Ok, S::Error> {
        ssz_types::serde_utils::quoted_u64_var_list::serialize(&v.0, s)
    }

    /// Parses decimal strings within the list's limit.
    pub fn deserialize<'de, D: Deserializer<'de>, N: Unsigned>(d: D) -> Result<ProgressiveList<u64, N>, D::Error> {
        ssz_types::serde_utils::quoted_u64_var_list::deserialize(d).map(ProgressiveList)
    }
}

/// JSON for a progressive list of progressive byte lists (transactions):
/// an array of `0x` hex strings.
pub mod serde_list_of_hex {
    use super::ProgressiveList;
    use serde::de::Error as _;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};
    use ssz_types::typenum::Unsigned;
    use ssz_types::VariableList;

    /// Serializes as an array of `0x…`.
    pub fn serialize<S: Serializer, M: Unsigned, N: Unsigned>(
        v: &ProgressiveList<ProgressiveList<u8, M>, N>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for item in v.iter() {
            seq.serialize_element(&format!("0x{}", hex::encode(&item.0[..])))?;
        }
        seq.end()
    }

    /// Parses an array of `0x…`, each and the array within their limits.
    pub fn deserialize<'de, D: Deserializer<'de>, M: Unsigned, N: Unsigned>(
        d: D,
    ) -> Result<ProgressiveList<ProgressiveList<u8, M>, N>, D::Error> {
        let strings = Vec::<String>::deserialize(d)?;
        let mut items = Vec::with_capacity(strings.len());
        for (i, s) in strings.iter().enumerate() {
            let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s))
                .map_err(|e| D::Error::custom(format!("item {i}: not hex: {e}")))?;
            let list = VariableList::new(bytes).map_err(|e| D::Error::custom(format!("item {i}: {e:?}")))?;
            items.push(ProgressiveList(list));
        }
        VariableList::new(items).map(ProgressiveList).map_err(|e| D::Error::custom(format!("{e:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssz_types::typenum::{U16, U64};

    fn h(a: &[u8], b: &[u8]) -> Hash256 {
        hash_pair(a, b)
    }

    #[test]
    fn spine_shape() {
        let zero = [0u8; 32];
        assert_eq!(merkleize_progressive(&[]), Hash256::ZERO);
        let c1 = [1u8; 32];
        // One chunk: hash(chunk, zero).
        assert_eq!(merkleize_progressive(&c1), h(&c1, &zero));
        // Two chunks: the second opens a level of four.
        let two: Vec<u8> = [c1, [2u8; 32]].concat();
        let level1 = tree_hash::merkle_root(&[2u8; 32], 4);
        assert_eq!(merkleize_progressive(&two), h(&c1, h(level1.as_slice(), &zero).as_slice()));
    }

    #[test]
    fn active_word() {
        assert_eq!(active_fields_word(3)[0], 0b111);
        let w = active_fields_word(13);
        assert_eq!((w[0], w[1], w[2]), (0xff, 0x1f, 0));
    }

    #[test]
    fn empty_bitlist_packs_nothing() {
        let b: ProgressiveBitList<U16> = ProgressiveBitList(BitList::with_capacity(0).unwrap());
        assert_eq!(b.tree_hash_root(), tree_hash::mix_in_length(&Hash256::ZERO, 0));
        let l: ProgressiveList<u64, U64> = ProgressiveList::default();
        assert_eq!(l.tree_hash_root(), b.tree_hash_root());
    }
}
