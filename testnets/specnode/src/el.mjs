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
    /** Gloas payloads' block hashes (hex). */
    this.gloasBuilt = new Set();
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

  /**
   * Gloas: the payload a bid commits to, for `slot` on the execution block
   * `parentBlockHash`, paying `feeRecipient`. It is kept; its withdrawals
   * are the state's after the block (`payloadGloas`).
   */
  buildGloas(pre, slot, parentBlockHash, feeRecipient, gasLimit) {
    const slotLe = Buffer.alloc(8);
    slotLe.writeBigUInt64LE(BigInt(slot));
    const blockHash = createHash("sha256").update(Buffer.from("specnode-el")).update(slotLe)
      .update(parentBlockHash).update(feeRecipient).digest();
    const parent = this.built.get(hex(parentBlockHash));
    const payload = {
      ...ssz.gloas.ExecutionPayload.defaultValue(),
      parentHash: Uint8Array.from(parentBlockHash),
      feeRecipient: Uint8Array.from(feeRecipient),
      prevRandao: ST.getRandaoMix(pre, Math.floor(slot / SLOTS_PER_EPOCH)),
      blockNumber: (parent?.blockNumber ?? 0) + 1,
      gasLimit,
      baseFeePerGas: parent?.baseFeePerGas ?? 1_000_000_000n,
      timestamp: this.genesisTime + slot * this.slotSeconds,
      blockHash: Uint8Array.from(blockHash),
      slotNumber: slot,
    };
    this.built.set(hex(blockHash), payload);
    this.gloasBuilt.add(hex(blockHash));
    return payload;
  }

  /** Gloas: whether this layer built the payload a bid commits to. */
  knowsGloas(blockHash) {
    return this.gloasBuilt.has(hex(blockHash));
  }

  /** Gloas: the payload built under `blockHash`, with `withdrawals`. */
  payloadGloas(blockHash, withdrawals) {
    const known = this.built.get(hex(blockHash));
    if (!known) throw new Error(`no payload built under ${hex(blockHash)}`);
    return { ...known, withdrawals };
  }

  /** Gloas, like `newPayload`: why an envelope's payload is not the one built under its hash (withdrawals aside: the state checks them), or null. */
  checkGloas(payload) {
    if (!this.gloasBuilt.has(hex(payload.blockHash))) return "execution payload unknown to the execution layer";
    const known = this.built.get(hex(payload.blockHash));
    const root = (p) => hex(ssz.gloas.ExecutionPayload.hashTreeRoot({ ...p, withdrawals: [] }));
    if (root(payload) !== root(known)) return "execution payload differs from the one built under its block hash";
    return null;
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

/** A JSON-RPC call to `url`; its result, or an error naming the method. */
async function call(url, method, params) {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const j = await r.json();
  if (j.error) throw new Error(`execution layer ${method}: ${j.error.message}`);
  return j.result;
}

const bytes = (h) => Uint8Array.from(Buffer.from(h.slice(2), "hex"));

/**
 * anvil as the execution layer (`--el URL`): each payload is an anvil block
 * mined for its slot (`evm_mine` at the slot's timestamp, the proposer's fee
 * recipient as coinbase), so the payload's state and receipts roots are
 * anvil's and what the pool contracts hold is what the beacon chain commits
 * to. anvil must not mine on its own (`evm_setAutomine false` is set here).
 * A payload built on an older parent (a block the validator did not
 * publish) rewinds anvil to that parent's snapshot first, and sends the
 * orphaned blocks' transactions again.
 */
export class AnvilEL {
  /** Connects to anvil; its latest block becomes the execution genesis. */
  static async connect(url, genesisTime, slotSeconds) {
    await call(url, "evm_setAutomine", [false]);
    const b = await call(url, "eth_getBlockByNumber", ["latest", false]);
    const el = new AnvilEL(url, genesisTime, slotSeconds);
    el.snapshots.set(b.hash, await call(url, "evm_snapshot", []));
    el.genesis = { blockHash: bytes(b.hash), blockNumber: Number(b.number), timestamp: Number(b.timestamp),
      gasLimit: Number(b.gasLimit), baseFeePerGas: BigInt(b.baseFeePerGas), stateRoot: bytes(b.stateRoot),
      receiptsRoot: bytes(b.receiptsRoot) };
    return el;
  }

  constructor(url, genesisTime, slotSeconds) {
    this.url = url;
    this.genesisTime = genesisTime;
    this.slotSeconds = slotSeconds;
    /** blockHash hex -> the payload built under it. */
    this.built = new Map();
    /** blockHash hex -> anvil snapshot id of the state with that block as head. */
    this.snapshots = new Map();
    /** Gloas payloads' block hashes (hex). */
    this.gloasBuilt = new Set();
    /** `${slot}:${parent}:${recipient}` -> payload (a second ask gets the same block). */
    this.bySlot = new Map();
    this.queue = Promise.resolve();
  }

  /** The payload for a block at `slot` on `pre`, paying `feeRecipient` (one at a time). */
  build(pre, slot, fork, feeRecipient) {
    const run = this.queue.then(() => this.buildNow(pre, slot, fork, feeRecipient));
    this.queue = run.catch(() => {});
    return run;
  }

  async buildNow(pre, slot, fork, feeRecipient) {
    const parent = pre.latestExecutionPayloadHeader;
    const parentHash = hex(parent.blockHash);
    const key = `${slot}:${parentHash}:${hex(feeRecipient)}`;
    if (this.bySlot.has(key)) return this.bySlot.get(key);
    const timestamp = this.genesisTime + slot * this.slotSeconds;
    const b = await this.mine(slot, parentHash, feeRecipient);
    const transactions = [];
    for (const h of b.transactions) transactions.push(bytes(await call(this.url, "eth_getRawTransactionByHash", [h])));
    const epoch = Math.floor(slot / SLOTS_PER_EPOCH);
    const { expectedWithdrawals } = ST.getExpectedWithdrawals(ForkSeq[fork], pre);
    const payload = {
      ...ssz[fork].ExecutionPayload.defaultValue(),
      parentHash: parent.blockHash,
      feeRecipient: bytes(b.miner),
      stateRoot: bytes(b.stateRoot),
      receiptsRoot: bytes(b.receiptsRoot),
      logsBloom: bytes(b.logsBloom),
      prevRandao: ST.getRandaoMix(pre, epoch),
      blockNumber: Number(b.number),
      gasLimit: Number(b.gasLimit),
      gasUsed: Number(b.gasUsed),
      timestamp,
      extraData: bytes(b.extraData),
      baseFeePerGas: BigInt(b.baseFeePerGas),
      blockHash: bytes(b.hash),
      transactions,
      // Withdrawals as the beacon state expects them (anvil does not credit them).
      withdrawals: expectedWithdrawals,
    };
    this.built.set(b.hash, payload);
    this.bySlot.set(key, payload);
    return payload;
  }

  /** Gloas: the payload a bid commits to, an anvil block mined for `slot` on `parentBlockHash` (one at a time). */
  buildGloas(pre, slot, parentBlockHash, feeRecipient) {
    const run = this.queue.then(() => this.buildGloasNow(pre, slot, parentBlockHash, feeRecipient));
    this.queue = run.catch(() => {});
    return run;
  }

  async buildGloasNow(pre, slot, parentBlockHash, feeRecipient) {
    const parentHash = hex(parentBlockHash);
    const key = `${slot}:${parentHash}:${hex(feeRecipient)}`;
    if (this.bySlot.has(key)) return this.bySlot.get(key);
    const b = await this.mine(slot, parentHash, feeRecipient);
    const transactions = [];
    for (const h of b.transactions) transactions.push(bytes(await call(this.url, "eth_getRawTransactionByHash", [h])));
    const payload = {
      ...ssz.gloas.ExecutionPayload.defaultValue(),
      parentHash: bytes(parentHash),
      feeRecipient: bytes(b.miner),
      stateRoot: bytes(b.stateRoot),
      receiptsRoot: bytes(b.receiptsRoot),
      logsBloom: bytes(b.logsBloom),
      prevRandao: ST.getRandaoMix(pre, Math.floor(slot / SLOTS_PER_EPOCH)),
      blockNumber: Number(b.number),
      gasLimit: Number(b.gasLimit),
      gasUsed: Number(b.gasUsed),
      timestamp: Number(b.timestamp),
      extraData: bytes(b.extraData),
      baseFeePerGas: BigInt(b.baseFeePerGas),
      blockHash: bytes(b.hash),
      transactions,
      slotNumber: slot,
    };
    this.built.set(b.hash, payload);
    this.gloasBuilt.add(b.hash);
    this.bySlot.set(key, payload);
    return payload;
  }

  /** Mines anvil's block for `slot` on `parentHash` paying `feeRecipient`; returns it. */
  async mine(slot, parentHash, feeRecipient) {
    const head = await call(this.url, "eth_getBlockByNumber", ["latest", false]);
    if (head.hash !== parentHash) await this.rewind(head, parentHash);
    await call(this.url, "anvil_setCoinbase", [hex(feeRecipient)]);
    await call(this.url, "evm_mine", [this.genesisTime + slot * this.slotSeconds]);
    const b = await call(this.url, "eth_getBlockByNumber", ["latest", false]);
    if (b.parentHash !== parentHash) throw new Error(`anvil mined on ${b.parentHash}, not on ${parentHash}`);
    this.snapshots.set(b.hash, await call(this.url, "evm_snapshot", []));
    return b;
  }

  knowsGloas(blockHash) {
    return ExecutionStandIn.prototype.knowsGloas.call(this, blockHash);
  }

  payloadGloas(blockHash, withdrawals) {
    return ExecutionStandIn.prototype.payloadGloas.call(this, blockHash, withdrawals);
  }

  checkGloas(payload) {
    return ExecutionStandIn.prototype.checkGloas.call(this, payload);
  }

  /** Rewinds anvil from `head` to the block `parentHash`, resending the orphaned transactions. */
  async rewind(head, parentHash) {
    const snap = this.snapshots.get(parentHash);
    if (snap === undefined) throw new Error(`execution parent ${parentHash} has no anvil snapshot`);
    const orphaned = [];
    for (let b = head; b && b.hash !== parentHash && this.snapshots.has(b.hash);
      b = await call(this.url, "eth_getBlockByHash", [b.parentHash, false])) {
      const raws = [];
      for (const h of b.transactions) raws.push(await call(this.url, "eth_getRawTransactionByHash", [h]));
      orphaned.unshift(...raws);
      this.snapshots.delete(b.hash);
    }
    await call(this.url, "evm_revert", [snap]);
    this.snapshots.set(parentHash, await call(this.url, "evm_snapshot", []));
    for (const raw of orphaned) await call(this.url, "eth_sendRawTransaction", [raw]).catch(() => {});
  }

  /** Why `payload` is not valid on `parentBlockHash`, or null if it is. */
  check(payload, parentBlockHash, fork) {
    return ExecutionStandIn.prototype.check.call(this, payload, parentBlockHash, fork);
  }
}
