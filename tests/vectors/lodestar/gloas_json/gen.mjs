// Writes Lodestar's JSON form (@lodestar/types 1.48.0, minimal preset) of the Gloas pyspec ssz_static vectors:
// for each type, case_N.json = {json, root: hashTreeRoot(fromJson(json))} where json is the vector's value as
// Lodestar prints it, with every integer above 2^53 taken mod 2^32: Lodestar holds most uint64 fields as JS
// numbers and refuses larger ones in JSON (the random vectors are full of them; real slots and indices are not).
//   LODESTAR_PRESET=minimal node gen.mjs VECTORS_DIR OUT_DIR   (run where @lodestar/types 1.48.0 is installed)
import {ssz} from "@lodestar/types";
import fs from "node:fs";
import path from "node:path";

const [vectors, out] = process.argv.slice(2);
const types = {
  PayloadAttestationData: ssz.gloas.PayloadAttestationData,
  PayloadAttestationMessage: ssz.gloas.PayloadAttestationMessage,
  PayloadAttestation: ssz.gloas.PayloadAttestation,
  ProposerPreferences: ssz.gloas.ProposerPreferences,
  SignedProposerPreferences: ssz.gloas.SignedProposerPreferences,
  ExecutionPayloadBid: ssz.gloas.ExecutionPayloadBid,
  ExecutionPayloadEnvelope: ssz.gloas.ExecutionPayloadEnvelope,
  SignedExecutionPayloadEnvelope: ssz.gloas.SignedExecutionPayloadEnvelope,
  AggregateAndProof: ssz.gloas.AggregateAndProof,
  BeaconBlock: ssz.gloas.BeaconBlock,
  SignedBeaconBlock: ssz.gloas.SignedBeaconBlock,
};
function small(v) {
  if (Array.isArray(v)) return v.map(small);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, small(x)]));
  if (typeof v === "string" && /^[0-9]+$/.test(v) && BigInt(v) > BigInt(Number.MAX_SAFE_INTEGER)) {
    return String(BigInt(v) % 2n ** 32n);
  }
  return v;
}

for (const [name, type] of Object.entries(types)) {
  for (const c of [0, 1, 2]) {
    const bytes = fs.readFileSync(path.join(vectors, name, "ssz_random", `case_${c}`, "serialized.ssz"));
    const json = type.toJson(type.fromJson(small(type.toJson(type.deserialize(bytes)))));
    const root = Buffer.from(type.hashTreeRoot(type.fromJson(json))).toString("hex");
    fs.mkdirSync(path.join(out, name), {recursive: true});
    fs.writeFileSync(path.join(out, name, `case_${c}.json`), JSON.stringify({root: "0x" + root, json}));
  }
}
