// The Beacon API: @lodestar/api 1.48.0's route definitions (paths, JSON and
// SSZ codecs, `Eth-Consensus-Version`) on fastify, with this node's handlers,
// plus the node's own routes for tests under /specnode/.
import Fastify from "fastify";
import { verify, Signature } from "@chainsafe/blst";
import { registerRoutes } from "@lodestar/api/beacon/server";
import { chainConfigToJson, specValuesToJson } from "@lodestar/config";
import { activePreset, presetToJson, SLOTS_PER_EPOCH, FAR_FUTURE_EPOCH, SYNC_COMMITTEE_SIZE, SYNC_COMMITTEE_SUBNET_COUNT,
  ForkSeq, TARGET_AGGREGATORS_PER_COMMITTEE, TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE, DOMAIN_BEACON_PROPOSER,
  DOMAIN_BEACON_ATTESTER, DOMAIN_RANDAO, DOMAIN_DEPOSIT, DOMAIN_VOLUNTARY_EXIT, DOMAIN_SELECTION_PROOF,
  DOMAIN_AGGREGATE_AND_PROOF, DOMAIN_SYNC_COMMITTEE, DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF,
  DOMAIN_CONTRIBUTION_AND_PROOF, DOMAIN_BLS_TO_EXECUTION_CHANGE, DOMAIN_APPLICATION_BUILDER, BLS_WITHDRAWAL_PREFIX,
  ETH1_ADDRESS_WITHDRAWAL_PREFIX, COMPOUNDING_WITHDRAWAL_PREFIX, DOMAIN_PTC_ATTESTER, DOMAIN_BEACON_BUILDER,
  DOMAIN_PROPOSER_PREFERENCES } from "@lodestar/params";
import { ssz } from "@lodestar/types";
import * as ST from "@lodestar/state-transition";
import { hex } from "./el.mjs";
import { fromHex, epochOf } from "./chain.mjs";
import { Refused } from "./pools.mjs";

const fail = (statusCode, message) => Object.assign(new Error(message), { statusCode });
const meta = { executionOptimistic: false, finalized: false };

/** The validator's status at `epoch`, as the Beacon API names them. */
function statusOf(v, epoch) {
  if (v.activationEpoch > epoch) {
    return v.activationEligibilityEpoch === FAR_FUTURE_EPOCH ? "pending_initialized" : "pending_queued";
  }
  if (epoch < v.exitEpoch) {
    if (v.exitEpoch === FAR_FUTURE_EPOCH) return "active_ongoing";
    return v.slashed ? "active_slashed" : "active_exiting";
  }
  if (epoch < v.withdrawableEpoch) return v.slashed ? "exited_slashed" : "exited_unslashed";
  return "withdrawal_possible";
}

export async function serve(chain, port, log) {
  const config = chain.config;
  const stateOf = (stateId) => {
    if (stateId === "head" || stateId === undefined) return chain.head.state;
    if (stateId === "genesis") return chain.blocks.get(chain.genesisRoot).state;
    if (stateId === "finalized" || stateId === "justified") {
      const cp = stateId === "finalized" ? chain.head.state.finalizedCheckpoint : chain.head.state.currentJustifiedCheckpoint;
      const b = chain.blocks.get(hex(cp.root));
      return b?.state ?? chain.head.state;
    }
    if (/^\d+$/.test(String(stateId))) {
      const b = chain.blocks.get(chain.blockRootAtSlot(Number(stateId)));
      if (!b?.state) throw fail(404, `state at slot ${stateId} not held`);
      return b.state;
    }
    for (const b of chain.blocks.values()) if (b.stateRoot === String(stateId).toLowerCase() && b.state) return b.state;
    throw fail(404, `state ${stateId} not found`);
  };
  const blockOf = (blockId) => {
    if (blockId === "head") return chain.head;
    if (blockId === "genesis") return chain.blocks.get(chain.genesisRoot);
    if (blockId === "finalized") return chain.blocks.get(hex(chain.head.state.finalizedCheckpoint.root)) ?? chain.blocks.get(chain.genesisRoot);
    if (/^\d+$/.test(String(blockId))) {
      const b = chain.blockAtSlot(Number(blockId));
      if (!b) throw fail(404, `no block at slot ${blockId}`);
      return b;
    }
    const b = chain.blocks.get(String(blockId).toLowerCase());
    if (!b) throw fail(404, `block ${blockId} not found`);
    return b;
  };
  const headerOf = (b) => {
    const m = b.signed?.message;
    const message = m
      ? { slot: m.slot, proposerIndex: m.proposerIndex, parentRoot: m.parentRoot, stateRoot: m.stateRoot,
        bodyRoot: ssz[b.fork].BeaconBlockBody.hashTreeRoot(m.body) }
      : { ...b.state.latestBlockHeader.toValue(), stateRoot: fromHex(b.stateRoot) };
    return { root: fromHex(b.root), canonical: !b.orphaned, header: { message, signature: b.signed?.signature ?? new Uint8Array(96) } };
  };
  const validatorIndexOf = (state, id) => {
    if (typeof id === "number" || /^\d+$/.test(String(id))) return Number(id);
    if (!/^0x[0-9a-fA-F]{96}$/.test(String(id))) throw fail(400, `invalid validator id ${String(id).slice(0, 100)}: an index or a 0x-prefixed 48-byte public key`);
    const i = state.epochCtx.pubkeyCache.getIndex(fromHex(String(id)));
    return i ?? null;
  };
  const validators = (stateId, validatorIds, statuses) => {
    const state = stateOf(stateId);
    const epoch = epochOf(state.slot);
    const n = state.validators.length;
    const indices = validatorIds?.length ? validatorIds.map((id) => validatorIndexOf(state, id)).filter((i) => i !== null && i < n)
      : Array.from({ length: n }, (_, i) => i);
    const out = [];
    for (const index of indices) {
      const validator = state.validators.getReadonly(index).toValue();
      const status = statusOf(validator, epoch);
      if (statuses?.length && !statuses.some((s) => status === s || status.startsWith(s))) continue;
      out.push({ index, balance: state.balances.get(index), status, validator });
    }
    return { data: out, meta };
  };
  const guard = (f) => (...args) => {
    try {
      return f(...args);
    } catch (e) {
      if (e instanceof Refused || e.statusCode) throw e;
      throw fail(500, e.message);
    }
  };
  const each = (items, f) => {
    const failures = [];
    items.forEach((item, index) => {
      try {
        f(item);
      } catch (e) {
        failures.push({ index, message: e.message });
      }
    });
    if (failures.length) {
      throw Object.assign(fail(400, `some failed: ${failures.map((x) => `[${x.index}] ${x.message}`).join("; ")}`), { failures });
    }
  };

  const beacon = {
    getGenesis: async () => ({ data: { genesisTime: chain.genesisTime, genesisValidatorsRoot: config.genesisValidatorsRoot,
      genesisForkVersion: chain.chainConfig.GENESIS_FORK_VERSION } }),
    getStateRoot: async ({ stateId }) => ({ data: { root: stateOf(stateId).hashTreeRoot() }, meta }),
    getStateFork: async ({ stateId }) => ({ data: stateOf(stateId).fork.toValue(), meta }),
    getStateFinalityCheckpoints: async ({ stateId }) => {
      const s = stateOf(stateId);
      return { data: { previousJustified: s.previousJustifiedCheckpoint.toValue(), currentJustified: s.currentJustifiedCheckpoint.toValue(),
        finalized: s.finalizedCheckpoint.toValue() }, meta };
    },
    getStateValidators: async ({ stateId, validatorIds, statuses }) => validators(stateId, validatorIds, statuses),
    postStateValidators: async ({ stateId, validatorIds, statuses }) => validators(stateId, validatorIds, statuses),
    getStateValidator: async ({ stateId, validatorId }) => {
      const r = validators(stateId, [validatorId]);
      if (!r.data.length) throw fail(404, `validator ${validatorId} not found`);
      return { data: r.data[0], meta };
    },
    getStateValidatorBalances: async ({ stateId, validatorIds }) => ({
      data: validators(stateId, validatorIds).data.map((v) => ({ index: v.index, balance: v.balance })), meta }),
    postStateValidatorBalances: async ({ stateId, validatorIds }) => ({
      data: validators(stateId, validatorIds).data.map((v) => ({ index: v.index, balance: v.balance })), meta }),
    getEpochCommittees: async ({ stateId, epoch, index, slot }) => {
      const state = stateOf(stateId);
      const e = epoch ?? (slot !== undefined ? epochOf(slot) : epochOf(state.slot));
      const s = chain.stateHolding(e);
      const data = [];
      const count = s.epochCtx.getCommitteeCountPerSlot(e);
      for (let x = e * SLOTS_PER_EPOCH; x < (e + 1) * SLOTS_PER_EPOCH; x++) {
        if (slot !== undefined && x !== slot) continue;
        for (let ci = 0; ci < count; ci++) {
          if (index !== undefined && ci !== index) continue;
          data.push({ index: ci, slot: x, validators: Array.from(s.epochCtx.getBeaconCommittee(x, ci)) });
        }
      }
      return { data, meta };
    },
    getEpochSyncCommittees: async ({ epoch }) => {
      const e = epoch ?? epochOf(chain.head.slot);
      const members = chain.syncCommitteeOfEpoch(e);
      const size = SYNC_COMMITTEE_SIZE / SYNC_COMMITTEE_SUBNET_COUNT;
      return { data: { validators: members, validatorAggregates: Array.from({ length: SYNC_COMMITTEE_SUBNET_COUNT },
        (_, i) => members.slice(i * size, (i + 1) * size)) }, meta };
    },
    getBlockHeader: async ({ blockId }) => ({ data: headerOf(blockOf(blockId)), meta }),
    getBlockHeaders: async ({ slot, parentRoot }) => {
      let list = [chain.head];
      if (slot !== undefined) list = [chain.blockAtSlot(slot)].filter(Boolean);
      if (parentRoot !== undefined) list = [...chain.blocks.values()].filter((b) => b.parent === hex(parentRoot));
      return { data: list.map(headerOf), meta };
    },
    getBlockRoot: async ({ blockId }) => ({ data: { root: fromHex(blockOf(blockId).root) }, meta }),
    getBlockV2: async ({ blockId }) => {
      const b = blockOf(blockId);
      if (!b.signed) throw fail(404, "the genesis block is not served");
      return { data: b.signed, meta: { ...meta, version: b.fork } };
    },
    getBlockAttestationsV2: async ({ blockId }) => {
      const b = blockOf(blockId);
      return { data: b.signed?.message.body.attestations ?? [], meta: { ...meta, version: b.fork } };
    },
    publishBlockV2: guard(async ({ signedBlockContents }) => {
      const signed = signedBlockContents.signedBlock ?? signedBlockContents;
      chain.importBlock(signed, config.getForkName(signed.message.slot), "api");
    }),
    publishBlindedBlockV2: guard(async ({ signedBlindedBlock }) => {
      const slot = signedBlindedBlock.message.slot;
      const fork = config.getForkName(slot);
      const header = signedBlindedBlock.message.body.executionPayloadHeader;
      const payload = chain.el.built.get(hex(header.blockHash));
      if (!payload) throw chain.pools.refuse("blinded block", "execution payload header unknown to the builder");
      const { executionPayloadHeader, ...rest } = signedBlindedBlock.message.body;
      void executionPayloadHeader;
      const message = { ...signedBlindedBlock.message, body: { ...rest, executionPayload: payload } };
      // A payload and its header have the same root: the signed blinded
      // block is then the full block's signature too.
      if (hex(ssz[fork].ExecutionPayload.hashTreeRoot(payload)) !== hex(ssz[fork].ExecutionPayloadHeader.hashTreeRoot(header))) {
        throw chain.pools.refuse("blinded block", "execution payload header differs from the payload built under its block hash");
      }
      chain.importBlock({ message, signature: signedBlindedBlock.signature }, fork, "api");
    }),
    // Rewards, computed by Lodestar's reward functions from this chain's states.
    getAttestationsRewards: guard(async ({ epoch, validatorIds }) => {
      // The state that holds `epoch` as its previous epoch, as late as the
      // chain has it: the last block of epoch + 1, or the head within it.
      const holder = [...chain.line].reverse().map((r) => chain.blocks.get(r)).find((b) => epochOf(b.slot) <= epoch + 1);
      if (!holder || epochOf(holder.slot) !== epoch + 1 || !holder.state) {
        throw fail(404, `epoch ${epoch}'s rewards need a block of epoch ${epoch + 1} (head slot ${chain.head.slot})`);
      }
      const data = await ST.computeAttestationsRewards(config, holder.state.epochCtx.pubkeyCache, holder.state.clone(), validatorIds);
      return { data, meta };
    }),
    getSyncCommitteeRewards: guard(async ({ blockId, validatorIds }) => {
      const b = blockOf(blockId);
      const parent = b.parent && chain.blocks.get(b.parent);
      if (!b.signed || !parent?.state) throw fail(404, `block ${blockId}: its parent's state is not held`);
      const pre = ST.processSlots(parent.state.clone(), b.slot);
      const data = await ST.computeSyncCommitteeRewards(config, pre.epochCtx.pubkeyCache, b.signed.message, pre, validatorIds);
      return { data, meta };
    }),
    getBlockRewards: guard(async ({ blockId }) => {
      const b = blockOf(blockId);
      const parent = b.parent && chain.blocks.get(b.parent);
      if (!b.signed || !parent?.state) throw fail(404, `block ${blockId}: its parent's state is not held`);
      const pre = ST.processSlots(parent.state.clone(), b.slot);
      return { data: await ST.computeBlockRewards(config, b.signed.message, pre), meta };
    }),
    submitPoolAttestationsV2: guard(async ({ signedAttestations }) => each(signedAttestations, (a) => chain.pools.submitSingle(a))),
    submitPoolSyncCommitteeSignatures: guard(async ({ signatures }) => each(signatures, (m) => chain.pools.submitSyncMessage(m))),
    submitPoolVoluntaryExit: guard(async ({ signedVoluntaryExit }) => chain.pools.submitExit(signedVoluntaryExit)),
    // ---- Gloas ----
    submitPayloadAttestationMessages: guard(async ({ payloadAttestationMessages }) =>
      each(payloadAttestationMessages, (m) => chain.gloas.submitPayloadAttestation(m))),
    publishExecutionPayloadEnvelope: guard(async ({ signedEnvelopeOrContents }) => {
      const signed = signedEnvelopeOrContents.signedExecutionPayloadEnvelope ?? signedEnvelopeOrContents;
      chain.gloas.importEnvelope(signed, "api");
    }),
    getSignedExecutionPayloadEnvelope: guard(async ({ blockId }) => {
      const b = blockOf(blockId);
      if (!b.envelope) throw fail(404, `no envelope held for block ${b.root} (slot ${b.slot})`);
      return { data: b.envelope, meta: { ...meta, version: b.fork } };
    }),
    getPoolVoluntaryExits: async () => ({ data: [...chain.pools.exits.values()] }),
    getPoolAttestationsV2: async ({ slot, committeeIndex }) => {
      const data = [];
      for (const [root, entry] of chain.pools.attestations) {
        if (slot !== undefined && entry.data.slot !== slot) continue;
        for (const ci of entry.committees.keys()) {
          if (committeeIndex !== undefined && ci !== committeeIndex) continue;
          const a = chain.pools.aggregateFor(entry.data.slot, root, ci);
          if (a) data.push(a);
        }
      }
      return { data, meta: { version: config.getForkName(chain.head.slot) } };
    },
  };

  const validator = {
    getAttesterDuties: guard(async ({ epoch, indices }) => {
      if (epoch > epochOf(chain.clockSlot()) + 1) throw fail(400, `epoch ${epoch} is more than one epoch ahead`);
      const state = chain.stateForEpoch(epoch);
      const want = new Set(indices);
      const data = [];
      const count = state.epochCtx.getCommitteeCountPerSlot(epoch);
      for (let slot = epoch * SLOTS_PER_EPOCH; slot < (epoch + 1) * SLOTS_PER_EPOCH; slot++) {
        for (let ci = 0; ci < count; ci++) {
          const committee = state.epochCtx.getBeaconCommittee(slot, ci);
          committee.forEach((v, pos) => {
            if (want.has(v)) {
              data.push({ pubkey: state.epochCtx.pubkeyCache.getOrThrow(v).toBytes(), validatorIndex: v, committeeIndex: ci,
                committeeLength: committee.length, committeesAtSlot: count, validatorCommitteeIndex: pos, slot });
            }
          });
        }
      }
      const dependentRoot = chain.dependentRoot(Math.max(0, epoch - 1) * SLOTS_PER_EPOCH);
      return { data, meta: { executionOptimistic: false, dependentRoot } };
    }),
    getProposerDuties: guard(async ({ epoch }) => {
      if (epoch > epochOf(chain.clockSlot()) + 1) throw fail(400, `epoch ${epoch} is more than one epoch ahead`);
      // A past epoch's proposers come from a state of that epoch (the head's
      // cache holds only its own epoch's and the next's).
      const state = chain.stateHolding(epoch);
      const data = [];
      for (let slot = epoch * SLOTS_PER_EPOCH; slot < (epoch + 1) * SLOTS_PER_EPOCH; slot++) {
        if (slot === 0) continue;
        const v = epoch === epochOf(state.slot) ? state.epochCtx.getBeaconProposer(slot)
          : state.epochCtx.getBeaconProposersNextEpoch()[slot % SLOTS_PER_EPOCH];
        data.push({ slot, validatorIndex: v, pubkey: state.epochCtx.pubkeyCache.getOrThrow(v).toBytes() });
      }
      return { data, meta: { executionOptimistic: false, dependentRoot: chain.dependentRoot(epoch * SLOTS_PER_EPOCH) } };
    }),
    getSyncCommitteeDuties: guard(async ({ epoch, indices }) => {
      const startSlot = epoch * SLOTS_PER_EPOCH;
      if (epoch > epochOf(chain.clockSlot()) + 1) throw fail(400, `epoch ${epoch} is more than one epoch ahead`);
      const members = chain.syncCommittee(startSlot);
      const state = chain.head.state;
      const data = [];
      for (const v of new Set(indices)) {
        const positions = [];
        members.forEach((m, i) => m === v && positions.push(i));
        if (positions.length) data.push({ pubkey: state.epochCtx.pubkeyCache.getOrThrow(v).toBytes(), validatorIndex: v, validatorSyncCommitteeIndices: positions });
      }
      return { data, meta: { executionOptimistic: false } };
    }),
    produceBlockV3: guard(async ({ slot, randaoReveal, graffiti, builderBoostFactor }) => {
      if (config.getForkName(slot) === "gloas") throw fail(400, `slot ${slot} is in Gloas: produceBlockV4`);
      const g = graffiti ? fromHex(graffiti.startsWith("0x") ? graffiti : Buffer.from(graffiti).toString("hex")) : undefined;
      // The builder stand-in bids for proposers that registered with it,
      // unless the validator client asked for local blocks only (factor 0).
      if (slot <= chain.head.slot) throw fail(400, `slot ${slot} is not after the head's (${chain.head.slot})`);
      const proposer = chain.stateForEpoch(epochOf(slot)).epochCtx.getBeaconProposer(slot);
      const registration = chain.registrations.get(hex(chain.head.state.validators.getReadonly(proposer).pubkey));
      const useBuilder = registration !== undefined && builderBoostFactor !== 0n;
      const { block, fork } = await chain.produce(slot, randaoReveal, g, { feeRecipient: useBuilder ? registration.message.feeRecipient : undefined });
      if (!useBuilder) {
        return { data: { block, kzgProofs: [], blobs: [] }, meta: { version: fork, executionPayloadBlinded: false,
          executionPayloadSource: "engine", executionPayloadValue: 0n, consensusBlockValue: 0n } };
      }
      const { executionPayload, ...body } = block.body;
      const blinded = { ...block, body: { ...body, executionPayloadHeader: ST.executionPayloadToPayloadHeader(ForkSeq[fork], executionPayload) } };
      return { data: blinded, meta: { version: fork, executionPayloadBlinded: true, executionPayloadSource: "builder",
        executionPayloadValue: 1n, consensusBlockValue: 0n } };
    }),
    // ---- Gloas ----
    getPtcDuties: guard(async ({ epoch, indices }) => {
      if (epoch > epochOf(chain.clockSlot()) + 1) throw fail(400, `epoch ${epoch} is more than one epoch ahead`);
      const data = [];
      if (epoch >= chain.chainConfig.GLOAS_FORK_EPOCH) {
        const state = chain.stateForEpoch(epoch);
        const want = new Set(indices);
        for (let slot = epoch * SLOTS_PER_EPOCH; slot < (epoch + 1) * SLOTS_PER_EPOCH; slot++) {
          for (const v of new Set(state.epochCtx.getPayloadTimelinessCommittee(slot))) {
            if (want.has(v)) data.push({ pubkey: state.epochCtx.pubkeyCache.getOrThrow(v).toBytes(), validatorIndex: v, slot });
          }
        }
      }
      // The PTC is drawn from the epoch's committees: the attester duties' dependent root.
      const dependentRoot = chain.dependentRoot(Math.max(0, epoch - 1) * SLOTS_PER_EPOCH);
      return { data, meta: { executionOptimistic: false, dependentRoot } };
    }),
    producePayloadAttestationData: guard(async ({ slot }) => {
      if (slot > chain.clockSlot()) throw fail(400, `slot ${slot} is in the future`);
      const data = chain.gloas.payloadAttestationData(slot);
      // beacon-APIs: 204 when no block of the slot has been seen (no vote to cast).
      if (!data) return { status: 204 };
      return { data, meta: { version: config.getForkName(slot) } };
    }),
    submitProposerPreferences: guard(async ({ signedProposerPreferences }) =>
      each(signedProposerPreferences, (p) => chain.gloas.submitPreferences(p))),
    produceBlockV4: guard(async ({ slot, randaoReveal, graffiti, skipRandaoVerification, includePayload, builderConfig, feeRecipient }) => {
      if (config.getForkName(slot) !== "gloas") throw fail(400, `slot ${slot} is before Gloas: produceBlockV3`);
      const g = graffiti ? fromHex(graffiti.startsWith("0x") ? graffiti : Buffer.from(graffiti).toString("hex")) : undefined;
      if (feeRecipient !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(feeRecipient)) throw fail(400, `fee_recipient ${String(feeRecipient).slice(0, 60)} is not an address`);
      // The builder stand-in bids only where a test asked it to, and never
      // when the validator client asks for a self-built block (boost 0).
      const builderOk = BigInt(builderConfig?.builderBoostFactor ?? 100n) !== 0n;
      const { block, fork, envelope, bidValue } = await chain.produce(slot, randaoReveal, g, {
        verifyRandao: skipRandaoVerification !== true, feeRecipient: feeRecipient ? fromHex(feeRecipient) : undefined, builderOk });
      const inline = (includePayload === true || includePayload === "true") && envelope !== null;
      const m = { version: fork, consensusBlockValue: 0n, executionPayloadValue: BigInt(bidValue) * 1_000_000_000n, executionPayloadIncluded: inline };
      return { data: inline ? { block, executionPayloadEnvelope: envelope, kzgProofs: [], blobs: [] } : block, meta: m };
    }),
    getExecutionPayloadEnvelope: guard(async ({ slot, beaconBlockRoot }) => {
      const envelope = chain.gloas.produced.get(hex(beaconBlockRoot));
      if (!envelope || envelope.payload.slotNumber !== slot) throw fail(404, `no envelope produced for block ${hex(beaconBlockRoot)} at slot ${slot}`);
      return { data: envelope, meta: { version: config.getForkName(slot) } };
    }),
    produceAttestationData: guard(async ({ slot }) => {
      if (slot > chain.clockSlot()) throw fail(400, `slot ${slot} is in the future`);
      return { data: chain.attestationData(slot) };
    }),
    getAggregatedAttestationV2: guard(async ({ slot, attestationDataRoot, committeeIndex }) => {
      const a = chain.pools.aggregateFor(slot, hex(attestationDataRoot), committeeIndex);
      if (!a) throw fail(404, "no matching attestation in the pool");
      return { data: a, meta: { version: config.getForkName(slot) } };
    }),
    publishAggregateAndProofsV2: guard(async ({ signedAggregateAndProofs }) =>
      each(signedAggregateAndProofs, (a) => chain.pools.submitAggregate(a))),
    produceSyncCommitteeContribution: guard(async ({ slot, subcommitteeIndex, beaconBlockRoot }) => {
      const c = chain.pools.contributionFor(slot, hex(beaconBlockRoot), subcommitteeIndex);
      if (!c) throw fail(404, "no sync committee messages for that slot, root and subcommittee");
      return { data: c };
    }),
    publishContributionAndProofs: guard(async ({ contributionAndProofs }) =>
      each(contributionAndProofs, (c) => chain.pools.submitContribution(c))),
    prepareBeaconCommitteeSubnet: async () => {},
    prepareSyncCommitteeSubnets: async () => {},
    prepareBeaconProposer: guard(async ({ proposers }) => {
      // All or nothing: one bad address and nothing of the request is kept.
      for (const p of proposers) {
        if (!/^0x[0-9a-fA-F]{40}$/.test(p.feeRecipient)) throw fail(400, `validator ${p.validatorIndex}: fee recipient ${String(p.feeRecipient).slice(0, 60)} is not a 20-byte 0x-prefixed address`);
      }
      for (const p of proposers) chain.prepared.set(p.validatorIndex, fromHex(p.feeRecipient));
    }),
    registerValidator: guard(async ({ registrations }) => each(registrations, (r) => {
      // As a builder checks them: a known validator, signed under the builder domain.
      const state = chain.head.state;
      const index = state.epochCtx.pubkeyCache.getIndex(r.message.pubkey);
      if (index === null || index === undefined) chain.pools.refuse("registration", "unknown validator", hex(r.message.pubkey));
      const domain = ST.computeDomain(DOMAIN_APPLICATION_BUILDER, chain.chainConfig.GENESIS_FORK_VERSION, new Uint8Array(32));
      const root = ST.computeSigningRoot(ssz.bellatrix.ValidatorRegistrationV1, r.message, domain);
      let ok = false;
      try {
        ok = verify(root, state.epochCtx.pubkeyCache.getOrThrow(index), Signature.fromBytes(r.signature, true));
      } catch {
        ok = false;
      }
      if (!ok) chain.pools.refuse("registration", "bad signature", `validator ${index}`);
      chain.registrations.set(hex(r.message.pubkey), r);
      // Every registration received, with when (the tests check how soon a recipient change arrives).
      chain.registrationLog.push({ at_ms: Date.now(), slot: chain.clockSlot(), validator_index: index,
        fee_recipient: hex(r.message.feeRecipient), timestamp: Number(r.message.timestamp) });
    })),
    getLiveness: guard(async ({ epoch, indices }) => {
      const live = chain.pools.live.get(epoch) ?? new Set();
      return { data: indices.map((index) => ({ index, isLive: live.has(index) })) };
    }),
  };

  const spec = () => {
    const constants = { DOMAIN_BEACON_PROPOSER, DOMAIN_BEACON_ATTESTER, DOMAIN_RANDAO, DOMAIN_DEPOSIT, DOMAIN_VOLUNTARY_EXIT,
      DOMAIN_SELECTION_PROOF, DOMAIN_AGGREGATE_AND_PROOF, DOMAIN_SYNC_COMMITTEE, DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF,
      DOMAIN_CONTRIBUTION_AND_PROOF, DOMAIN_BLS_TO_EXECUTION_CHANGE, DOMAIN_APPLICATION_BUILDER,
      DOMAIN_PTC_ATTESTER, DOMAIN_BEACON_BUILDER, DOMAIN_PROPOSER_PREFERENCES,
      TARGET_AGGREGATORS_PER_COMMITTEE, TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE, SYNC_COMMITTEE_SUBNET_COUNT,
      BLS_WITHDRAWAL_PREFIX, ETH1_ADDRESS_WITHDRAWAL_PREFIX, COMPOUNDING_WITHDRAWAL_PREFIX };
    return { ...chainConfigToJson(chain.chainConfig), ...presetToJson(activePreset), ...specValuesToJson(constants) };
  };
  const configNs = {
    getSpec: async () => ({ data: spec() }),
    getForkSchedule: async () => ({ data: config.forksAscendingEpochOrder
      .filter((f) => ForkSeq[f.name] <= ForkSeq.fulu || (f.name === "gloas" && Number.isFinite(f.epoch)))
      .map((f) => ({ previousVersion: f.prevVersion, currentVersion: f.version, epoch: f.epoch })) }),
    getDepositContract: async () => ({ data: { chainId: 1, address: new Uint8Array(20) } }),
  };
  const node = {
    getNodeVersion: async () => ({ data: { version: "specnode/v0.1.0 (@lodestar/state-transition 1.48.0)" } }),
    getSyncingStatus: async () => ({ data: { headSlot: chain.head.slot, syncDistance: Math.max(0, chain.clockSlot() - chain.head.slot),
      isSyncing: false, isOptimistic: false, elOffline: false } }),
    getHealth: async () => ({ status: 200 }),
    getPeerCount: async () => ({ data: { disconnected: 0, connecting: 0, connected: 0, disconnecting: 0 } }),
  };
  const events = {
    eventstream: async ({ topics, signal, onEvent }) => {
      const want = new Set(topics);
      const l = (e) => want.has(e.type) && onEvent(e);
      chain.listeners.add(l);
      signal.addEventListener("abort", () => chain.listeners.delete(l), { once: true });
    },
  };

  const notImplemented = (name) => async () => { throw fail(501, `${name} is not served by specnode`); };
  const ns = (impl) => new Proxy(impl, { get: (t, k) => t[k] ?? notImplemented(String(k)) });
  const server = Fastify({ logger: false, bodyLimit: 64 << 20 });
  server.setErrorHandler((err, _req, res) => {
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : err.validation ? 400 : 500;
    const body = { code, message: err.message };
    if (err.failures) body.failures = err.failures;
    if (code >= 500) log(`API error: ${err.stack}`);
    res.status(code).send(body);
  });
  // SSZ bodies (blocks published as SSZ with Eth-Consensus-Version), as
  // Lodestar's beacon node takes them; the route definitions decode them.
  server.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  server.setNotFoundHandler((req, res) => res.status(404).send({ code: 404, message: `route ${req.method} ${req.url} not found` }));
  registerRoutes(server, config, { beacon: ns(beacon), validator: ns(validator), config: ns(configNs), node: ns(node),
    events: ns(events), debug: ns({}), lightclient: ns({}), lodestar: ns({}), proof: ns({}) },
  ["beacon", "validator", "config", "node", "events"]);

  // The node's own routes, for tests and the devnet's checks.
  server.get("/specnode/refused", async () => ({ ...chain.pools.refusals(), gloas: chain.gloas.accepted }));
  server.get("/specnode/preferences", async () => chain.gloas.preferencesLog);
  server.get("/specnode/ptc", async (req) => {
    const from = Number(req.query.from ?? 0);
    const to = Number(req.query.to ?? chain.head.slot);
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from || to - from > 10000) {
      throw fail(400, "from and to: slot numbers, from <= to, at most 10,000 apart");
    }
    return chain.gloas.ptcReport(from, to);
  });
  server.post("/specnode/builder_bid/:slot", async (req) => {
    // The builder stand-in bids for `slot`, paying `?pays=0x…` (default: the proposer's preferences).
    const slot = Number(req.params.slot);
    if (!Number.isInteger(slot) || slot < 0) throw fail(400, `slot ${req.params.slot} is not a slot number`);
    const pays = req.query.pays;
    if (pays !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(pays)) throw fail(400, `pays=${String(pays).slice(0, 60)} is not an address`);
    chain.gloas.builderBids.set(slot, pays ? fromHex(pays) : null);
    return { slot, pays: pays ?? "the proposer's preferences" };
  });
  server.get("/specnode/builder", async () => {
    const s = chain.head.state;
    const held = s.builders !== undefined && s.builders.length > 0;
    return { registered: held, active: held && chain.gloas.builderActive(s), pubkey: hex(chain.gloas.builderPk),
      balance: held ? Number(s.builders.getReadonly(0).balance) : null, deposit_epoch: held ? s.builders.getReadonly(0).depositEpoch : null };
  });
  server.get("/specnode/registrations", async () => chain.registrationLog);
  server.get("/specnode/timings", async () => chain.timingSummary());
  server.post("/specnode/orphan_head", async () => chain.orphanHead());
  server.post("/specnode/miss_slot/:slot", async (req) => {
    const slot = Number(req.params.slot);
    if (!Number.isInteger(slot) || slot < 0) throw fail(400, `slot ${req.params.slot} is not a slot number`);
    chain.missed.add(slot);
    return { missed: [...chain.missed] };
  });
  server.post("/specnode/wrong_fee/:slot", async (req) => {
    // The block produced for `slot` pays `?to=0x…` (default 0x…bad) instead of the prepared recipient.
    const slot = Number(req.params.slot);
    if (!Number.isInteger(slot) || slot < 0) throw fail(400, `slot ${req.params.slot} is not a slot number`);
    const to = req.query.to ?? "0x000000000000000000000000000000000000bad0";
    if (!/^0x[0-9a-fA-F]{40}$/.test(to)) throw fail(400, `to=${String(to).slice(0, 60)} is not an address`);
    chain.wrongFee.set(slot, fromHex(to));
    return { slot, pays: to };
  });
  server.post("/specnode/withdrawal_request/:slot", async (req) => {
    // The block produced for `slot` carries an EIP-7002 withdrawal request for
    // `?pubkey=0x…` of `?amount=` gwei (0: a full exit), from `?source=0x…`
    // (default: the key's withdrawal address, as its credentials name it).
    const slot = Number(req.params.slot);
    if (!Number.isInteger(slot) || slot < 0) throw fail(400, `slot ${req.params.slot} is not a slot number`);
    const pubkey = String(req.query.pubkey ?? "");
    if (!/^0x[0-9a-fA-F]{96}$/.test(pubkey)) throw fail(400, `pubkey=${pubkey.slice(0, 100)} is not a public key`);
    const amount = String(req.query.amount ?? "0");
    if (!/^[0-9]{1,20}$/.test(amount)) throw fail(400, `amount=${amount.slice(0, 40)} is not a gwei amount`);
    const state = chain.head.state;
    const index = state.epochCtx.pubkeyCache.getIndex(fromHex(pubkey));
    if (index === null || index === undefined) throw fail(404, `${pubkey} is no validator's key`);
    const creds = state.validators.getReadonly(index).withdrawalCredentials;
    const source = req.query.source ?? hex(creds.subarray(12));
    if (!/^0x[0-9a-fA-F]{40}$/.test(source)) throw fail(400, `source=${String(source).slice(0, 60)} is not an address`);
    const list = chain.withdrawalRequests.get(slot) ?? [];
    list.push({ sourceAddress: fromHex(source), validatorPubkey: fromHex(pubkey), amount: BigInt(amount) });
    chain.withdrawalRequests.set(slot, list);
    return { slot, validator: index, source, amount };
  });
  server.get("/specnode/participation/:epoch", async (req) => {
    // Participation flags of `epoch`, from the last imported state that held them.
    const epoch = Number(req.params.epoch);
    const flags = chain.participation.get(epoch);
    if (!flags) throw fail(404, `no state has held epoch ${req.params.epoch}'s participation`);
    return { epoch, flags };
  });
  server.get("/specnode/slots", async (req) => {
    const from = Number(req.query.from ?? 0);
    const to = Number(req.query.to ?? chain.head.slot);
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from || to - from > 10000) {
      throw fail(400, "from and to: slot numbers, from <= to, at most 10,000 apart");
    }
    return chain.slotReport(from, to);
  });
  await server.listen({ host: "127.0.0.1", port });
  return server;
}
