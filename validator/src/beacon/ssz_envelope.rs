//! The SSZ containers around blocks on the Beacon API's SSZ routes:
//! `BlockContents` (produceBlockV3, Deneb on) and `SignedBlockContents` /
//! `SignedBeaconBlock` (publish). The blocks themselves are decoded by the
//! ssz types; these only place the variable-size parts by their offsets.

/// Bytes of one KZG proof.
pub const KZG_PROOF_BYTES: usize = 48;
/// Bytes of one blob (4096 field elements of 32 bytes, both presets).
pub const BLOB_BYTES: usize = 131_072;

/// Why SSZ block contents could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Too short for an offset.
    #[error("SSZ container too short for the offset at byte {at}")]
    Short {
        /// The offset's byte.
        at: usize,
    },
    /// Offsets out of order or past the end.
    #[error("BlockContents offsets {offsets:?} do not fit {len} bytes")]
    Offsets {
        /// The three offsets.
        offsets: [usize; 3],
        /// The container's length.
        len: usize,
    },
    /// Proofs or blobs of a size that is not a whole number of them.
    #[error("BlockContents: {proofs} bytes of proofs, {blobs} bytes of blobs")]
    Sizes {
        /// Bytes of proofs.
        proofs: usize,
        /// Bytes of blobs.
        blobs: usize,
    },
}

fn offset_at(bytes: &[u8], at: usize) -> Result<usize, EnvelopeError> {
    let b: [u8; 4] = bytes.get(at..at + 4).and_then(|s| s.try_into().ok()).ok_or(EnvelopeError::Short { at })?;
    Ok(u32::from_le_bytes(b) as usize)
}

/// The three parts of `BlockContents`: block, proofs, blobs (SSZ bytes).
pub type ContentsParts<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// Splits `BlockContents {block, kzg_proofs, blobs}` into its three parts,
/// checking the offsets and the proof and blob sizes.
pub fn split_block_contents(bytes: &[u8]) -> Result<ContentsParts<'_>, EnvelopeError> {
    let (o0, o1, o2) = (offset_at(bytes, 0)?, offset_at(bytes, 4)?, offset_at(bytes, 8)?);
    if o0 != 12 || o0 > o1 || o1 > o2 || o2 > bytes.len() {
        return Err(EnvelopeError::Offsets { offsets: [o0, o1, o2], len: bytes.len() });
    }
    let (block, proofs, blobs) = (&bytes[o0..o1], &bytes[o1..o2], &bytes[o2..]);
    if proofs.len() % KZG_PROOF_BYTES != 0 || blobs.len() % BLOB_BYTES != 0 {
        return Err(EnvelopeError::Sizes { proofs: proofs.len(), blobs: blobs.len() });
    }
    Ok((block, proofs, blobs))
}

/// `SignedBeaconBlock` (or the blinded one) from the message's SSZ and a signature.
pub fn signed_block(message: &[u8], signature: &[u8; 96]) -> Vec<u8> {
    let mut out = Vec::with_capacity(100 + message.len());
    out.extend_from_slice(&100u32.to_le_bytes());
    out.extend_from_slice(signature);
    out.extend_from_slice(message);
    out
}

/// `SignedBlockContents {signed_block, kzg_proofs, blobs}`.
pub fn signed_block_contents(signed_block: &[u8], proofs: &[u8], blobs: &[u8]) -> Vec<u8> {
    let o1 = 12 + signed_block.len();
    let o2 = o1 + proofs.len();
    let mut out = Vec::with_capacity(o2 + blobs.len());
    out.extend_from_slice(&12u32.to_le_bytes());
    out.extend_from_slice(&(o1 as u32).to_le_bytes());
    out.extend_from_slice(&(o2 as u32).to_le_bytes());
    out.extend_from_slice(signed_block);
    out.extend_from_slice(proofs);
    out.extend_from_slice(blobs);
    out
}

/// The hex strings of fixed-size items (for the JSON fallback).
pub fn hex_items(bytes: &[u8], size: usize) -> Vec<String> {
    bytes.chunks(size).map(|c| format!("0x{}", hex::encode(c))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_round_trip_and_bad_offsets() {
        let block = vec![7u8; 300];
        let proofs = vec![1u8; 2 * KZG_PROOF_BYTES];
        let blobs = vec![2u8; BLOB_BYTES];
        let bytes = signed_block_contents(&block, &proofs, &blobs);
        let (b, p, l) = split_block_contents(&bytes).expect("splits");
        assert_eq!((b, p, l), (&block[..], &proofs[..], &blobs[..]));
        let mut bad = bytes.clone();
        bad[4] = 0xff;
        bad[5] = 0xff;
        assert!(split_block_contents(&bad).is_err());
        assert!(split_block_contents(&bytes[..10]).is_err());
        let signed = signed_block(&block, &[9u8; 96]);
        assert_eq!(&signed[..4], &100u32.to_le_bytes());
        assert_eq!(&signed[100..], &block[..]);
    }
}
