// The operation pools, each checking what it is given as a beacon node's
// gossip validation would (signature under the right domain and fork,
// committee membership, aggregator selection, sync subcommittee membership,
// slashable duplicates) and counting what it refuses, by reason.
import { verify, fastAggregateVerify, aggregateSignatures, PublicKey, Signature } from "@chainsafe/blst";
import { BitArray } from "@chainsafe/ssz";
import {
  SLOTS_PER_EPOCH, MAX_COMMITTEES_PER_SLOT, MAX_ATTESTATIONS_ELECTRA, MAX_VOLUNTARY_EXITS, SYNC_COMMITTEE_SIZE,
  SYNC_COMMITTEE_SUBNET_COUNT, DOMAIN_BEACON_ATTESTER, DOMAIN_SELECTION_PROOF, DOMAIN_AGGREGATE_AND_PROOF,
  DOMAIN_SYNC_COMMITTEE, DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF, DOMAIN_CONTRIBUTION_AND_PROOF, ForkSeq,
} from "@lodestar/params";
import { ssz } from "@lodestar/types";
import * as ST from "@lodestar/state-transition";
import { hex } from "./el.mjs";

const SUBCOMMITTEE_SIZE = SYNC_COMMITTEE_SIZE / SYNC_COMMITTEE_SUBNET_COUNT;
const epochOf = (slot) => Math.floor(slot / SLOTS_PER_EPOCH);

/** A refusal: the API answers 400 with `message`; the pools count `reason`. */
export class Refused extends Error {
  constructor(reason, detail) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.reason = reason;
    this.statusCode = 400;
  }
}

/** Whether `sigBytes` is `pk`'s signature of `root` (false for bytes that are no signature). */
export function sigOk(root, pk, sigBytes) {
  try {
    return verify(root, pk, Signature.fromBytes(sigBytes, true));
  } catch {
    return false;
  }
}

function aggOk(root, pks, sigBytes) {
  try {
    return pks.length > 0 && fastAggregateVerify(root, pks, Signature.fromBytes(sigBytes, true));
  } catch {
    return false;
  }
}

/** Which of `members` signed (per `signatures`, validator -> bytes): the bits, in
 * `members`' order, and the aggregate of their signatures (null when none did). */
function aggregateOf(members, signatures) {
  const bits = BitArray.fromBitLen(members.length);
  const sigs = [];
  members.forEach((v, i) => {
    const s = signatures?.get(v);
    if (s) {
      bits.set(i, true);
      sigs.push(Signature.fromBytes(s));
    }
  });
  return { bits, signature: sigs.length ? aggregateSignatures(sigs).toBytes() : null };
}

export class Pools {
  /** `chain`: the node's chain (states, block roots, clock). */
  constructor(chain) {
    this.chain = chain;
    /** data root hex -> { data, committees: Map<committee index, Map<validator, signature bytes>> } */
    this.attestations = new Map();
    /** `${data root}:${validator}` already in a canonical block. */
    this.included = new Set();
    /** validator -> [{ source, target, root }] it signed (for slashable duplicates). */
    this.votes = new Map();
    /** `${slot}:${root hex}` -> Map<validator, signature bytes> */
    this.syncMessages = new Map();
    /** validator -> SignedVoluntaryExit */
    this.exits = new Map();
    /** epoch -> Set of validators seen doing a duty */
    this.live = new Map();
    /** reason -> count, and the last refusals in full */
    this.refused = new Map();
    this.recentRefusals = [];
    this.accepted = { attestations: 0, aggregates: 0, syncMessages: 0, contributions: 0, exits: 0, blocks: 0 };
  }

  /** Counts a refusal and throws it. */
  refuse(kind, reason, detail) {
    const key = `${kind}: ${reason}`;
    this.refused.set(key, (this.refused.get(key) ?? 0) + 1);
    this.recentRefusals.push({ kind, reason, detail: detail ?? null, slot: this.chain.clockSlot() });
    if (this.recentRefusals.length > 100) this.recentRefusals.shift();
    throw new Refused(key, detail);
  }

  sawLive(epoch, validator) {
    let s = this.live.get(epoch);
    if (!s) this.live.set(epoch, (s = new Set()));
    s.add(validator);
  }

  // ---- attestations ----

  /** Checks attestation data against the chain; returns { state, dataRoot, committeeCount }. */
  checkData(kind, data) {
    const epoch = epochOf(data.slot);
    const clockEpoch = epochOf(this.chain.clockSlot());
    if (data.target.epoch !== epoch) this.refuse(kind, "target epoch is not the slot's epoch");
    if (epoch > clockEpoch || epoch + 1 < clockEpoch) this.refuse(kind, "attestation outside the current and previous epochs");
    if (data.slot > this.chain.clockSlot()) this.refuse(kind, "attestation for a future slot");
    if (!this.chain.knows(hex(data.beaconBlockRoot))) this.refuse(kind, "unknown head block root", hex(data.beaconBlockRoot));
    if (this.chain.config.getForkName(data.slot) === "gloas") {
      // From Gloas on the index is the head's payload status: 0 for a block
      // of the slot itself, 1 only for a payload the node has seen.
      const head = this.chain.blocks.get(hex(data.beaconBlockRoot));
      if (data.index > 1) this.refuse(kind, "attestation data index (payload status) must be 0 or 1 from Gloas on");
      if (head.slot === data.slot && data.index !== 0) this.refuse(kind, "payload status 1 for a block of the attestation's own slot");
      if (data.index === 1 && head.fork === "gloas" && !head.envelope) this.refuse(kind, "payload status 1 for a payload the node has not seen");
    } else if (data.index !== 0) {
      this.refuse(kind, "attestation data index must be 0 from Electra on");
    }
    const targetRoot = this.chain.blockRootAtSlot(epoch * SLOTS_PER_EPOCH, hex(data.beaconBlockRoot));
    if (targetRoot !== hex(data.target.root)) this.refuse(kind, "target root is not the head's epoch boundary block", `${hex(data.target.root)} vs ${targetRoot}`);
    const state = this.chain.stateForEpoch(epoch);
    const dataRoot = hex(ssz.phase0.AttestationData.hashTreeRoot(data));
    return { state, dataRoot, committeeCount: state.epochCtx.getCommitteeCountPerSlot(epoch) };
  }

  attesterRoot(state, data) {
    return ST.computeSigningRoot(ssz.phase0.AttestationData, data, state.config.getDomain(state.slot, DOMAIN_BEACON_ATTESTER, data.slot));
  }

  /** A slashable vote by `validator` for `data`, or null. Records the vote when it is not. */
  slashable(validator, data, dataRoot) {
    const s = data.source.epoch;
    const t = data.target.epoch;
    const past = this.votes.get(validator) ?? [];
    for (const v of past) {
      if (v.target === t && v.root !== dataRoot) return "double vote";
      if ((v.source < s && t < v.target) || (s < v.source && v.target < t)) return "surround vote";
    }
    if (!past.some((v) => v.root === dataRoot)) {
      past.push({ source: s, target: t, root: dataRoot });
      this.votes.set(validator, past.filter((v) => v.target + 4 >= t));
    }
    return null;
  }

  addVote(dataRoot, data, committeeIndex, validator, signature) {
    let entry = this.attestations.get(dataRoot);
    if (!entry) this.attestations.set(dataRoot, (entry = { data, committees: new Map() }));
    let members = entry.committees.get(committeeIndex);
    if (!members) entry.committees.set(committeeIndex, (members = new Map()));
    members.set(validator, signature);
  }

  /** `POST /eth/v2/beacon/pool/attestations`: one SingleAttestation. */
  submitSingle(att) {
    const kind = "attestation";
    const { state, dataRoot, committeeCount } = this.checkData(kind, att.data);
    if (att.committeeIndex >= committeeCount) this.refuse(kind, "committee index out of range", `${att.committeeIndex} >= ${committeeCount}`);
    const committee = state.epochCtx.getBeaconCommittee(att.data.slot, att.committeeIndex);
    if (!committee.includes(att.attesterIndex)) this.refuse(kind, "attester not in the committee", `validator ${att.attesterIndex}`);
    const pk = state.epochCtx.pubkeyCache.getOrThrow(att.attesterIndex);
    if (!sigOk(this.attesterRoot(state, att.data), pk, att.signature)) this.refuse(kind, "bad signature", `validator ${att.attesterIndex}`);
    const why = this.slashable(att.attesterIndex, att.data, dataRoot);
    if (why) this.refuse(kind, why, `validator ${att.attesterIndex}`);
    this.addVote(dataRoot, att.data, att.committeeIndex, att.attesterIndex, att.signature);
    this.sawLive(att.data.target.epoch, att.attesterIndex);
    this.accepted.attestations++;
  }

  /** `POST /eth/v2/validator/aggregate_and_proofs`: one Electra SignedAggregateAndProof. */
  submitAggregate(signed) {
    const kind = "aggregate";
    const { aggregatorIndex, aggregate, selectionProof } = signed.message;
    const committees = aggregate.committeeBits.getTrueBitIndexes();
    if (committees.length !== 1) this.refuse(kind, "an aggregate names exactly one committee", `${committees.length} named`);
    const { state, committeeCount } = this.checkData(kind, aggregate.data);
    const ci = committees[0];
    if (ci >= committeeCount) this.refuse(kind, "committee index out of range");
    const committee = state.epochCtx.getBeaconCommittee(aggregate.data.slot, ci);
    if (!committee.includes(aggregatorIndex)) this.refuse(kind, "aggregator not in the committee", `validator ${aggregatorIndex}`);
    if (aggregate.aggregationBits.bitLen !== committee.length) this.refuse(kind, "aggregation bits do not match the committee's size");
    if (!ST.isAggregatorFromCommitteeLength(committee.length, selectionProof)) this.refuse(kind, "not an aggregator", `validator ${aggregatorIndex}`);
    const slot = aggregate.data.slot;
    const pk = state.epochCtx.pubkeyCache.getOrThrow(aggregatorIndex);
    const cfg = state.config;
    if (!sigOk(ST.computeSigningRoot(ssz.Slot, slot, cfg.getDomain(state.slot, DOMAIN_SELECTION_PROOF, slot)), pk, selectionProof)) {
      this.refuse(kind, "bad selection proof", `validator ${aggregatorIndex}`);
    }
    // From Gloas on the aggregate is a progressive container (EIP-7688): its root is the fork's own.
    const andProofType = cfg.getForkName(slot) === "gloas" ? ssz.gloas.AggregateAndProof : ssz.electra.AggregateAndProof;
    const andProofRoot = ST.computeSigningRoot(andProofType, signed.message,
      cfg.getDomain(state.slot, DOMAIN_AGGREGATE_AND_PROOF, slot));
    if (!sigOk(andProofRoot, pk, signed.signature)) this.refuse(kind, "bad aggregate-and-proof signature", `validator ${aggregatorIndex}`);
    const participants = aggregate.aggregationBits.intersectValues(Array.from(committee));
    if (participants.length === 0) this.refuse(kind, "empty aggregate");
    const pks = participants.map((v) => state.epochCtx.pubkeyCache.getOrThrow(v));
    if (!aggOk(this.attesterRoot(state, aggregate.data), pks, aggregate.signature)) this.refuse(kind, "bad aggregate signature");
    this.sawLive(aggregate.data.target.epoch, aggregatorIndex);
    this.accepted.aggregates++;
  }

  /** The aggregate of what the pool holds for (`slot`, data root, committee), or null. */
  aggregateFor(slot, dataRoot, committeeIndex) {
    const entry = this.attestations.get(dataRoot);
    const members = entry?.committees.get(committeeIndex);
    if (!entry || entry.data.slot !== slot || !members || members.size === 0) return null;
    const committee = this.chain.stateForEpoch(epochOf(slot)).epochCtx.getBeaconCommittee(slot, committeeIndex);
    const { bits, signature } = aggregateOf(Array.from(committee), members);
    if (!signature) return null;
    const committeeBits = BitArray.fromBitLen(MAX_COMMITTEES_PER_SLOT);
    committeeBits.set(committeeIndex, true);
    return { aggregationBits: bits, data: entry.data, committeeBits, signature };
  }

  /** On-chain attestations for a block on `pre` (one per attestation data, every committee in it). */
  packAttestations(pre, slot) {
    const out = [];
    const curEpoch = epochOf(slot);
    for (const [dataRoot, entry] of this.attestations) {
      const d = entry.data;
      const t = d.target.epoch;
      if (d.slot + 1 > slot || (t !== curEpoch && t + 1 !== curEpoch)) continue;
      const justified = t === curEpoch ? pre.currentJustifiedCheckpoint : pre.previousJustifiedCheckpoint;
      if (justified.epoch !== d.source.epoch || hex(justified.root) !== hex(d.source.root)) continue;
      const committeeBits = BitArray.fromBitLen(MAX_COMMITTEES_PER_SLOT);
      const bools = [];
      const sigs = [];
      let fresh = 0;
      const count = pre.epochCtx.getCommitteeCountPerSlot(t);
      for (let ci = 0; ci < count; ci++) {
        const members = entry.committees.get(ci);
        if (!members || members.size === 0) continue;
        const committee = pre.epochCtx.getBeaconCommittee(d.slot, ci);
        committeeBits.set(ci, true);
        for (const v of committee) {
          const s = members.get(v);
          bools.push(Boolean(s));
          if (s) {
            sigs.push(Signature.fromBytes(s));
            if (!this.included.has(`${dataRoot}:${v}`)) fresh++;
          }
        }
      }
      if (fresh === 0) continue;
      out.push({ fresh, slot: d.slot, att: { aggregationBits: BitArray.fromBoolArray(bools), data: d, committeeBits,
        signature: aggregateSignatures(sigs).toBytes() } });
    }
    out.sort((a, b) => b.fresh - a.fresh || b.slot - a.slot);
    return out.slice(0, MAX_ATTESTATIONS_ELECTRA).map((x) => x.att);
  }

  /** After a block is canonical: its attesters are included; old entries dropped. */
  onBlock(state, block) {
    for (const att of block.body.attestations) {
      const dataRoot = hex(ssz.phase0.AttestationData.hashTreeRoot(att.data));
      let offset = 0;
      for (const ci of att.committeeBits.getTrueBitIndexes()) {
        const committee = state.epochCtx.getBeaconCommittee(att.data.slot, ci);
        committee.forEach((v, i) => {
          if (att.aggregationBits.get(offset + i)) this.included.add(`${dataRoot}:${v}`);
        });
        offset += committee.length;
      }
    }
    for (const exit of block.body.voluntaryExits) this.exits.delete(exit.message.validatorIndex);
    const oldest = epochOf(block.slot) - 2;
    for (const [root, entry] of this.attestations) {
      if (entry.data.target.epoch < oldest) {
        this.attestations.delete(root);
        for (const key of this.included) if (key.startsWith(root)) this.included.delete(key);
      }
    }
    for (const key of this.syncMessages.keys()) {
      if (Number(key.split(":")[0]) + 2 * SLOTS_PER_EPOCH < block.slot) this.syncMessages.delete(key);
    }
  }

  // ---- sync committee ----

  /** `POST /eth/v1/beacon/pool/sync_committees`: one SyncCommitteeMessage. */
  submitSyncMessage(msg) {
    const kind = "sync message";
    const now = this.chain.clockSlot();
    if (msg.slot > now || msg.slot + 1 < now) this.refuse(kind, "not for the current slot", `slot ${msg.slot}, clock ${now}`);
    const positions = this.chain.syncPositions(msg.slot, msg.validatorIndex);
    if (positions.length === 0) this.refuse(kind, "validator not in the sync committee", `validator ${msg.validatorIndex}`);
    const state = this.chain.stateForEpoch(epochOf(msg.slot));
    const root = ST.computeSigningRoot(ssz.Root, msg.beaconBlockRoot, state.config.getDomain(state.slot, DOMAIN_SYNC_COMMITTEE, msg.slot));
    if (!sigOk(root, state.epochCtx.pubkeyCache.getOrThrow(msg.validatorIndex), msg.signature)) {
      this.refuse(kind, "bad signature", `validator ${msg.validatorIndex}`);
    }
    this.addSync(msg.slot, hex(msg.beaconBlockRoot), msg.validatorIndex, msg.signature);
    this.sawLive(epochOf(msg.slot), msg.validatorIndex);
    this.accepted.syncMessages++;
  }

  addSync(slot, rootHex, validator, signature) {
    const key = `${slot}:${rootHex}`;
    let m = this.syncMessages.get(key);
    if (!m) this.syncMessages.set(key, (m = new Map()));
    m.set(validator, signature);
  }

  /** `POST /eth/v1/validator/contribution_and_proofs`: one SignedContributionAndProof. */
  submitContribution(signed) {
    const kind = "sync contribution";
    const { aggregatorIndex, contribution, selectionProof } = signed.message;
    const { slot, subcommitteeIndex } = contribution;
    const now = this.chain.clockSlot();
    if (slot > now || slot + 1 < now) this.refuse(kind, "not for the current slot");
    if (subcommitteeIndex >= SYNC_COMMITTEE_SUBNET_COUNT) this.refuse(kind, "subcommittee index out of range");
    const members = this.chain.syncCommittee(slot).slice(subcommitteeIndex * SUBCOMMITTEE_SIZE, (subcommitteeIndex + 1) * SUBCOMMITTEE_SIZE);
    if (!members.includes(aggregatorIndex)) this.refuse(kind, "aggregator not in the subcommittee", `validator ${aggregatorIndex}`);
    if (!ST.isSyncCommitteeAggregator(selectionProof)) this.refuse(kind, "not a sync aggregator", `validator ${aggregatorIndex}`);
    const state = this.chain.stateForEpoch(epochOf(slot));
    const cfg = state.config;
    const pk = state.epochCtx.pubkeyCache.getOrThrow(aggregatorIndex);
    const selRoot = ST.computeSigningRoot(ssz.altair.SyncAggregatorSelectionData, { slot, subcommitteeIndex },
      cfg.getDomain(state.slot, DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF, slot));
    if (!sigOk(selRoot, pk, selectionProof)) this.refuse(kind, "bad selection proof", `validator ${aggregatorIndex}`);
    const cRoot = ST.computeSigningRoot(ssz.altair.ContributionAndProof, signed.message,
      cfg.getDomain(state.slot, DOMAIN_CONTRIBUTION_AND_PROOF, slot));
    if (!sigOk(cRoot, pk, signed.signature)) this.refuse(kind, "bad contribution-and-proof signature", `validator ${aggregatorIndex}`);
    const participants = contribution.aggregationBits.intersectValues(members);
    const msgRoot = ST.computeSigningRoot(ssz.Root, contribution.beaconBlockRoot, cfg.getDomain(state.slot, DOMAIN_SYNC_COMMITTEE, slot));
    if (!aggOk(msgRoot, participants.map((v) => state.epochCtx.pubkeyCache.getOrThrow(v)), contribution.signature)) {
      this.refuse(kind, "bad contribution signature");
    }
    this.accepted.contributions++;
  }

  /** A contribution from the messages held for (`slot`, root, subcommittee), or null. */
  contributionFor(slot, rootHex, subcommitteeIndex) {
    const m = this.syncMessages.get(`${slot}:${rootHex}`);
    if (!m) return null;
    const members = this.chain.syncCommittee(slot).slice(subcommitteeIndex * SUBCOMMITTEE_SIZE, (subcommitteeIndex + 1) * SUBCOMMITTEE_SIZE);
    const { bits, signature } = aggregateOf(members, m);
    if (!signature) return null;
    return { slot, beaconBlockRoot: Buffer.from(rootHex.slice(2), "hex"), subcommitteeIndex, aggregationBits: bits, signature };
  }

  /** The sync aggregate for a block on `pre` at `slot` whose parent is `parentRootHex`. */
  syncAggregate(slot, parentRootHex) {
    const prev = Math.max(slot, 1) - 1;
    const m = this.syncMessages.get(`${prev}:${parentRootHex}`);
    const { bits, signature } = aggregateOf(this.chain.syncCommittee(prev), m);
    return { syncCommitteeBits: bits, syncCommitteeSignature: signature ?? G2_INFINITY };
  }

  // ---- exits ----

  /** `POST /eth/v1/beacon/pool/voluntary_exits`. */
  submitExit(signed) {
    const kind = "voluntary exit";
    const state = this.chain.stateForEpoch(epochOf(this.chain.clockSlot()));
    const fork = ForkSeq[state.config.getForkName(state.slot)];
    const validity = ST.getVoluntaryExitValidity(fork, state, signed, true);
    if (validity !== "valid") this.refuse(kind, validity, `validator ${signed.message.validatorIndex}`);
    this.exits.set(signed.message.validatorIndex, signed);
    this.accepted.exits++;
  }

  packExits(pre) {
    const fork = ForkSeq[pre.config.getForkName(pre.slot)];
    const out = [];
    for (const exit of this.exits.values()) {
      if (out.length >= MAX_VOLUNTARY_EXITS) break;
      if (ST.isValidVoluntaryExit(fork, pre, exit, false)) out.push(exit);
    }
    return out;
  }

  /** Everything refused so far, by reason. */
  refusals() {
    const byReason = Object.fromEntries(this.refused);
    const total = [...this.refused.values()].reduce((a, b) => a + b, 0);
    return { total, by_reason: byReason, recent: this.recentRefusals, accepted: this.accepted };
  }
}

const G2_INFINITY = Uint8Array.from([0xc0, ...new Array(95).fill(0)]);
export { G2_INFINITY, PublicKey, SUBCOMMITTEE_SIZE };
