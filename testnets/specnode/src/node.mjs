// Starts the node: config and genesis, the testnet dir, the chain's clock,
// the Beacon API. Stops cleanly on SIGTERM/SIGINT, with a last summary.
import path from "node:path";
import { ACTIVE_PRESET } from "@lodestar/params";
import * as ST from "@lodestar/state-transition";
import { chainConfigFor, interopGenesis, writeTestnetDir } from "./genesis.mjs";
import { Chain } from "./chain.mjs";
import { AnvilEL } from "./el.mjs";
import { serve } from "./api.mjs";

export async function start(flags) {
  const log = (line) => console.log(`${new Date().toISOString()} ${line}`);
  let chainConfig;
  try {
    chainConfig = chainConfigFor(flags);
  } catch (e) {
    console.error(`specnode: ${e.message}`);
    process.exit(2);
  }
  const slotMs = chainConfig.SLOT_DURATION_MS ?? chainConfig.SECONDS_PER_SLOT * 1000;
  const genesisTime = Math.floor(Date.now() / 1000) + flags.genesisDelay;
  const t0 = performance.now();
  // With --el, anvil is the execution layer: its latest block is the genesis payload header.
  const el = flags.el ? await AnvilEL.connect(flags.el, genesisTime, slotMs / 1000) : undefined;
  const { state, sks } = interopGenesis(chainConfig, flags.validators, genesisTime, el?.genesis, flags.compounding);
  // The builder stand-in's key: the interop key after the validators'.
  const builderSk = ST.interopSecretKey(flags.validators);
  const testnetDir = path.join(flags.datadir, "testnet");
  writeTestnetDir(testnetDir, chainConfig, state);
  writeTestnetDir(flags.datadir, chainConfig, state);
  const chain = new Chain({ chainConfig, genesis: state, sks, builderSk, own: flags.own, slotMs, datadir: flags.datadir, log, el });
  const server = await serve(chain, flags.port, log);
  log(`specnode: preset ${ACTIVE_PRESET}, ${flags.validators} validators (node runs ${flags.own.length ? `${flags.own[0]}..${flags.own[flags.own.length - 1]}` : "none"}), ` +
    `Electra at genesis, Fulu at epoch ${chainConfig.FULU_FORK_EPOCH}` +
    (Number.isFinite(chainConfig.GLOAS_FORK_EPOCH) ? `, Gloas at epoch ${chainConfig.GLOAS_FORK_EPOCH}` : "") +
    `, ${slotMs} ms slots; genesis ${genesisTime} ` +
    `(built in ${(performance.now() - t0).toFixed(0)} ms), root ${chain.genesisRoot}; REST on http://127.0.0.1:${server.server.address().port}; ` +
    `testnet dir ${testnetDir}; execution layer ${flags.el ?? "the stand-in"}`);
  const stopClock = chain.run();
  const stop = async (signal) => {
    stopClock();
    const t = chain.timingSummary();
    log(`specnode: ${signal}; head slot ${chain.head.slot}, finalized epoch ${chain.head.state.finalizedCheckpoint.epoch}, ` +
      `refused ${chain.pools.refusals().total}; per-slot processing median ${t.median_ms?.toFixed(1)} ms, max ${t.max_ms?.toFixed(1)} ms over ${t.n} steps`);
    await server.close().catch(() => {});
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
