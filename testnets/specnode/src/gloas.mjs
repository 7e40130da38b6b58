// Gloas (ePBS, EIP-7732) for specnode: the bid a block commits to and its
// execution payload envelope (checked as pyspec's
// verify_execution_payload_envelope does), the payload timeliness
// committee's votes (checked as gossip would, pooled, packed into the next
// block), proposer preferences (checked as validate_proposer_preferences_gossip
// does), and an external builder stand-in that bids with a fee recipient a
// test chooses.
//
// Fork choice, linear: a block builds on its parent's payload (FULL) when the
// node holds the parent's envelope, else on the parent's bid alone (EMPTY).
// An envelope is taken only for the head block; once a child is built on an
// EMPTY parent the parent's payload is out of the chain for good.
import { aggregateSignatures, PublicKey, Signature } from "@chainsafe/blst";
import { BitArray } from "@chainsafe/ssz";
import { SLOTS_PER_EPOCH, PTC_SIZE, MAX_PAYLOAD_ATTESTATIONS, BUILDER_INDEX_SELF_BUILD, DOMAIN_BUILDER_DEPOSIT } from "@lodestar/params";
import { ssz } from "@lodestar/types";
import * as ST from "@lodestar/state-transition";
import { hex } from "./el.mjs";
import { G2_INFINITY, sigOk } from "./pools.mjs";

const epochOf = (slot) => Math.floor(slot / SLOTS_PER_EPOCH);
const eq = (a, b) => Buffer.from(a).equals(Buffer.from(b));
/** What the builder stand-in bids: 0.05 ETH, in Gwei. */
const BUILDER_BID_GWEI = 50_000_000;
/** The builder's deposit: 10 ETH, in Gwei. */
const BUILDER_DEPOSIT_GWEI = 10_000_000_000;

export class Gloas {
  /** `chain`: the node's chain; `builderSk`: the builder stand-in's key (an interop key past the validators). */
  constructor(chain, builderSk) {
    this.chain = chain;
    this.builderSk = builderSk;
    this.builderPk = builderSk.toPublicKey().toBytes();
    /** `${slot}:${data root}` -> { data, sigs: Map<validator, signature bytes> } */
    this.ptcVotes = new Map();
    /** `${slot}:${validator}` -> data root hex it voted for */
    this.ptcVoted = new Map();
    /** proposal slot -> SignedProposerPreferences (the latest valid one) */
    this.preferences = new Map();
    /** every preferences message taken: { at_ms, slot, proposal_slot, validator_index, fee_recipient, target_gas_limit, replaced } */
    this.preferencesLog = [];
    /** slot -> fee recipient (Uint8Array, or null: the proposer's preferences) the builder's bid pays (test hook) */
    this.builderBids = new Map();
    /** block root hex -> the unsigned envelope of a self-built block the node produced */
    this.produced = new Map();
    /** bid block hash hex -> the builder's envelope recipe { requests } for bids the builder made */
    this.builderPayloads = new Map();
    this.accepted = { payloadAttestations: 0, preferences: 0, envelopes: 0, builderBids: 0 };
  }

  refuse(kind, reason, detail) {
    return this.chain.pools.refuse(kind, reason, detail);
  }

  // ---- production ----

  /**
   * The Gloas parts of a block at `slot` on `pre` (the head advanced):
   * whether it builds on a FULL parent, the parent's execution requests, the
   * bid (self-built paying `feeRecipient`, or the builder stand-in's when a
   * test asked for one and `builderOk`), the payload attestations of the
   * parent's slot, and what the envelope will carry.
   */
  async bodyParts(pre, slot, head, feeRecipient, builderOk) {
    const parentGloas = head.fork === "gloas";
    const parentFull = !parentGloas || head.envelope !== null;
    const parentBid = pre.latestExecutionPayloadBid.toValue();
    const parentBlockHash = parentFull ? parentBid.blockHash : pre.latestBlockHash;
    const parentExecutionRequests = parentGloas && head.envelope ? head.envelope.message.executionRequests
      : ssz.gloas.ExecutionRequests.defaultValue();
    const requests = this.requestsFor(head);
    // Test hook: EIP-7002 withdrawal requests the execution layer "sent" in
    // this slot's payload (`/specnode/withdrawal_request/:slot`): its
    // envelope carries them, the next block processes them.
    const withdrawals = this.chain.withdrawalRequests.get(slot);
    if (withdrawals) requests.withdrawals = withdrawals;
    const builderWants = this.builderBids.has(slot) && builderOk && this.builderActive(pre);
    if (this.builderBids.has(slot) && builderOk && !builderWants) {
      this.chain.log(`slot ${slot}: the builder cannot bid (not active yet: builders ${pre.builders.length}, finalized epoch ${pre.finalizedCheckpoint.epoch}); self-built`);
    }
    const pays = builderWants ? (this.builderBids.get(slot) ?? this.preferences.get(slot)?.message.feeRecipient ?? feeRecipient) : feeRecipient;
    const payload = await this.chain.el.buildGloas(pre, slot, parentBlockHash, pays, 30_000_000);
    const blockHash = payload.blockHash;
    const bid = { parentBlockHash, parentBlockRoot: ST.getBlockRootAtSlot(pre, slot - 1), blockHash,
      prevRandao: ST.getRandaoMix(pre, epochOf(slot)), feeRecipient: pays, gasLimit: BigInt(payload.gasLimit),
      builderIndex: builderWants ? 0 : BUILDER_INDEX_SELF_BUILD, slot, value: builderWants ? BUILDER_BID_GWEI : 0,
      executionPayment: 0n, blobKzgCommitments: [], executionRequestsRoot: ssz.gloas.ExecutionRequests.hashTreeRoot(requests) };
    const signature = builderWants
      ? this.builderSk.sign(ST.getExecutionPayloadBidSigningRoot(pre.config, bid)).toBytes() : G2_INFINITY;
    if (builderWants) {
      this.builderPayloads.set(hex(blockHash), { requests });
      this.accepted.builderBids++;
    }
    return {
      bid, requests, external: builderWants,
      body: { signedExecutionPayloadBid: { message: bid, signature },
        payloadAttestations: this.packPayloadAttestations(pre, slot, head), parentExecutionRequests },
    };
  }

  /** Execution requests for the next payload: the builder stand-in's deposit until a state holds the builder. */
  requestsFor(head) {
    const r = ssz.gloas.ExecutionRequests.defaultValue();
    const holds = head.state && head.state.builders && head.state.builders.length > 0;
    const pending = head.envelope && head.envelope.message.executionRequests.builderDeposits.length > 0;
    if (holds || pending) return r;
    const withdrawalCredentials = Uint8Array.from([0xb0, ...Array(11).fill(0), ...Array(20).fill(0xbb)]);
    const msg = { pubkey: this.builderPk, withdrawalCredentials, amount: BUILDER_DEPOSIT_GWEI };
    const domain = ST.computeDomain(DOMAIN_BUILDER_DEPOSIT, this.chain.chainConfig.GENESIS_FORK_VERSION, ST.ZERO_HASH);
    const signature = this.builderSk.sign(ST.computeSigningRoot(ssz.phase0.DepositMessage, msg, domain)).toBytes();
    r.builderDeposits = [{ ...msg, signature }];
    return r;
  }

  builderActive(state) {
    return state.builders.length > 0 && state.builders.getReadonly(0).depositEpoch < state.finalizedCheckpoint.epoch;
  }

  /** The envelope of a block built on `parts`, whose post-state is `post` and root `blockRoot`. */
  envelopeFor(post, block, blockRoot, bid, requests) {
    const payload = this.chain.el.payloadGloas(bid.blockHash, post.payloadExpectedWithdrawals.toValue());
    return { payload, executionRequests: requests, builderIndex: bid.builderIndex, beaconBlockRoot: blockRoot,
      parentBeaconBlockRoot: block.parentRoot };
  }

  // ---- import ----

  /** Refuses (counted) a Gloas block whose bid or parent status the node cannot take; run before the state transition. */
  checkBlock(signed, head, kind) {
    const bid = signed.message.body.signedExecutionPayloadBid.message;
    if (bid.builderIndex === BUILDER_INDEX_SELF_BUILD && !this.chain.el.knowsGloas(bid.blockHash)) {
      this.refuse(kind, "bid for a payload the execution layer did not build", hex(bid.blockHash));
    }
    if (head.fork === "gloas") {
      const claimsFull = eq(bid.parentBlockHash, head.state.latestExecutionPayloadBid.blockHash);
      if (claimsFull && !head.envelope) this.refuse(kind, "builds on a parent payload the node has not seen");
    }
  }

  /** After a Gloas block is imported: the builder stand-in reveals its payload. */
  afterImport(entry) {
    const bid = entry.signed.message.body.signedExecutionPayloadBid.message;
    if (bid.builderIndex === BUILDER_INDEX_SELF_BUILD) return;
    const recipe = this.builderPayloads.get(hex(bid.blockHash));
    if (!recipe) return;
    const envelope = this.envelopeFor(entry.state, entry.signed.message, ssz.gloas.BeaconBlock.hashTreeRoot(entry.signed.message),
      bid, recipe.requests);
    const signature = this.builderSk.sign(ST.getExecutionPayloadEnvelopeSigningRoot(this.chain.config, envelope)).toBytes();
    this.importEnvelope({ message: envelope, signature }, "builder");
  }

  /**
   * Takes a signed envelope for the head block after the checks of pyspec's
   * verify_execution_payload_envelope against the block's post-state, and
   * the execution layer's; refuses it (counted) otherwise.
   */
  importEnvelope(signed, by) {
    const kind = "envelope";
    const env = signed.message;
    const payload = env.payload;
    const root = hex(env.beaconBlockRoot);
    const b = this.chain.blocks.get(root);
    if (!b || !b.signed) this.refuse(kind, "unknown beacon block root", root);
    if (b.fork !== "gloas") this.refuse(kind, "block is not a Gloas block", `slot ${b.slot}`);
    if (b.envelope) {
      if (eq(ssz.gloas.SignedExecutionPayloadEnvelope.hashTreeRoot(b.envelope), ssz.gloas.SignedExecutionPayloadEnvelope.hashTreeRoot(signed))) return b;
      this.refuse(kind, "a second, different envelope for the block", `slot ${b.slot}`);
    }
    if (this.chain.head.root !== root) this.refuse(kind, "block is no longer the head (its child built on it EMPTY)", `slot ${b.slot}`);
    const state = b.state;
    if (payload.slotNumber !== state.slot) this.refuse(kind, "payload slot is not the block's", `${payload.slotNumber} vs ${state.slot}`);
    const pk = env.builderIndex === BUILDER_INDEX_SELF_BUILD
      ? state.epochCtx.pubkeyCache.getOrThrow(state.latestBlockHeader.proposerIndex)
      : env.builderIndex < state.builders.length ? PublicKey.fromBytes(state.builders.getReadonly(env.builderIndex).pubkey) : null;
    if (!pk) this.refuse(kind, "unknown builder index", String(env.builderIndex));
    if (!sigOk(ST.getExecutionPayloadEnvelopeSigningRoot(state.config, env), pk, signed.signature)) {
      this.refuse(kind, "bad signature (DOMAIN_BEACON_BUILDER, the proposer's key for a self-built payload)", `slot ${b.slot}`);
    }
    const header = { ...state.latestBlockHeader.toValue(), stateRoot: state.hashTreeRoot() };
    if (!eq(env.beaconBlockRoot, ssz.phase0.BeaconBlockHeader.hashTreeRoot(header))) this.refuse(kind, "beacon block root is not the block's");
    if (!eq(env.parentBeaconBlockRoot, state.latestBlockHeader.parentRoot)) this.refuse(kind, "parent beacon block root is not the block's parent");
    const bid = state.latestExecutionPayloadBid.toValue();
    if (env.builderIndex !== bid.builderIndex) this.refuse(kind, "builder index is not the bid's");
    if (!eq(payload.prevRandao, bid.prevRandao)) this.refuse(kind, "prev_randao is not the bid's");
    if (BigInt(payload.gasLimit) !== BigInt(bid.gasLimit)) this.refuse(kind, "gas limit is not the bid's", `${payload.gasLimit} vs ${bid.gasLimit}`);
    if (!eq(payload.blockHash, bid.blockHash)) this.refuse(kind, "block hash is not the bid's");
    if (!eq(ssz.gloas.ExecutionRequests.hashTreeRoot(env.executionRequests), bid.executionRequestsRoot)) {
      this.refuse(kind, "execution requests are not the bid's");
    }
    if (!eq(payload.parentHash, state.latestBlockHash)) this.refuse(kind, "parent hash is not the state's latest block hash");
    const time = this.chain.genesisTime + Math.floor((state.slot * this.chain.slotMs) / 1000);
    if (payload.timestamp !== time) this.refuse(kind, "timestamp is not the slot's", `${payload.timestamp} vs ${time}`);
    if (!eq(ssz.gloas.Withdrawals.hashTreeRoot(payload.withdrawals), state.payloadExpectedWithdrawals.hashTreeRoot())) {
      this.refuse(kind, "withdrawals are not the state's expected withdrawals");
    }
    const elError = this.chain.el.checkGloas(payload);
    if (elError) this.refuse(kind, elError);
    b.envelope = signed;
    b.envelopeBy = by;
    this.produced.delete(root);
    if (by !== "node") this.accepted.envelopes++;
    this.chain.exportEnvelope(b);
    this.chain.emitHeadV2(b);
    return b;
  }

  // ---- payload timeliness committee ----

  /** The PTC of `slot`, by position (a validator may hold several). */
  ptc(slot) {
    return Array.from(this.chain.stateForEpoch(epochOf(slot)).epochCtx.getPayloadTimelinessCommittee(slot));
  }

  /** PayloadAttestationData for `slot`: the block of the slot, whether its payload was seen. */
  payloadAttestationData(slot) {
    const b = this.chain.blockAtSlot(slot);
    if (!b) return null;
    const seen = b.envelope !== null;
    return { beaconBlockRoot: Buffer.from(b.root.slice(2), "hex"), slot, payloadPresent: seen, blobDataAvailable: seen };
  }

  /** `POST /eth/v1/beacon/pool/payload_attestations`: one PayloadAttestationMessage, checked as gossip would. */
  submitPayloadAttestation(msg, own = false) {
    const kind = "payload attestation";
    const { validatorIndex: v, data } = msg;
    const now = Date.now();
    const start = this.chain.slotStartMs(data.slot);
    if (now + 500 < start || now >= start + this.chain.slotMs + 500) {
      this.refuse(kind, "not for the current slot", `slot ${data.slot}, clock ${this.chain.clockSlot()}`);
    }
    if (this.chain.config.getForkName(data.slot) !== "gloas") this.refuse(kind, "slot before Gloas", `slot ${data.slot}`);
    const b = this.chain.blocks.get(hex(data.beaconBlockRoot));
    if (!b) this.refuse(kind, "unknown beacon block root", hex(data.beaconBlockRoot));
    if (b.slot !== data.slot) this.refuse(kind, "block is not of the slot", `block slot ${b.slot}, data slot ${data.slot}`);
    const ptc = this.ptc(data.slot);
    if (!ptc.includes(v)) this.refuse(kind, "validator not in the slot's PTC", `validator ${v}, slot ${data.slot}`);
    const root = hex(ssz.gloas.PayloadAttestationData.hashTreeRoot(data));
    const before = this.ptcVoted.get(`${data.slot}:${v}`);
    if (before !== undefined && before !== root) this.refuse(kind, "a second, different vote for the slot", `validator ${v}, slot ${data.slot}`);
    if (!own) {
      const state = this.chain.stateForEpoch(epochOf(data.slot));
      if (!sigOk(ST.getPayloadAttestationDataSigningRoot(state.config, data), state.epochCtx.pubkeyCache.getOrThrow(v), msg.signature)) {
        this.refuse(kind, "bad signature (DOMAIN_PTC_ATTESTER)", `validator ${v}`);
      }
    }
    if (before === root) return;
    this.ptcVoted.set(`${data.slot}:${v}`, root);
    const key = `${data.slot}:${root}`;
    let entry = this.ptcVotes.get(key);
    if (!entry) this.ptcVotes.set(key, (entry = { data, sigs: new Map() }));
    entry.sigs.set(v, msg.signature);
    this.chain.pools.sawLive(epochOf(data.slot), v);
    if (!own) this.accepted.payloadAttestations++;
  }

  /** The node's own PTC votes for `slot` (at three quarters of the slot). */
  voteOwn(slot) {
    if (this.chain.config.getForkName(slot) !== "gloas") return;
    const data = this.payloadAttestationData(slot);
    if (!data) return;
    const root = ST.getPayloadAttestationDataSigningRoot(this.chain.config, data);
    for (const v of new Set(this.ptc(slot))) {
      if (!this.chain.own.has(v)) continue;
      this.submitPayloadAttestation({ validatorIndex: v, data, signature: this.chain.sks[v].sign(root).toBytes() }, true);
    }
  }

  /** Payload attestations for a block at `slot` whose parent is `head`: the votes of slot - 1 on `head`, aggregated per data. */
  packPayloadAttestations(pre, slot, head) {
    if (head.fork !== "gloas" || head.slot !== slot - 1) return [];
    const ptc = Array.from(pre.epochCtx.getPayloadTimelinessCommittee(slot - 1));
    const out = [];
    for (const [key, entry] of this.ptcVotes) {
      if (!key.startsWith(`${slot - 1}:`) || hex(entry.data.beaconBlockRoot) !== head.root) continue;
      const bits = BitArray.fromBitLen(PTC_SIZE);
      const sigs = [];
      ptc.forEach((v, i) => {
        const s = entry.sigs.get(v);
        if (s) {
          bits.set(i, true);
          sigs.push(Signature.fromBytes(s)); // a validator in two positions signs twice
        }
      });
      if (sigs.length) out.push({ n: sigs.length, att: { aggregationBits: bits, data: entry.data, signature: aggregateSignatures(sigs).toBytes() } });
    }
    out.sort((a, b) => b.n - a.n);
    return out.slice(0, MAX_PAYLOAD_ATTESTATIONS).map((x) => x.att);
  }

  /** Drops votes, unpublished envelopes and bids older than two epochs. */
  prune(slot) {
    const oldest = slot - 2 * SLOTS_PER_EPOCH;
    for (const [root, e] of this.produced) if (e.payload.slotNumber < oldest) this.produced.delete(root);
    for (const s of this.builderBids.keys()) if (s < oldest) this.builderBids.delete(s);
    for (const key of this.ptcVotes.keys()) if (Number(key.split(":")[0]) < oldest) this.ptcVotes.delete(key);
    for (const key of this.ptcVoted.keys()) if (Number(key.split(":")[0]) < oldest) this.ptcVoted.delete(key);
  }

  /** Slot by slot, for the Gloas blocks whose next slot has a block: the PTC, and which positions that block's payload attestations carry. */
  ptcReport(from, to) {
    const out = [];
    for (let slot = from; slot <= to; slot++) {
      const b = this.chain.blockAtSlot(slot);
      const child = this.chain.blockAtSlot(slot + 1);
      if (!b || !child || b.fork !== "gloas" || !child.state) continue;
      const ptc = Array.from(child.state.epochCtx.getPayloadTimelinessCommittee(slot));
      const carried = new Array(PTC_SIZE).fill(false);
      for (const pa of child.signed.message.body.payloadAttestations) {
        if (hex(pa.data.beaconBlockRoot) !== b.root) continue;
        pa.aggregationBits.getTrueBitIndexes().forEach((i) => { carried[i] = true; });
      }
      out.push({ slot, ptc, included: carried, payload_present: b.envelope !== null });
    }
    return out;
  }

  // ---- proposer preferences ----

  /** `POST /eth/v1/validator/proposer_preferences`: one SignedProposerPreferences, checked as gossip would. */
  submitPreferences(signed) {
    const kind = "proposer preferences";
    const p = signed.message;
    const slot = p.proposalSlot;
    const epoch = epochOf(slot);
    const gloasEpoch = this.chain.chainConfig.GLOAS_FORK_EPOCH;
    if (epoch < gloasEpoch) this.refuse(kind, "proposal epoch before Gloas", `slot ${slot}`);
    if (Date.now() >= this.chain.slotStartMs(slot)) this.refuse(kind, "proposal slot has started", `slot ${slot}`);
    const lookaheadStart = Math.max(0, epoch - 1) * SLOTS_PER_EPOCH;
    if (this.chain.clockSlot() < lookaheadStart) this.refuse(kind, "proposer of the slot not known yet", `slot ${slot}`);
    const dependent = this.chain.dependentRoot(lookaheadStart);
    if (hex(p.dependentRoot) !== dependent) {
      this.refuse(kind, "dependent root is not the proposal's shuffling dependent root",
        `${hex(p.dependentRoot)} vs ${dependent} (block at slot ${lookaheadStart - 1} or before)`);
    }
    const state = this.chain.stateForEpoch(epoch);
    const proposer = state.epochCtx.getBeaconProposer(slot);
    if (proposer !== p.validatorIndex) this.refuse(kind, "validator is not the slot's proposer", `validator ${p.validatorIndex}, proposer ${proposer}, slot ${slot}`);
    const pk = state.epochCtx.pubkeyCache.getOrThrow(p.validatorIndex);
    if (!sigOk(ST.getProposerPreferencesSigningRoot(state.config, p), pk, signed.signature)) {
      this.refuse(kind, "bad signature (DOMAIN_PROPOSER_PREFERENCES)", `validator ${p.validatorIndex}`);
    }
    const replaced = this.preferences.has(slot);
    this.preferences.set(slot, signed);
    this.preferencesLog.push({ at_ms: Date.now(), slot: this.chain.clockSlot(), proposal_slot: slot, validator_index: p.validatorIndex,
      fee_recipient: hex(p.feeRecipient), target_gas_limit: Number(p.targetGasLimit), replaced });
    this.accepted.preferences++;
  }
}

