//! Electra/Fulu blocks as the simulated node produces them: Beacon-API JSON
//! with an empty body except the RANDAO reveal, graffiti and the payload's
//! fee recipient, sized for the preset; parsed back through the ssz types so
//! the node knows the root it expects the validator to sign.

use poolvc_signer::types::{Address, Hash256, SignatureBytes};
use serde_json::{json, Value};

fn zeros(n: usize) -> String {
    format!("0x{}", "00".repeat(n))
}

/// The block JSON. `sync_committee_size` sizes the sync aggregate's bits.
#[allow(clippy::too_many_arguments)]
pub fn block(
    slot: u64,
    proposer: u64,
    parent_root: Hash256,
    randao_reveal: SignatureBytes,
    graffiti: &str,
    fee_recipient: Address,
    sync_committee_size: u64,
    blinded: bool,
) -> Value {
    let h = zeros(32);
    let mut infinity = vec![0u8; 96];
    infinity[0] = 0xc0;
    let mut payload = json!({
        "parent_hash": h, "fee_recipient": fee_recipient, "state_root": h, "receipts_root": h,
        "logs_bloom": zeros(256), "prev_randao": h, "block_number": slot.to_string(),
        "gas_limit": "36000000", "gas_used": "0", "timestamp": (slot * 12).to_string(), "extra_data": "0x",
        "base_fee_per_gas": "7", "block_hash": poolvc_signer::types::Hash256::from_slice(
            &crate::simnode::chain::tag(&[b"payload", &slot.to_le_bytes()]).0),
        "blob_gas_used": "0", "excess_blob_gas": "0",
    });
    let (payload_key, extra) = if blinded {
        ("execution_payload_header", json!({"transactions_root": h, "withdrawals_root": h}))
    } else {
        ("execution_payload", json!({"transactions": [], "withdrawals": []}))
    };
    if let (Value::Object(p), Value::Object(e)) = (&mut payload, extra) {
        p.extend(e);
    }
    json!({
        "slot": slot.to_string(),
        "proposer_index": proposer.to_string(),
        "parent_root": parent_root,
        "state_root": crate::simnode::chain::tag(&[b"state", &slot.to_le_bytes()]),
        "body": {
            "randao_reveal": randao_reveal,
            "eth1_data": {"deposit_root": h, "deposit_count": "0", "block_hash": h},
            "graffiti": graffiti,
            "proposer_slashings": [],
            "attester_slashings": [],
            "attestations": [],
            "deposits": [],
            "voluntary_exits": [],
            "sync_aggregate": {
                "sync_committee_bits": zeros((sync_committee_size / 8) as usize),
                "sync_committee_signature": format!("0x{}", hex::encode(infinity)),
            },
            payload_key: payload,
            "bls_to_execution_changes": [],
            "blob_kzg_commitments": [],
            "execution_requests": {"deposits": [], "withdrawals": [], "consolidations": []},
        }
    })
}
