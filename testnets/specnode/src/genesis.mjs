// The chain's config and its interop genesis (Electra at genesis, keys
// 0..N-1 as in Lodestar's and every client's interop tooling), and the files a
// validator client's `--testnet-dir` reads.
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { ForkSeq, EPOCHS_PER_HISTORICAL_VECTOR, FAR_FUTURE_EPOCH, ACTIVE_PRESET } from "@lodestar/params";
import { chainConfigToJson } from "@lodestar/config";
import { minimalChainConfig, mainnetChainConfig } from "@lodestar/config/configs";
import { ssz } from "@lodestar/types";
import * as ST from "@lodestar/state-transition";

const sha256 = (b) => createHash("sha256").update(b).digest();

/**
 * The chain config: the preset's, every fork through Electra at genesis,
 * Fulu at `fuluEpoch`, Gloas at `gloasEpoch` (null: never), and `extra`.
 */
export function chainConfigFor({ fuluEpoch, gloasEpoch = null, slotMs, config: extra }) {
  const base = ACTIVE_PRESET === "minimal" ? minimalChainConfig : mainnetChainConfig;
  if (fuluEpoch < 1) throw new Error("--fulu-epoch: Electra is at genesis, so Fulu starts at epoch 1 or later");
  if (gloasEpoch !== null && gloasEpoch <= fuluEpoch) throw new Error(`--gloas-epoch ${gloasEpoch}: Gloas comes after Fulu (epoch ${fuluEpoch})`);
  const c = { ...base, ALTAIR_FORK_EPOCH: 0, BELLATRIX_FORK_EPOCH: 0, CAPELLA_FORK_EPOCH: 0, DENEB_FORK_EPOCH: 0,
    ELECTRA_FORK_EPOCH: 0, FULU_FORK_EPOCH: fuluEpoch, GLOAS_FORK_EPOCH: gloasEpoch ?? Infinity };
  const ms = slotMs ?? (ACTIVE_PRESET === "minimal" ? 2000 : 12000);
  if (!Number.isInteger(ms) || ms < 500 || ms % 500 !== 0) throw new Error(`--slot-ms ${ms}: a multiple of 500, at least 500`);
  if ("SLOT_DURATION_MS" in c) c.SLOT_DURATION_MS = ms;
  if ("SECONDS_PER_SLOT" in c) c.SECONDS_PER_SLOT = Math.max(1, Math.round(ms / 1000));
  for (const [k, v] of Object.entries(extra)) {
    if (!(k in c)) throw new Error(`--config ${k}: not a chain config value`);
    const old = c[k];
    if (typeof old === "number") c[k] = Number(v);
    else if (typeof old === "bigint") c[k] = BigInt(v);
    else if (old instanceof Uint8Array) c[k] = Uint8Array.from(Buffer.from(v.replace(/^0x/, ""), "hex"));
    else c[k] = v;
    if (typeof c[k] === "number" && !Number.isFinite(c[k])) throw new Error(`--config ${k}=${v}: not a number`);
  }
  return c;
}

/** An interop genesis state at Electra with `n` validators of 32 ETH (0x00 credentials). */
/** `executionGenesis`: the execution layer's block the chain starts on (anvil's, with `--el`). */
/** `compounding`: {index: ETH} of validators that start consolidated (0x02 credentials, that balance). */
export function interopGenesis(chainConfig, n, genesisTime, executionGenesis = undefined, compounding = {}) {
  const sks = ST.interopSecretKeys(n);
  const pks = sks.map((sk) => sk.toPublicKey().toBytes());
  const s = ssz.electra.BeaconState.defaultViewDU();
  const eth1 = new Uint8Array(32).fill(0x42);
  s.genesisTime = genesisTime;
  s.fork = ssz.phase0.Fork.toViewDU({ previousVersion: chainConfig.DENEB_FORK_VERSION,
    currentVersion: chainConfig.ELECTRA_FORK_VERSION, epoch: 0 });
  s.latestBlockHeader = ssz.phase0.BeaconBlockHeader.toViewDU({ slot: 0, proposerIndex: 0,
    parentRoot: new Uint8Array(32), stateRoot: new Uint8Array(32),
    bodyRoot: ssz.electra.BeaconBlockBody.hashTreeRoot(ssz.electra.BeaconBlockBody.defaultValue()) });
  s.randaoMixes = ssz.phase0.RandaoMixes.toViewDU(Array.from({ length: EPOCHS_PER_HISTORICAL_VECTOR }, () => eth1));
  s.eth1DepositIndex = n;
  s.eth1Data = ssz.phase0.Eth1Data.toViewDU({ depositRoot: new Uint8Array(32), depositCount: BigInt(n), blockHash: eth1 });
  const gwei = (i) => (compounding[i] ?? 32) * 1e9;
  s.balances = ssz.phase0.Balances.toViewDU(Array.from({ length: n }, (_, i) => gwei(i)));
  // A compounding key's credentials: 0x02, 11 zero bytes, a 20-byte address (here from its key).
  const credentials = (pk, i) => compounding[i] === undefined
    ? Uint8Array.from([0, ...sha256(pk).subarray(1)])
    : Uint8Array.from([2, ...new Uint8Array(11), ...sha256(pk).subarray(12)]);
  s.validators = ssz.phase0.Validators.toViewDU(pks.map((pk, i) => ({
    pubkey: pk, withdrawalCredentials: credentials(pk, i),
    activationEligibilityEpoch: 0, activationEpoch: 0, exitEpoch: FAR_FUTURE_EPOCH, withdrawableEpoch: FAR_FUTURE_EPOCH,
    effectiveBalance: gwei(i), slashed: false })));
  s.previousEpochParticipation = ssz.altair.EpochParticipation.toViewDU(Array(n).fill(0));
  s.currentEpochParticipation = ssz.altair.EpochParticipation.toViewDU(Array(n).fill(0));
  s.inactivityScores = ssz.altair.InactivityScores.toViewDU(Array(n).fill(0));
  s.genesisValidatorsRoot = s.validators.hashTreeRoot();
  s.latestExecutionPayloadHeader = ssz.electra.ExecutionPayloadHeader.toViewDU({
    ...ssz.electra.ExecutionPayloadHeader.defaultValue(), blockHash: eth1, timestamp: genesisTime, gasLimit: 30_000_000,
    baseFeePerGas: 1_000_000_000n, ...(executionGenesis ?? {}) });
  s.depositRequestsStartIndex = 2n ** 64n - 1n;
  s.earliestExitEpoch = 0;
  s.commit();
  // Sync committees need the epoch cache (active indices, effective balances).
  const tmp = ST.createCachedBeaconState(s.clone(), ST.createEmptyEpochCacheImmutableData(chainConfig, s),
    { skipSyncCommitteeCache: true });
  const active = new Uint32Array(Array.from({ length: n }, (_, i) => i));
  const { syncCommittee } = ST.getNextSyncCommittee(ForkSeq.electra, tmp, active, tmp.epochCtx.effectiveBalanceIncrements);
  s.currentSyncCommittee = ssz.altair.SyncCommittee.toViewDU(syncCommittee);
  s.nextSyncCommittee = ssz.altair.SyncCommittee.toViewDU(syncCommittee);
  s.commit();
  const state = ST.createCachedBeaconState(s, ST.createEmptyEpochCacheImmutableData(chainConfig, s));
  return { state, sks };
}

/** Writes `config.yaml` (the chain config and the preset's name) and `genesis.ssz` into `dir`. */
export function writeTestnetDir(dir, chainConfig, genesisState) {
  fs.mkdirSync(dir, { recursive: true });
  const json = chainConfigToJson(chainConfig);
  const lines = [`# specnode chain config (preset ${ACTIVE_PRESET})`];
  for (const [k, v] of Object.entries(json)) {
    if (Array.isArray(v)) {
      lines.push(`${k}:`);
      for (const item of v) {
        const entries = Object.entries(item);
        entries.forEach(([ik, iv], i) => lines.push(`${i === 0 ? "  - " : "    "}${ik}: ${iv}`));
      }
    } else {
      lines.push(`${k}: ${v}`);
    }
  }
  lines.push("DEPOSIT_CONTRACT_ADDRESS: 0x0000000000000000000000000000000000000000", "DEPOSIT_NETWORK_ID: 1", "DEPOSIT_CHAIN_ID: 1");
  writeAtomic(path.join(dir, "config.yaml"), lines.join("\n") + "\n");
  writeAtomic(path.join(dir, "genesis.ssz"), genesisState.serialize());
  fs.writeFileSync(path.join(dir, "deploy_block.txt"), "0\n");
}

/** Writes `file` whole or not at all. */
export function writeAtomic(file, data) {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
