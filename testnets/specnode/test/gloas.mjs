// specnode is strict from Gloas on: it refuses (HTTP 400, counted by
// reason) a payload attestation signed under the wrong domain, from outside
// the slot's PTC, for another slot's block, or a second different vote;
// proposer preferences for a validator that does not propose the slot, with
// the v1 proposer duties' dependent root instead of the shuffling one,
// signed under the wrong domain, or for a slot already started; an
// envelope for an unknown block or a second, different envelope; an
// attestation that says FULL for a block of its own slot; produceBlockV3 in
// Gloas and produceBlockV4 before it. Each next to a control it accepts.
// Its head_v2 events name a Gloas head EMPTY, then FULL once its envelope
// is in.
// Last, the pyspec replay accepts the chain with its envelopes and refuses
// it with one envelope's signature tampered.
//
// The node runs all 64 validators (minimal preset, 2 s slots, Fulu at 1,
// Gloas at 2), so its chain carries its own envelopes and PTC votes.
//   LODESTAR_PRESET=minimal node test/gloas.mjs
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createBeaconConfig } from "@lodestar/config";
import { DOMAIN_BEACON_ATTESTER, DOMAIN_BEACON_PROPOSER } from "@lodestar/params";
import { ssz } from "@lodestar/types";
import * as ST from "@lodestar/state-transition";
import { chainConfigFor } from "../src/genesis.mjs";
import { Harness, replay, sleep, hex } from "./harness.mjs";

const N = 64;
const SLOT_MS = 2000;
const h = new Harness("gloas", ["--validators", String(N), "--own", "0..63", "--fulu-epoch", "1", "--gloas-epoch", "2",
  "--slot-ms", String(SLOT_MS), "--genesis-delay", "3"]);
const V = { "eth-consensus-version": "gloas" };

try {
  await h.started();
  const genesis = (await h.call("GET", "/eth/v1/beacon/genesis")).json.data;
  const chainConfig = chainConfigFor({ fuluEpoch: 1, gloasEpoch: 2, slotMs: SLOT_MS, config: {} });
  const config = createBeaconConfig(chainConfig, Buffer.from(genesis.genesis_validators_root.slice(2), "hex"));
  const sks = ST.interopSecretKeys(N);
  const genesisMs = Number(genesis.genesis_time) * 1000;
  const slotNow = () => Math.max(0, Math.floor((Date.now() - genesisMs) / SLOT_MS));
  const headSlot = async () => Number((await h.call("GET", "/eth/v1/beacon/headers/head")).json.data.header.message.slot);
  const blockRoot = async (id) => (await h.call("GET", `/eth/v1/beacon/blocks/${id}/root`)).json.data.root;
  // ---- head_v2: each head under its fork, its payload EMPTY, then FULL when its envelope arrives ----
  {
    while (slotNow() < 17) await sleep(50);
    const ac = new AbortController();
    const res = await fetch(`${h.bn}/eth/v1/events?topics=head_v2`, { signal: ac.signal, headers: { accept: "text/event-stream" } });
    const reader = res.body.getReader();
    const events = [];
    let text = "";
    const until = Date.now() + 3 * SLOT_MS;
    const fullAfterEmpty = () => events.find((e, i) => e.data.payload_status === "full"
      && events.slice(0, i).some((x) => x.data.block === e.data.block && x.data.payload_status === "empty"));
    while (Date.now() < until && !fullAfterEmpty()) {
      const r = await Promise.race([reader.read(), sleep(until - Date.now()).then(() => null)]);
      if (!r || r.done) break;
      text += Buffer.from(r.value).toString();
      for (let i; (i = text.indexOf("\n\n")) >= 0; text = text.slice(i + 2)) {
        const ev = text.slice(0, i);
        const data = ev.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
        if (/^event:\s*head_v2\s*$/m.test(ev)) events.push(JSON.parse(data));
      }
    }
    ac.abort();
    const e = fullAfterEmpty();
    h.check(res.status === 200 && e && e.version === "gloas" && /^0x[0-9a-f]{64}$/.test(e.data.next_epoch_dependent_root),
      `head_v2: a Gloas head EMPTY, then FULL for the same block (${events.length} events; ${e ? JSON.stringify(e) : "none"})`);
  }

  // A Gloas slot whose block (and envelope) is in, early in the slot.
  let slot;
  for (;;) {
    while (slotNow() < 19 || Date.now() - genesisMs - slotNow() * SLOT_MS > 300) await sleep(20);
    slot = slotNow();
    for (let i = 0; i < 10 && (await headSlot()) !== slot; i++) await sleep(20);
    if ((await headSlot()) === slot) break;
  }
  const epoch = Math.floor(slot / 8);
  console.log(`node up on ${h.bn}, Gloas slot ${slot}; datadir ${h.dir}`);

  // ---- payload attestations ----
  const dataJson = (await h.call("GET", `/eth/v1/validator/payload_attestation_data?slot=${slot}`)).json.data;
  const data = ssz.gloas.PayloadAttestationData.fromJson(dataJson);
  h.check(data.payloadPresent === true && hex(data.beaconBlockRoot) === (await blockRoot(slot)),
    `payload attestation data: the slot's block, payload present (${JSON.stringify(dataJson)})`);
  const duties = (await h.call("POST", `/eth/v1/validator/duties/ptc/${epoch}`, Array.from({ length: N }, (_, i) => String(i)))).json.data;
  const members = [...new Set(duties.filter((d) => Number(d.slot) === slot).map((d) => Number(d.validator_index)))];
  const outsider = Array.from({ length: N }, (_, i) => i).find((v) => !members.includes(v));
  const vote = (v, d, root) => ({ validator_index: String(v), data: ssz.gloas.PayloadAttestationData.toJson(d),
    signature: hex(sks[v].sign(root).toBytes()) });
  const ptcRoot = (d) => ST.getPayloadAttestationDataSigningRoot(config, d);
  const post = (m) => h.call("POST", "/eth/v1/beacon/pool/payload_attestations", [m], V);
  h.check(members.length >= 2, `PTC duties: ${members.length} distinct members of slot ${slot}`);
  await h.expect("payload attestation (control)", 200, null, () => post(vote(members[0], data, ptcRoot(data))));
  await h.expect("payload attestation signed under the attester domain", 400, "payload attestation: bad signature (DOMAIN_PTC_ATTESTER)",
    () => post(vote(members[1], data, ST.computeSigningRoot(ssz.gloas.PayloadAttestationData, data, config.getDomain(slot, DOMAIN_BEACON_ATTESTER, slot)))));
  await h.expect("payload attestation from outside the slot's PTC", 400, "payload attestation: validator not in the slot's PTC",
    () => post(vote(outsider, data, ptcRoot(data))));
  const earlier = ssz.gloas.PayloadAttestationData.fromJson({ ...dataJson, beacon_block_root: await blockRoot(slot - 1) });
  await h.expect("payload attestation naming the previous slot's block", 400, "payload attestation: block is not of the slot",
    () => post(vote(members[1], earlier, ptcRoot(earlier))));
  const absent = ssz.gloas.PayloadAttestationData.fromJson({ ...dataJson, payload_present: false, blob_data_available: false });
  await h.expect("a second, different payload attestation of the same member", 400, "payload attestation: a second, different vote for the slot",
    () => post(vote(members[0], absent, ptcRoot(absent))));

  // ---- attestations: the payload status ----
  const att = (await h.call("POST", `/eth/v1/validator/duties/attester/${epoch}`, Array.from({ length: N }, (_, i) => String(i)))).json.data
    .find((d) => Number(d.slot) === slot);
  const ad = (await h.call("GET", `/eth/v1/validator/attestation_data?slot=${slot}&committee_index=0`)).json.data;
  h.check(ad.index === "0", `attestation data for a block of its own slot: index ${ad.index}`);
  const full = ssz.phase0.AttestationData.fromJson({ ...ad, index: "1" });
  await h.expect("an attestation saying FULL for a block of its own slot", 400, "attestation: payload status 1 for a block of the attestation's own slot",
    () => h.call("POST", "/eth/v2/beacon/pool/attestations", [{ committee_index: att.committee_index, attester_index: att.validator_index,
      data: ssz.phase0.AttestationData.toJson(full),
      signature: hex(sks[Number(att.validator_index)].sign(ST.computeSigningRoot(ssz.phase0.AttestationData, full,
        config.getDomain(slot, DOMAIN_BEACON_ATTESTER, slot))).toBytes()) }], V));

  // ---- proposer preferences ----
  const next = epoch + 1;
  const proposals = (await h.call("GET", `/eth/v1/validator/duties/proposer/${next}`)).json;
  const p = proposals.data[3];
  const dependentRoot = await blockRoot(next * 8 - 8 - 1);
  const prefs = (over = {}) => ({ dependentRoot: Buffer.from(dependentRoot.slice(2), "hex"), proposalSlot: Number(p.slot),
    validatorIndex: Number(p.validator_index), feeRecipient: new Uint8Array(20).fill(0xaa), targetGasLimit: 60_000_000n, ...over });
  const signed = (m, root = ST.getProposerPreferencesSigningRoot(config, m), v = m.validatorIndex) =>
    ssz.gloas.SignedProposerPreferences.toJson({ message: m, signature: sks[v].sign(root).toBytes() });
  const postPrefs = (s) => h.call("POST", "/eth/v1/validator/proposer_preferences", [s], V);
  await h.expect("proposer preferences (control)", 200, null, () => postPrefs(signed(prefs())));
  await h.expect("preferences under the v1 proposer duties' dependent root", 400,
    "proposer preferences: dependent root is not the proposal's shuffling dependent root",
    () => postPrefs(signed(prefs({ dependentRoot: Buffer.from(proposals.dependent_root.slice(2), "hex") }))));
  const other = (Number(p.validator_index) + 1) % N;
  await h.expect("preferences of a validator that does not propose the slot", 400, "proposer preferences: validator is not the slot's proposer",
    () => postPrefs(signed(prefs({ validatorIndex: other }))));
  const m = prefs();
  await h.expect("preferences signed under the proposer domain", 400, "proposer preferences: bad signature (DOMAIN_PROPOSER_PREFERENCES)",
    () => postPrefs(signed(m, ST.computeSigningRoot(ssz.gloas.ProposerPreferences, m, config.getDomain(m.proposalSlot, DOMAIN_BEACON_PROPOSER, m.proposalSlot)))));
  const started = (await h.call("GET", `/eth/v1/validator/duties/proposer/${epoch}`)).json.data[0];
  await h.expect("preferences for a slot already started", 400, "proposer preferences: proposal slot has started",
    () => postPrefs(signed(prefs({ proposalSlot: Number(started.slot), validatorIndex: Number(started.validator_index) }))));

  // ---- envelopes ----
  const env = (await h.call("GET", "/eth/v1/beacon/execution_payload_envelopes/head")).json;
  const postEnv = (e) => h.call("POST", "/eth/v1/beacon/execution_payload_envelopes", e, { ...V, "eth-blob-data-included": "false" });
  await h.expect("the head's envelope again (control: taken once, the same)", 200, null, () => postEnv(env.data));
  const sig = Buffer.from(env.data.signature.slice(2), "hex");
  sig[10] ^= 1;
  await h.expect("a second, different envelope for the block", 400, "envelope: a second, different envelope for the block",
    () => postEnv({ ...env.data, signature: hex(sig) }));
  await h.expect("an envelope for an unknown block", 400, "envelope: unknown beacon block root",
    () => postEnv({ ...env.data, message: { ...env.data.message, beacon_block_root: "0x" + "11".repeat(32) } }));

  // ---- block production by fork ----
  const randao = hex(new Uint8Array(96));
  const v3 = await h.call("GET", `/eth/v3/validator/blocks/${slot + 1}?randao_reveal=${randao}`);
  h.check(v3.status === 400, `produceBlockV3 for a Gloas slot: HTTP ${v3.status} ${v3.json?.message}`);

  // ---- pyspec replay, then one envelope tampered ----
  await sleep(2 * SLOT_MS);
  h.node.kill("SIGTERM");
  await sleep(500);
  const good = replay(h.dir);
  const envs = /pyspec_envelopes=(\d+)\/(\d+)/.exec(good.out);
  h.check(good.code === 0 && envs && envs[1] === envs[2] && Number(envs[2]) >= 3,
    `pyspec replays the chain and its envelopes: ${good.out.trim().split("\n").slice(-2).join(" ")}`);
  const tampered = fs.mkdtempSync(path.join(os.tmpdir(), "specnode-gloas-tampered-"));
  fs.cpSync(h.dir, tampered, { recursive: true });
  const chain = JSON.parse(fs.readFileSync(path.join(tampered, "chain.json"), "utf8"));
  const withEnvelope = chain.blocks.filter((b) => b.envelope);
  const file = path.join(tampered, "blocks", withEnvelope[withEnvelope.length - 1].envelope);
  const bytes = fs.readFileSync(file);
  bytes[4 + 10] ^= 0x01; // the envelope signature (after the message's 4-byte offset)
  fs.writeFileSync(file, bytes);
  const t = replay(tampered);
  h.check(t.code === 1 && /refuses the envelope/.test(t.out), `pyspec refuses one envelope's tampered signature: ${t.out.trim().split("\n").slice(-3).join(" / ")}`);
  fs.rmSync(tampered, { recursive: true, force: true });
} catch (e) {
  h.check(false, `unexpected: ${e.stack}`);
}
process.exit(h.finish("gloas"));
