// The chain: blocks by root, the canonical line, the head state, block
// production and import (every check on), the node's own validators, the
// clock, events and the SSZ export.
//
// Invariants: every block in `blocks` passed `stateTransition` with
// signatures, proposer and state root checked; `line` lists the canonical
// blocks in slot order, genesis first, each the parent of the next; the head
// is the line's last block.
import fs from "node:fs";
import path from "node:path";
import { Signature, verify } from "@chainsafe/blst";
import {
  SLOTS_PER_EPOCH, SYNC_COMMITTEE_SIZE, EPOCHS_PER_SYNC_COMMITTEE_PERIOD, DOMAIN_BEACON_PROPOSER, DOMAIN_RANDAO,
  DOMAIN_BEACON_ATTESTER, DOMAIN_SYNC_COMMITTEE,
} from "@lodestar/params";
import { ssz } from "@lodestar/types";
import * as ST from "@lodestar/state-transition";
import { ExecutionStandIn, hex } from "./el.mjs";
import { Pools, Refused } from "./pools.mjs";
import { Gloas } from "./gloas.mjs";
import { writeAtomic } from "./genesis.mjs";

const epochOf = (slot) => Math.floor(slot / SLOTS_PER_EPOCH);
const periodOf = (epoch) => Math.floor(epoch / EPOCHS_PER_SYNC_COMMITTEE_PERIOD);
const CHECKS_ON = { verifyStateRoot: true, verifyProposer: true, verifySignatures: true };
const CHECKS_OFF = { verifyStateRoot: false, verifyProposer: false, verifySignatures: false };
// States kept for the newest blocks (older ones are dropped); a test that
// reads old epochs' committees and duties keeps more (SPECNODE_KEEP_STATES).
const KEEP_STATES = Number(process.env.SPECNODE_KEEP_STATES ?? 64);

export class Chain {
  constructor({ chainConfig, genesis, sks, builderSk, own, slotMs, datadir, log, el }) {
    this.config = genesis.config;
    this.chainConfig = chainConfig;
    this.sks = sks;
    this.own = new Set(own);
    this.slotMs = slotMs;
    this.datadir = datadir;
    this.log = log;
    this.genesisTime = genesis.genesisTime;
    this.el = el ?? new ExecutionStandIn(this.genesisTime, slotMs / 1000);
    this.pools = new Pools(this);
    this.gloas = new Gloas(this, builderSk);
    this.prepared = new Map(); // validator -> fee recipient (Uint8Array)
    this.registrations = new Map(); // pubkey hex -> SignedValidatorRegistrationV1
    this.registrationLog = []; // every registration received: { at_ms, slot, validator_index, fee_recipient, timestamp }
    this.listeners = new Set();
    this.timings = []; // { slot, what, ms }
    this.missed = new Set(); // slots tests asked to leave empty
    this.wrongFee = new Map(); // slot -> the recipient a test asked produced payloads to pay instead
    this.withdrawalRequests = new Map(); // slot -> EIP-7002 requests a test asked the slot's block to carry
    /** epoch -> participation flags of every validator, as the latest state holding that epoch has them */
    this.participation = new Map();
    /** slot -> { proposer, syncCommittee } expected at the slot's start (for checks after the run) */
    this.expected = new Map();
    const header = { ...genesis.latestBlockHeader.toValue(), stateRoot: genesis.hashTreeRoot() };
    const root = hex(ssz.phase0.BeaconBlockHeader.hashTreeRoot(header));
    this.genesisRoot = root;
    this.blocks = new Map([[root, { root, slot: 0, parent: null, signed: null, fork: "electra", state: genesis,
      stateRoot: hex(header.stateRoot), by: "genesis", envelope: null }]]);
    this.line = [root];
    this.finalizedEpoch = 0;
    this.stateCache = new Map();
    fs.mkdirSync(path.join(datadir, "blocks"), { recursive: true });
    this.exported = [];
    this.exportChainJson();
  }

  // ---- clock ----
  clockSlot() {
    const ms = Date.now() - this.genesisTime * 1000;
    return ms < 0 ? 0 : Math.floor(ms / this.slotMs);
  }

  slotStartMs(slot) {
    return this.genesisTime * 1000 + slot * this.slotMs;
  }

  // ---- lookups ----
  get head() {
    return this.blocks.get(this.line[this.line.length - 1]);
  }

  knows(rootHex) {
    return this.blocks.has(rootHex);
  }

  /** The root of the last canonical block at or before `slot` (on the line through `fromRoot`, if given). */
  blockRootAtSlot(slot, fromRoot) {
    let b = fromRoot ? this.blocks.get(fromRoot) : this.head;
    while (b && b.slot > slot) b = this.blocks.get(b.parent);
    return b ? b.root : this.genesisRoot;
  }

  /** The canonical block at exactly `slot`, if any. */
  blockAtSlot(slot) {
    const root = this.blockRootAtSlot(slot);
    const b = this.blocks.get(root);
    return b && b.slot === slot ? b : null;
  }

  /** The head state advanced to the first slot of `epoch` (the head state itself when already there or past). */
  stateForEpoch(epoch) {
    // Advancing a state costs time: never past the clock's next epoch (a
    // request naming a far epoch would otherwise stall the node).
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > epochOf(this.clockSlot()) + 1) {
      throw Object.assign(new Error(`epoch ${epoch} is more than one epoch ahead of the clock`), { statusCode: 400 });
    }
    const head = this.head;
    const start = epoch * SLOTS_PER_EPOCH;
    if (head.state.slot >= start) return head.state;
    const key = `${head.root}:${epoch}`;
    let s = this.stateCache.get(key);
    if (!s) {
      s = ST.processSlots(head.state.clone(), start);
      this.stateCache.set(key, s);
      if (this.stateCache.size > 8) this.stateCache.delete(this.stateCache.keys().next().value);
    }
    return s;
  }

  /**
   * A state whose epoch cache holds `epoch` as its current or next epoch
   * (committees, proposers, sync committee): the head's (advanced) from the
   * head's epoch on; for an earlier epoch, the state of the canonical block
   * at or before the epoch's last slot (its epoch is `epoch` or, after empty
   * slots, the one before: then `epoch` is its next).
   */
  stateHolding(epoch) {
    const headEpoch = epochOf(this.head.slot);
    if (epoch >= headEpoch) return this.stateForEpoch(epoch);
    const b = this.blocks.get(this.blockRootAtSlot((epoch + 1) * SLOTS_PER_EPOCH - 1));
    if (!b?.state || epochOf(b.state.slot) + 1 < epoch) {
      throw Object.assign(new Error(`no state holds epoch ${epoch}'s committees`), { statusCode: 404 });
    }
    return b.state;
  }

  /** The sync committee of `epoch`'s period, by position. */
  syncCommitteeOfEpoch(epoch) {
    const state = this.stateHolding(epoch);
    const period = periodOf(epoch);
    const statePeriod = periodOf(epochOf(state.slot));
    if (period === statePeriod) return Array.from(state.epochCtx.currentSyncCommitteeIndexed.validatorIndices);
    if (period === statePeriod + 1) return Array.from(state.epochCtx.nextSyncCommitteeIndexed.validatorIndices);
    throw Object.assign(new Error(`no state holds epoch ${epoch}'s sync committee`), { statusCode: 404 });
  }

  /** Validators at each position of the sync committee signing at `slot` (the committee of slot + 1's period). */
  syncCommittee(slot) {
    const state = this.stateForEpoch(epochOf(slot));
    const period = periodOf(epochOf(slot + 1));
    const cache = period === periodOf(epochOf(state.slot)) ? state.epochCtx.currentSyncCommitteeIndexed
      : state.epochCtx.nextSyncCommitteeIndexed;
    return Array.from(cache.validatorIndices);
  }

  /** Positions of `validator` in the sync committee signing at `slot`. */
  syncPositions(slot, validator) {
    const out = [];
    this.syncCommittee(slot).forEach((v, i) => v === validator && out.push(i));
    return out;
  }

  /** Dependent root of duties: the last block before `slot`'s... per the Beacon API (genesis root on underflow). */
  dependentRoot(startSlot) {
    return startSlot <= 0 ? this.genesisRoot : this.blockRootAtSlot(startSlot - 1);
  }

  // ---- production ----
  /**
   * An unsigned block for `slot` on the head, for a proposer whose reveal is
   * `randaoReveal`. From Gloas on, also the envelope of a self-built payload
   * (unsigned; kept for `getExecutionPayloadEnvelope`), or `external` when
   * the block commits to the builder stand-in's bid (`builderOk`: the
   * validator client takes builder bids).
   */
  async produce(slot, randaoReveal, graffiti, { verifyRandao = true, feeRecipient: builderFeeRecipient, builderOk = false } = {}) {
    const head = this.head;
    if (slot <= head.slot) throw Object.assign(new Error(`slot ${slot} is not after the head's (${head.slot})`), { statusCode: 400 });
    if (slot > this.clockSlot() + 1) throw Object.assign(new Error(`slot ${slot} is more than a slot ahead of the clock`), { statusCode: 400 });
    const pre = ST.processSlots(head.state.clone(), slot);
    const fork = pre.config.getForkName(slot);
    const proposer = pre.epochCtx.getBeaconProposer(slot);
    const epoch = epochOf(slot);
    if (verifyRandao) {
      const root = ST.computeSigningRoot(ssz.Epoch, epoch, pre.config.getDomain(pre.slot, DOMAIN_RANDAO, slot));
      let ok = false;
      try {
        ok = verify(root, pre.epochCtx.pubkeyCache.getOrThrow(proposer), Signature.fromBytes(randaoReveal, true));
      } catch {
        ok = false;
      }
      if (!ok) throw Object.assign(new Error(`randao reveal is not the proposer's (validator ${proposer}) for epoch ${epoch}`), { statusCode: 400 });
    }
    // A builder's block pays the proposer's registration; a local one its preparation.
    // Test hook: a node that pays someone else (`/specnode/wrong_fee/:slot`).
    const preferred = this.gloas.preferences.get(slot)?.message.feeRecipient;
    const feeRecipient = this.wrongFee.get(slot) ?? builderFeeRecipient ?? preferred ?? this.prepared.get(proposer) ?? new Uint8Array(20);
    const gloas = fork === "gloas" ? await this.gloas.bodyParts(pre, slot, this.head, feeRecipient, builderOk) : null;
    const executionPayload = gloas ? null : await this.el.build(pre, slot, fork, feeRecipient);
    const parentRoot = ssz.phase0.BeaconBlockHeader.hashTreeRoot(pre.latestBlockHeader.toValue());
    const g = new Uint8Array(32);
    if (graffiti) g.set(graffiti.subarray(0, 32));
    const body = {
      ...ssz[fork].BeaconBlockBody.defaultValue(),
      randaoReveal,
      eth1Data: pre.eth1Data.toValue(),
      graffiti: g,
      attestations: this.pools.packAttestations(pre, slot),
      voluntaryExits: this.pools.packExits(pre),
      syncAggregate: this.pools.syncAggregate(slot, hex(parentRoot)),
      ...(gloas ? gloas.body : { executionPayload }),
    };
    // Test hook: EIP-7002 withdrawal requests the execution layer "sent" in
    // this block (`/specnode/withdrawal_request/:slot`), processed by the
    // state transition as any others (Electra and Fulu blocks; from Gloas on
    // the slot's payload envelope carries them: `gloas.mjs`).
    const requests = this.withdrawalRequests.get(slot);
    if (requests && !gloas) body.executionRequests = { ...body.executionRequests, withdrawals: requests };
    const block = { slot, proposerIndex: proposer, parentRoot, stateRoot: new Uint8Array(32), body };
    let post;
    try {
      post = ST.stateTransition(pre.clone(), { message: block, signature: new Uint8Array(96) }, CHECKS_OFF);
    } catch (e) {
      this.log(`slot ${slot}: the block did not apply with its operations (${e.message}); producing it without them`);
      body.attestations = [];
      body.voluntaryExits = [];
      if (gloas) body.payloadAttestations = [];
      post = ST.stateTransition(pre.clone(), { message: block, signature: new Uint8Array(96) }, CHECKS_OFF);
    }
    block.stateRoot = post.hashTreeRoot();
    if (!gloas) return { block, fork, proposer, pre, envelope: null, external: false };
    const blockRoot = ssz.gloas.BeaconBlock.hashTreeRoot(block);
    const envelope = gloas.external ? null : this.gloas.envelopeFor(post, block, blockRoot, gloas.bid, gloas.requests);
    if (envelope) this.gloas.produced.set(hex(blockRoot), envelope);
    return { block, fork, proposer, pre, envelope, external: gloas.external, bidValue: gloas.bid.value };
  }

  /** The node's own proposal at `slot`, if its proposer is one of the node's keys. */
  async proposeOwn(slot) {
    if (this.missed.has(slot)) return;
    const pre = this.stateForEpoch(epochOf(slot));
    const proposer = pre.epochCtx.getBeaconProposer(slot);
    if (!this.own.has(proposer)) return;
    const t0 = performance.now();
    const sk = this.sks[proposer];
    const epoch = epochOf(slot);
    const randao = sk.sign(ST.computeSigningRoot(ssz.Epoch, epoch, this.config.getDomain(slot, DOMAIN_RANDAO, slot))).toBytes();
    const { block, fork, envelope } = await this.produce(slot, randao, Buffer.from("specnode"), { verifyRandao: false });
    const signature = sk.sign(ST.computeSigningRoot(ssz[fork].BeaconBlock, block,
      this.config.getDomain(slot, DOMAIN_BEACON_PROPOSER, slot))).toBytes();
    this.importBlock({ message: block, signature }, fork, "node");
    if (envelope) {
      // Self-built: the proposer signs the envelope (DOMAIN_BEACON_BUILDER) and reveals it at once.
      const envSig = sk.sign(ST.getExecutionPayloadEnvelopeSigningRoot(this.config, envelope)).toBytes();
      this.gloas.importEnvelope({ message: envelope, signature: envSig }, "node");
    }
    this.timings.push({ slot, what: "own block (produce, sign, import)", ms: performance.now() - t0 });
  }

  // ---- import ----
  /** Imports a signed block with every check on; refuses it (counted) otherwise. */
  importBlock(signed, fork, by) {
    const t0 = performance.now();
    const kind = by === "node" ? "own block" : "block";
    const b = signed.message;
    const head = this.head;
    const refuse = (reason, detail) => this.pools.refuse(kind, reason, detail);
    if (hex(b.parentRoot) !== head.root) refuse("parent is not the head", `${hex(b.parentRoot)} vs ${head.root}`);
    if (b.slot <= head.slot) refuse("slot not after the head's");
    if (b.slot > this.clockSlot()) refuse("block from the future", `slot ${b.slot}, clock ${this.clockSlot()}`);
    if (this.missed.has(b.slot)) refuse("slot kept empty by the test", `slot ${b.slot}`);
    if (this.config.getForkName(b.slot) !== fork) refuse("wrong fork for the slot", `${fork} at slot ${b.slot}`);
    if (fork === "gloas") {
      this.gloas.checkBlock(signed, head, kind);
    } else {
      const elError = this.el.check(b.body.executionPayload, head.state.latestExecutionPayloadHeader.blockHash, fork);
      if (elError) refuse(elError);
    }
    let post;
    try {
      post = ST.stateTransition(head.state, signed, CHECKS_ON);
    } catch (e) {
      refuse("state transition failed", e.message);
    }
    const root = hex(ssz[fork].BeaconBlock.hashTreeRoot(b));
    const entry = { root, slot: b.slot, parent: head.root, signed, fork, state: post, stateRoot: hex(b.stateRoot), by, envelope: null };
    this.blocks.set(root, entry);
    this.line.push(root);
    this.stateCache.clear();
    this.forgetOldStates();
    this.pools.onBlock(post, b);
    const e = epochOf(post.slot);
    this.participation.set(e, Array.from(post.currentEpochParticipation.getAll()));
    if (e > 0) this.participation.set(e - 1, Array.from(post.previousEpochParticipation.getAll()));
    if (by !== "node") this.pools.accepted.blocks++;
    this.pools.sawLive(epochOf(b.slot), b.proposerIndex);
    this.exportBlock(entry);
    const ms = performance.now() - t0;
    this.timings.push({ slot: b.slot, what: `import (${by})`, ms });
    this.emitBlock(entry, post);
    if (fork === "gloas") this.gloas.afterImport(entry);
    return entry;
  }

  forgetOldStates() {
    const n = this.line.length;
    for (let i = 1; i < n - KEEP_STATES; i++) {
      const b = this.blocks.get(this.line[i]);
      if (b && b.state) b.state = null;
    }
  }

  /** Test hook: orphans the head block (the head goes back to its parent); the block's slot may be re-proposed. */
  orphanHead() {
    if (this.line.length < 2) throw Object.assign(new Error("nothing to orphan"), { statusCode: 400 });
    const head = this.head;
    const parent = this.blocks.get(head.parent);
    if (!parent.state) throw Object.assign(new Error("the parent's state is no longer held"), { statusCode: 400 });
    this.line.pop();
    head.orphaned = true;
    this.stateCache.clear();
    this.log(`reorg: block ${head.root} at slot ${head.slot} orphaned; head back to slot ${parent.slot}`);
    this.exportChainJson();
    this.emitHead(parent);
    return { orphaned: head.root, slot: head.slot, head: parent.root };
  }

  // ---- own validators ----
  /** The node's own attestations and sync messages for `slot` (at a third of the slot). */
  attestOwn(slot) {
    if (this.own.size === 0) return;
    const state = this.stateForEpoch(epochOf(slot));
    const data = this.attestationData(slot);
    const dataRoot = hex(ssz.phase0.AttestationData.hashTreeRoot(data));
    const root = ST.computeSigningRoot(ssz.phase0.AttestationData, data, this.config.getDomain(slot, DOMAIN_BEACON_ATTESTER, slot));
    const count = state.epochCtx.getCommitteeCountPerSlot(epochOf(slot));
    for (let ci = 0; ci < count; ci++) {
      for (const v of state.epochCtx.getBeaconCommittee(slot, ci)) {
        if (!this.own.has(v)) continue;
        if (this.pools.slashable(v, data, dataRoot)) continue;
        this.pools.addVote(dataRoot, data, ci, v, this.sks[v].sign(root).toBytes());
      }
    }
    const headRoot = this.head.root;
    const syncRoot = ST.computeSigningRoot(ssz.Root, Buffer.from(headRoot.slice(2), "hex"),
      this.config.getDomain(slot, DOMAIN_SYNC_COMMITTEE, slot));
    for (const v of new Set(this.syncCommittee(slot))) {
      if (this.own.has(v)) this.pools.addSync(slot, headRoot, v, this.sks[v].sign(syncRoot).toBytes());
    }
  }

  /**
   * AttestationData for `slot` on the head. `index`: 0 from Electra on; from
   * Gloas on the head's payload status: 0 for a block of the slot itself or
   * an EMPTY head, 1 for a head whose payload the node holds (a pre-Gloas
   * head always has its payload).
   */
  attestationData(slot) {
    const epoch = epochOf(slot);
    const state = this.stateForEpoch(epoch);
    const head = this.head;
    const headRoot = head.root;
    const source = epoch === epochOf(state.slot) ? state.currentJustifiedCheckpoint : state.previousJustifiedCheckpoint;
    const full = head.fork !== "gloas" || head.envelope !== null;
    const index = this.config.getForkName(slot) === "gloas" && head.slot !== slot && full ? 1 : 0;
    return {
      slot, index, beaconBlockRoot: Buffer.from(headRoot.slice(2), "hex"),
      source: source.toValue(),
      target: { epoch, root: Buffer.from(this.blockRootAtSlot(epoch * SLOTS_PER_EPOCH).slice(2), "hex") },
    };
  }

  // ---- events ----
  emitBlock(entry, post) {
    for (const l of this.listeners) l({ type: "block", message: { slot: entry.slot, block: fromHex(entry.root), executionOptimistic: false } });
    this.emitHead(entry);
    const fin = post.finalizedCheckpoint;
    if (fin.epoch > this.finalizedEpoch) {
      this.finalizedEpoch = fin.epoch;
      const finBlock = this.blocks.get(hex(fin.root));
      for (const l of this.listeners) {
        l({ type: "finalized_checkpoint", message: { block: fin.root, state: fromHex(finBlock?.stateRoot ?? hex(new Uint8Array(32))),
          epoch: fin.epoch, executionOptimistic: false } });
      }
    }
  }

  emitHead(entry) {
    const epoch = epochOf(entry.slot);
    const message = {
      slot: entry.slot, block: fromHex(entry.root), state: fromHex(entry.stateRoot),
      epochTransition: entry.slot % SLOTS_PER_EPOCH === 0,
      previousDutyDependentRoot: fromHex(this.dependentRoot(Math.max(0, epoch - 1) * SLOTS_PER_EPOCH)),
      currentDutyDependentRoot: fromHex(this.dependentRoot(epoch * SLOTS_PER_EPOCH)),
      executionOptimistic: false,
    };
    for (const l of this.listeners) l({ type: "head", message });
    this.emitHeadV2(entry);
  }

  /**
   * `head_v2` (beacon-APIs #590): the head block and its payload status,
   * under the block's fork; emitted again for the same block when its
   * envelope arrives (EMPTY to FULL). Before Gloas a block carries its
   * payload: FULL.
   */
  emitHeadV2(entry) {
    const epoch = epochOf(entry.slot);
    const gloas = entry.fork === "gloas";
    const data = {
      slot: entry.slot, block: entry.root, state: entry.stateRoot,
      payloadStatus: !gloas || entry.envelope ? "full" : "empty",
      epochTransition: entry.slot % SLOTS_PER_EPOCH === 0,
      currentEpochDependentRoot: this.dependentRoot(Math.max(0, epoch - 1) * SLOTS_PER_EPOCH),
      nextEpochDependentRoot: this.dependentRoot(epoch * SLOTS_PER_EPOCH),
      executionOptimistic: false,
    };
    for (const l of this.listeners) l({ type: "head_v2", message: { version: entry.fork, data } });
  }

  // ---- export ----
  exportBlock(entry) {
    const file = `block_${entry.slot}_${entry.fork}.ssz`;
    writeAtomic(path.join(this.datadir, "blocks", file), ssz[entry.fork].SignedBeaconBlock.serialize(entry.signed));
    this.exportChainJson();
  }

  /** Writes a block's envelope (`envelope_SLOT.ssz`) and the chain's index. */
  exportEnvelope(entry) {
    writeAtomic(path.join(this.datadir, "blocks", `envelope_${entry.slot}.ssz`),
      ssz.gloas.SignedExecutionPayloadEnvelope.serialize(entry.envelope));
    this.exportChainJson();
  }

  exportChainJson() {
    const blocks = this.line.slice(1).map((r) => {
      const b = this.blocks.get(r);
      const e = b.fork === "gloas" ? { envelope: b.envelope ? `envelope_${b.slot}.ssz` : null, envelope_by: b.envelopeBy ?? null } : {};
      return { slot: b.slot, fork: b.fork, file: `block_${b.slot}_${b.fork}.ssz`, block_root: b.root, state_root: b.stateRoot, by: b.by, ...e };
    });
    const gloasEpoch = Number.isFinite(this.chainConfig.GLOAS_FORK_EPOCH) ? this.chainConfig.GLOAS_FORK_EPOCH : null;
    const json = { preset: process.env.LODESTAR_PRESET, fulu_epoch: this.chainConfig.FULU_FORK_EPOCH, gloas_epoch: gloasEpoch,
      slot_ms: this.slotMs, genesis_time: this.genesisTime, validators: this.head.state?.validators.length ?? null,
      genesis_block_root: this.genesisRoot, blocks };
    writeAtomic(path.join(this.datadir, "chain.json"), JSON.stringify(json, null, 1));
  }

  // ---- the slot loop ----
  /** Runs the node's own duties on the clock, until `stop()`. */
  run() {
    let stopped = false;
    const timers = new Set();
    const at = (ms, f) => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopped) f();
      }, Math.max(0, ms - Date.now()));
      timers.add(t);
    };
    const slotTick = (slot) => {
      at(this.slotStartMs(slot), () => {
        this.tickLagMax = Math.max(this.tickLagMax ?? 0, Date.now() - this.slotStartMs(slot));
        this.safely(slot, "expectations", () => this.recordExpected(slot));
        this.safely(slot, "proposal", () => this.proposeOwn(slot));
        // Attestations at a third of the slot (a quarter from Gloas on), PTC votes at three quarters.
        const gloas = this.config.getForkName(slot) === "gloas";
        at(this.slotStartMs(slot) + this.slotMs / (gloas ? 4 : 3), () => this.safely(slot, "attestations", () => this.attestOwn(slot)));
        if (gloas) {
          at(this.slotStartMs(slot) + (this.slotMs * 3) / 4, () => this.safely(slot, "payload attestations", () => this.gloas.voteOwn(slot)));
          this.gloas.prune(slot);
        }
        at(this.slotStartMs(slot) + this.slotMs - 50, () => this.logSlot(slot));
        slotTick(slot + 1);
      });
    };
    slotTick(Math.max(1, this.clockSlot() + 1));
    return () => {
      stopped = true;
      for (const t of timers) clearTimeout(t);
    };
  }

  /** What the chain expects at `slot`: its proposer, and the sync committee whose signatures its block carries. */
  recordExpected(slot) {
    const state = this.stateForEpoch(epochOf(slot));
    this.expected.set(slot, { proposer: state.epochCtx.getBeaconProposer(slot), syncCommittee: this.syncCommittee(Math.max(slot, 1) - 1) });
  }

  /** Slot by slot: expected proposer, the canonical block (by whom), the sync committee and which positions signed. */
  slotReport(from, to) {
    const out = [];
    for (let slot = from; slot <= to; slot++) {
      const x = this.expected.get(slot);
      const b = this.blockAtSlot(slot);
      const m = b?.signed.message;
      out.push({ slot, expected_proposer: x?.proposer ?? null, sync_committee: x?.syncCommittee ?? null,
        block: m ? { root: b.root, by: b.by, proposer: m.proposerIndex, ...this.paymentOf(b),
          sync_bits: m.body.syncAggregate.syncCommitteeBits.toBoolArray(), attestations: m.body.attestations.length,
          graffiti: Buffer.from(m.body.graffiti).toString("utf8").replace(/\0+$/, "") } : null });
    }
    return out;
  }

  /** Whom a block's payload pays; from Gloas on, from its bid, with the builder and whether the payload was revealed. */
  paymentOf(b) {
    const body = b.signed.message.body;
    if (b.fork !== "gloas") return { fee_recipient: hex(body.executionPayload.feeRecipient) };
    const bid = body.signedExecutionPayloadBid.message;
    return { fee_recipient: hex(bid.feeRecipient), builder: Number.isFinite(bid.builderIndex) ? bid.builderIndex : "self",
      bid_value: bid.value, envelope: b.envelope !== null, envelope_by: b.envelopeBy ?? null };
  }

  safely(slot, what, f) {
    const failed = (e) => this.log(`slot ${slot}: ${what} failed: ${e instanceof Refused ? e.message : e.stack}`);
    try {
      const r = f();
      if (r instanceof Promise) r.catch(failed);
    } catch (e) {
      failed(e);
    }
  }

  logSlot(slot) {
    const b = this.blockAtSlot(slot);
    const st = this.head.state;
    const t = this.timings.filter((x) => x.slot === slot).map((x) => `${x.what} ${x.ms.toFixed(1)} ms`).join(", ");
    const atts = b ? b.signed.message.body.attestations.length : 0;
    const sync = b ? b.signed.message.body.syncAggregate.syncCommitteeBits.getTrueBitIndexes().length : 0;
    this.log(`slot ${slot} (epoch ${epochOf(slot)}, ${this.config.getForkName(slot)}): ` +
      (b ? `block by ${b.by} (proposer ${b.signed.message.proposerIndex}), ${atts} attestations, sync ${sync}/${SYNC_COMMITTEE_SIZE}` : "no block") +
      `; justified ${st.currentJustifiedCheckpoint.epoch} finalized ${st.finalizedCheckpoint.epoch}; refused ${this.pools.refusals().total}` +
      (t ? `; ${t}` : ""));
  }

  /** Per-slot processing time so far: median and max over every timed step. */
  timingSummary() {
    const ms = this.timings.map((x) => x.ms).sort((a, b) => a - b);
    const lag = this.tickLagMax ?? 0;
    if (ms.length === 0) return { n: 0, median_ms: 0, max_ms: 0, max_tick_lag_ms: lag };
    return { n: ms.length, median_ms: ms[Math.floor(ms.length / 2)], max_ms: ms[ms.length - 1], max_tick_lag_ms: lag };
  }
}

export function fromHex(h) {
  return Uint8Array.from(Buffer.from(h.replace(/^0x/, ""), "hex"));
}

export { epochOf };
