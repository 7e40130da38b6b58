// specnode is strict: it refuses (HTTP 400, counted by reason) a block with a
// bad proposer signature or a bad state root, an attestation signed under the
// wrong domain or fork, one from outside its committee, a second conflicting
// attestation of one validator, an aggregate from a non-aggregator, a sync
// message from a non-member; each next to a control that it accepts. It
// answers a few dozen malformed requests with the Beacon API's error shape
// and never a 500, and stays up. Last, the pyspec replay accepts the chain
// it exported and refuses the same chain with one block's signature tampered.
//
// The node runs 1,024 validators (minimal preset) so that committees have 32
// members and half of them are not aggregators; it runs none of them itself.
//   LODESTAR_PRESET=minimal node test/strict.mjs
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createBeaconConfig } from "@lodestar/config";
import { DOMAIN_BEACON_ATTESTER, DOMAIN_BEACON_PROPOSER, DOMAIN_SELECTION_PROOF, DOMAIN_AGGREGATE_AND_PROOF,
  DOMAIN_SYNC_COMMITTEE, DOMAIN_RANDAO, MAX_COMMITTEES_PER_SLOT, DOMAIN_APPLICATION_BUILDER } from "@lodestar/params";
import { ssz } from "@lodestar/types";
import { BitArray } from "@chainsafe/ssz";
import * as ST from "@lodestar/state-transition";
import { chainConfigFor } from "../src/genesis.mjs";
import { Harness, replay, sleep, hex } from "./harness.mjs";

const N = 1024;
const h = new Harness("strict", ["--validators", String(N), "--own", "none", "--fulu-epoch", "2", "--slot-ms", "2000",
  "--genesis-delay", "3"]);
const dir = h.dir;
const check = (ok, what) => h.check(ok, what);
const call = (...a) => h.call(...a);
const expect = (...a) => h.expect(...a);

try {
  const BN = await h.started();
  const genesis = (await call("GET", "/eth/v1/beacon/genesis")).json.data;
  const chainConfig = chainConfigFor({ fuluEpoch: 2, slotMs: 2000, config: {} });
  const config = createBeaconConfig(chainConfig, Buffer.from(genesis.genesis_validators_root.slice(2), "hex"));
  const sks = ST.interopSecretKeys(N);
  const slotNow = () => Math.max(0, Math.floor((Date.now() / 1000 - Number(genesis.genesis_time)) / 2));
  while (slotNow() < 1) await sleep(200);
  const slot = slotNow();
  console.log(`node up on ${BN}, slot ${slot}; datadir ${dir}`);

  // ---- attestations ----
  const duties = (await call("POST", "/eth/v1/validator/duties/attester/0", Array.from({ length: N }, (_, i) => String(i)))).json.data;
  const inSlot = duties.filter((d) => Number(d.slot) === slot && d.committee_index === "0");
  const dataJson = (await call("GET", `/eth/v1/validator/attestation_data?slot=${slot}&committee_index=0`)).json.data;
  const data = ssz.phase0.AttestationData.fromJson(dataJson);
  const attesterDomain = config.getDomain(slot, DOMAIN_BEACON_ATTESTER, slot);
  const single = (v, d, domain) => ({ committee_index: "0", attester_index: String(v), data: ssz.phase0.AttestationData.toJson(d),
    signature: hex(sks[v].sign(ST.computeSigningRoot(ssz.phase0.AttestationData, d, domain)).toBytes()) });
  const postAtt = (a) => call("POST", "/eth/v2/beacon/pool/attestations", [a], { "eth-consensus-version": "electra" });
  const [a0, a1, a2, a3] = inSlot.map((d) => Number(d.validator_index));
  const otherCommittee = duties.find((d) => Number(d.slot) === slot && d.committee_index !== "0");
  await expect("attestation (control)", 200, null, () => postAtt(single(a0, data, attesterDomain)));
  // From JSON, not a spread of `data`: a decoded value carries its cached root.
  const conflicting = ssz.phase0.AttestationData.fromJson({ ...dataJson, source: { ...dataJson.source, root: "0x" + "07".repeat(32) } });
  await expect("a second, conflicting attestation of the same validator", 400, "attestation: double vote",
    () => postAtt(single(a0, conflicting, attesterDomain)));
  await expect("attestation signed under the proposer domain", 400, "attestation: bad signature",
    () => postAtt(single(a1, data, config.getDomain(slot, DOMAIN_BEACON_PROPOSER, slot))));
  const denebDomain = ST.computeDomain(DOMAIN_BEACON_ATTESTER, chainConfig.DENEB_FORK_VERSION, config.genesisValidatorsRoot);
  await expect("attestation signed under the Deneb fork version", 400, "attestation: bad signature",
    () => postAtt(single(a2, data, denebDomain)));
  await expect("attestation from outside its committee", 400, "attestation: attester not in the committee",
    () => postAtt(single(Number(otherCommittee.validator_index), data, attesterDomain)));

  // ---- aggregates ----
  const committee = (await call("GET", `/eth/v1/beacon/states/head/committees?epoch=0&slot=${slot}&index=0`)).json.data[0].validators.map(Number);
  const selection = (v) => sks[v].sign(ST.computeSigningRoot(ssz.Slot, slot, config.getDomain(slot, DOMAIN_SELECTION_PROOF, slot))).toBytes();
  const aggregator = committee.find((v) => ST.isAggregatorFromCommitteeLength(committee.length, selection(v)));
  const notAggregator = committee.find((v) => !ST.isAggregatorFromCommitteeLength(committee.length, selection(v)));
  const signedAggregate = (v) => {
    const bits = BitArray.fromBitLen(committee.length);
    bits.set(committee.indexOf(v), true);
    const committeeBits = BitArray.fromBitLen(MAX_COMMITTEES_PER_SLOT);
    committeeBits.set(0, true);
    const aggregate = { aggregationBits: bits, data, committeeBits,
      signature: sks[v].sign(ST.computeSigningRoot(ssz.phase0.AttestationData, data, attesterDomain)).toBytes() };
    const message = { aggregatorIndex: v, aggregate, selectionProof: selection(v) };
    const signature = sks[v].sign(ST.computeSigningRoot(ssz.electra.AggregateAndProof, message,
      config.getDomain(slot, DOMAIN_AGGREGATE_AND_PROOF, slot))).toBytes();
    return ssz.electra.SignedAggregateAndProof.toJson({ message, signature });
  };
  const postAgg = (v) => call("POST", "/eth/v2/validator/aggregate_and_proofs", [signedAggregate(v)], { "eth-consensus-version": "electra" });
  check(aggregator !== undefined && notAggregator !== undefined, `committee of ${committee.length}: aggregator ${aggregator}, non-aggregator ${notAggregator}`);
  await expect("aggregate from an aggregator (control)", 200, null, () => postAgg(aggregator));
  await expect("aggregate from a non-aggregator", 400, "aggregate: not an aggregator", () => postAgg(notAggregator));

  // ---- sync committee ----
  const sync = (await call("GET", "/eth/v1/beacon/states/head/sync_committees?epoch=0")).json.data.validators.map(Number);
  const member = sync[0];
  const nonMember = Array.from({ length: N }, (_, i) => i).find((i) => !sync.includes(i));
  const head = (await call("GET", "/eth/v1/beacon/blocks/head/root")).json.data.root;
  const syncMsg = (v) => [{ slot: String(slotNow()), beacon_block_root: head, validator_index: String(v),
    signature: hex(sks[v].sign(ST.computeSigningRoot(ssz.Root, Buffer.from(head.slice(2), "hex"),
      config.getDomain(slotNow(), DOMAIN_SYNC_COMMITTEE, slotNow()))).toBytes()) }];
  await expect("sync message from a member (control)", 200, null, () => call("POST", "/eth/v1/beacon/pool/sync_committees", syncMsg(member)));
  await expect("sync message from a non-member", 400, "sync message: validator not in the sync committee",
    () => call("POST", "/eth/v1/beacon/pool/sync_committees", syncMsg(nonMember)));

  // ---- blocks ----
  const propose = async (tamper) => {
    const s = slotNow() + 1;
    while (slotNow() < s) await sleep(50);
    const epoch = Math.floor(s / 8);
    const proposer = Number((await call("GET", `/eth/v1/validator/duties/proposer/${epoch}`)).json.data.find((d) => Number(d.slot) === s).validator_index);
    const randao = hex(sks[proposer].sign(ST.computeSigningRoot(ssz.Epoch, epoch, config.getDomain(s, DOMAIN_RANDAO, s))).toBytes());
    const produced = (await call("GET", `/eth/v3/validator/blocks/${s}?randao_reveal=${randao}`)).json;
    const fork = produced.version;
    const block = ssz[fork].BeaconBlock.fromJson(produced.data.block);
    let key = sks[proposer];
    if (tamper === "signature") key = sks[(proposer + 1) % N];
    if (tamper === "state root") block.stateRoot = new Uint8Array(32).fill(1);
    const signature = key.sign(ST.computeSigningRoot(ssz[fork].BeaconBlock, block, config.getDomain(s, DOMAIN_BEACON_PROPOSER, s))).toBytes();
    const contents = { signed_block: ssz[fork].SignedBeaconBlock.toJson({ message: block, signature }), kzg_proofs: [], blobs: [] };
    return call("POST", "/eth/v2/beacon/blocks", contents, { "eth-consensus-version": fork });
  };
  await expect("block signed by another key", 400, "block: state transition failed", () => propose("signature"));
  await expect("block with a wrong state root", 400, "block: state transition failed", () => propose("state root"));
  await expect("block (control)", 200, null, () => propose(null));
  await expect("block (control, a second one)", 200, null, () => propose(null));

  // ---- a reorg and a missed slot, as tests cause them ----
  const headSlot = async () => Number((await call("GET", "/eth/v1/beacon/headers/head")).json.data.header.message.slot);
  const before = await headSlot();
  const orphan = await call("POST", "/specnode/orphan_head");
  check(orphan.status === 200 && (await headSlot()) < before, `orphan_head: HTTP ${orphan.status}, head slot ${before} -> ${await headSlot()}`);
  await expect("block on the reorged head (control)", 200, null, () => propose(null));
  const next = slotNow() + 1;
  await call("POST", `/specnode/miss_slot/${next}`);
  await expect("block at a slot kept empty", 400, "block: slot kept empty by the test", () => propose(null));

  // ---- a builder's (blinded) block pays the proposer's registration ----
  {
    const s = slotNow() + 1;
    const epoch = Math.floor(s / 8);
    const proposer = Number((await call("GET", `/eth/v1/validator/duties/proposer/${epoch}`)).json.data.find((d) => Number(d.slot) === s).validator_index);
    const builderDomain = ST.computeDomain(DOMAIN_APPLICATION_BUILDER, chainConfig.GENESIS_FORK_VERSION, new Uint8Array(32));
    const registration = (v, key) => {
      const message = { feeRecipient: new Uint8Array(20).fill(0xbb), gasLimit: 30_000_000, timestamp: Math.floor(Date.now() / 1000),
        pubkey: sks[v].toPublicKey().toBytes() };
      const signature = key.sign(ST.computeSigningRoot(ssz.bellatrix.ValidatorRegistrationV1, message, builderDomain)).toBytes();
      return [ssz.bellatrix.SignedValidatorRegistrationV1.toJson({ message, signature })];
    };
    await expect("builder registration signed by another key", 400, "registration: bad signature",
      () => call("POST", "/eth/v1/validator/register_validator", registration(proposer, sks[(proposer + 1) % N])));
    await expect("builder registration (control)", 200, null,
      () => call("POST", "/eth/v1/validator/register_validator", registration(proposer, sks[proposer])));
    while (slotNow() < s) await sleep(50);
    const randao = hex(sks[proposer].sign(ST.computeSigningRoot(ssz.Epoch, epoch, config.getDomain(s, DOMAIN_RANDAO, s))).toBytes());
    const produced = (await call("GET", `/eth/v3/validator/blocks/${s}?randao_reveal=${randao}`)).json;
    const fork = produced.version;
    const blinded = produced.execution_payload_blinded === true;
    const pays = produced.data?.body?.execution_payload_header?.fee_recipient?.toLowerCase();
    check(blinded && pays === "0x" + "bb".repeat(20), `produceBlockV3 for a registered proposer: blinded ${blinded}, pays ${pays}`);
    const block = ssz[fork].BlindedBeaconBlock.fromJson(produced.data);
    const signature = sks[proposer].sign(ST.computeSigningRoot(ssz[fork].BlindedBeaconBlock, block, config.getDomain(s, DOMAIN_BEACON_PROPOSER, s))).toBytes();
    await expect("blinded block, signed (control)", 200, null, () => call("POST", "/eth/v2/beacon/blinded_blocks",
      ssz[fork].SignedBlindedBeaconBlock.toJson({ message: block, signature }), { "eth-consensus-version": fork }));
  }

  // ---- rewards from the state (Lodestar's reward functions) ----
  {
    const blockRewards = await call("GET", "/eth/v1/beacon/rewards/blocks/head");
    const syncRewards = await call("POST", "/eth/v1/beacon/rewards/sync_committee/head", []);
    check(blockRewards.status === 200 && blockRewards.json.data.proposer_index !== undefined,
      `block rewards of the head: HTTP ${blockRewards.status}, total ${blockRewards.json?.data?.total}`);
    check(syncRewards.status === 200 && Array.isArray(syncRewards.json.data) && syncRewards.json.data.length > 0,
      `sync committee rewards of the head: HTTP ${syncRewards.status}, ${syncRewards.json?.data?.length} entries`);
  }

  // ---- malformed requests ----
  const J = { "content-type": "application/json" };
  const V = { "eth-consensus-version": "electra", ...J };
  const malformed = [
    ["POST", "/eth/v1/validator/duties/attester/0", "{not json", J],
    ["POST", "/eth/v1/validator/duties/attester/0", { a: 1 }, J],
    ["POST", "/eth/v1/validator/duties/attester/0", ["x"], J],
    ["POST", "/eth/v1/validator/duties/attester/abc", ["1"], J],
    ["POST", "/eth/v1/validator/duties/attester/99999", ["1"], J],
    ["POST", "/eth/v1/validator/duties/sync/0", "null", J],
    ["GET", "/eth/v1/validator/duties/proposer/-1"],
    ["GET", "/eth/v1/validator/attestation_data?slot=abc&committee_index=0"],
    ["GET", "/eth/v1/validator/attestation_data"],
    ["GET", "/eth/v1/validator/attestation_data?slot=99999999&committee_index=0"],
    ["POST", "/eth/v2/beacon/pool/attestations", "[{]", V],
    ["POST", "/eth/v2/beacon/pool/attestations", {}, V],
    ["POST", "/eth/v2/beacon/pool/attestations", [{ committee_index: "0" }], V],
    ["POST", "/eth/v2/beacon/pool/attestations", [single(a3, data, attesterDomain)].map((a) => ({ ...a, signature: "0x1234" })), V],
    ["POST", "/eth/v2/beacon/pool/attestations", [single(a3, data, attesterDomain)], J],
    ["POST", "/eth/v2/beacon/pool/attestations", [{ ...single(a3, data, attesterDomain), attester_index: "18446744073709551615" }], V],
    ["POST", "/eth/v2/beacon/blocks", "{}", V],
    ["POST", "/eth/v2/beacon/blocks", "garbage", V],
    ["POST", "/eth/v2/beacon/blocks", new Uint8Array(100).fill(9), { "content-type": "application/octet-stream", "eth-consensus-version": "electra" }],
    ["POST", "/eth/v2/beacon/blocks", "{}", { ...J, "eth-consensus-version": "nofork" }],
    ["GET", "/eth/v3/validator/blocks/5?randao_reveal=0x00"],
    ["GET", "/eth/v3/validator/blocks/abc?randao_reveal=0x00"],
    ["GET", "/eth/v3/validator/blocks/999999999?randao_reveal=0x" + "c0".padEnd(192, "0")],
    ["GET", "/eth/v1/beacon/states/head/committees?epoch=99999999"],
    ["GET", "/eth/v1/beacon/states/head/sync_committees?epoch=99999999"],
    ["POST", "/eth/v2/validator/aggregate_and_proofs", [{ message: {} }], V],
    ["POST", "/eth/v1/validator/contribution_and_proofs", [{}], J],
    ["POST", "/eth/v1/beacon/pool/sync_committees", [{ slot: "1" }], J],
    ["POST", "/eth/v1/beacon/pool/sync_committees", "[[[[", J],
    ["POST", "/eth/v1/validator/prepare_beacon_proposer", [{ validator_index: "1", fee_recipient: "0xzz" }], J],
    ["POST", "/eth/v1/validator/prepare_beacon_proposer", [{ validator_index: "1", fee_recipient: "0x00" }], J],
    ["POST", "/eth/v1/validator/register_validator", [{ message: { fee_recipient: "0x" } }], J],
    ["POST", "/eth/v1/validator/liveness/0", ["a"], J],
    ["GET", "/eth/v1/beacon/states/head/validators?id=notakey"],
    ["GET", "/eth/v1/beacon/states/nonsense/validators"],
    ["GET", "/eth/v1/beacon/states/head/committees?epoch=x"],
    ["GET", "/eth/v2/beacon/blocks/0xzz"],
    ["GET", "/eth/v1/events?topics=nosuchtopic"],
    ["POST", "/eth/v1/beacon/pool/voluntary_exits", { message: { epoch: "0", validator_index: "5" }, signature: "0x" + "00".repeat(96) }, J],
    ["GET", "/eth/v1/no/such/route"],
  ];
  let shaped = 0;
  const bad = [];
  for (const [method, route, body, headers] of malformed) {
    const r = await call(method, route, body, headers);
    const ok = r.status >= 400 && r.status < 500 && r.json && typeof r.json.message === "string" && Number(r.json.code ?? r.json.statusCode) === r.status;
    if (ok) shaped++;
    else bad.push(`${method} ${route}: HTTP ${r.status} ${r.text.slice(0, 120)}`);
  }
  check(shaped === malformed.length, `${shaped}/${malformed.length} malformed requests answered 4xx with {code, message}${bad.length ? `; not: ${bad.join(" | ")}` : ""}`);
  check((await call("GET", "/eth/v1/node/version")).status === 200, "the node is still up");
  check(h.node.exitCode === null, "the node process never exited");

  // ---- pyspec replay: the exported chain, then one block tampered ----
  const good = replay(dir);
  check(good.code === 0 && /pyspec_roots=3\/3/.test(good.out), `pyspec replays the exported chain: ${good.out.trim().split("\n").pop()}`);
  const tampered = fs.mkdtempSync(path.join(os.tmpdir(), "specnode-tampered-"));
  fs.cpSync(dir, tampered, { recursive: true });
  const chain = JSON.parse(fs.readFileSync(path.join(tampered, "chain.json"), "utf8"));
  const file = path.join(tampered, "blocks", chain.blocks[chain.blocks.length - 1].file);
  const bytes = fs.readFileSync(file);
  bytes[4 + 10] ^= 0x01; // the block signature (after the message's 4-byte offset)
  fs.writeFileSync(file, bytes);
  const t = replay(tampered);
  check(t.code === 1 && /refuses|differ/.test(t.out), `pyspec refuses the chain with one block's signature tampered: ${t.out.trim().split("\n").join(" / ")}`);
  fs.rmSync(tampered, { recursive: true, force: true });
} catch (e) {
  check(false, `unexpected: ${e.stack}`);
}
process.exit(h.finish("strict"));
