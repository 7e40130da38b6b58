// The execution layer's stand-in: it builds each block's payload (chained by
// block hash, timestamp from the slot, fee recipient as the proposer asked,
// withdrawals as the state expects) and, like an engine's `newPayload`,
// accepts only payloads it built on the parent it was given.
import { createHash } from "node:crypto";
import { ForkSeq, SLOTS_PER_EPOCH } from "@lodestar/params";
import { ssz } from "@lodestar/types";
import * as ST from "@lodestar/state-transition";

const hex = (b) => "0x" + Buffer.from(b).toString("hex");

export class ExecutionStandIn {
  constructor(genesisTime, slotSeconds) {
    this.genesisTime = genesisTime;
    this.slotSeconds = slotSeconds;
    /** blockHash hex -> the payload built under it. */
    this.built = new Map();
  }

  /** The payload for a block at `slot` on the pre-state `pre`, paying `feeRecipient`. */
  build(pre, slot, fork, feeRecipient) {
    const parent = pre.latestExecutionPayloadHeader;
    const epoch = Math.floor(slot / SLOTS_PER_EPOCH);
    const { expectedWithdrawals } = ST.getExpectedWithdrawals(ForkSeq[fork], pre);
    const slotLe = Buffer.alloc(8);
    slotLe.writeBigUInt64LE(BigInt(slot));
    const blockHash = createHash("sha256")
      .update(Buffer.from("specnode-el"))
      .update(slotLe)
      .update(parent.blockHash)
      .update(feeRecipient)
      .digest();
    const payload = {
      ...ssz[fork].ExecutionPayload.defaultValue(),
      parentHash: parent.blockHash,
      feeRecipient,
      prevRandao: ST.getRandaoMix(pre, epoch),
      blockNumber: parent.blockNumber + 1,
      gasLimit: parent.gasLimit,
      baseFeePerGas: parent.baseFeePerGas,
      timestamp: this.genesisTime + slot * this.slotSeconds,
      withdrawals: expectedWithdrawals,
      blockHash,
    };
    this.built.set(hex(blockHash), payload);
    return payload;
  }

  /** Why `payload` is not valid on `parentBlockHash`, or null if it is. */
  check(payload, parentBlockHash, fork) {
    const known = this.built.get(hex(payload.blockHash));
    if (!known) return "execution payload unknown to the execution layer";
    if (hex(payload.parentHash) !== hex(parentBlockHash)) return "execution payload not built on the parent's payload";
    const type = ssz[fork].ExecutionPayload;
    if (hex(type.hashTreeRoot(payload)) !== hex(type.hashTreeRoot(known))) {
      return "execution payload differs from the one built under its block hash";
    }
    return null;
  }
}

export { hex };
