#!/usr/bin/env node
// specnode: a beacon node for local Electra/Fulu/Gloas devnets, on Lodestar's
// published state transition (@lodestar/state-transition 1.48.0).
//
// A linear chain from an interop genesis; every block (the node's own and
// those a validator client publishes) imported through `stateTransition` with
// every check on; pools that check what a validator client sends; an
// execution-layer stand-in; the Beacon API routes a validator client uses.
//
//   node specnode.mjs --validators 64 --own 0..31 --preset minimal \
//     --fulu-epoch 2 --slot-ms 2000 --port 9596 --datadir DIR
//
// Flags (defaults):
//   --validators N        interop validators at genesis (64)
//   --own A..B            keys this node runs itself (0..31; "none" for none)
//   --preset P            minimal | mainnet (minimal)
//   --fulu-epoch E        Fulu fork epoch; Electra is at genesis (2)
//   --gloas-epoch E       Gloas (ePBS) fork epoch, after Fulu (none)
//   --slot-ms MS          slot length (2000; mainnet preset: 12000)
//   --genesis-delay S     genesis this many seconds from now (5)
//   --el URL              anvil as the execution layer: each payload an anvil
//                         block mined for its slot (default: a stand-in)
//   --port P              REST port on 127.0.0.1 (9596; 0: any free port, logged)
//   --datadir DIR         writes config.yaml, genesis.ssz, blocks/ and
//                         chain.json here (required)
//   --config K=V          any other chain config value (repeatable), e.g.
//                         --config SHARD_COMMITTEE_PERIOD=0
//   --compounding I=ETH   validator I starts with 0x02 (compounding) withdrawal
//                         credentials and ETH (33..2048) as its balance and
//                         effective balance, a consolidated key (repeatable)
//
// The preset must be chosen before Lodestar's modules load, so this file
// parses the flags, sets LODESTAR_PRESET and only then loads the node.

function parseFlags(argv) {
  const flags = { validators: 64, own: "0..31", preset: "minimal", fuluEpoch: 2, gloasEpoch: null, slotMs: null, genesisDelay: 5,
    port: 9596, datadir: null, config: {}, compounding: {} };
  const names = { "--validators": "validators", "--own": "own", "--preset": "preset", "--fulu-epoch": "fuluEpoch", "--gloas-epoch": "gloasEpoch",
    "--slot-ms": "slotMs", "--genesis-delay": "genesisDelay", "--port": "port", "--datadir": "datadir", "--el": "el" };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag}: a value is missing`);
    i++;
    if (flag === "--config") {
      const [k, v] = value.split("=");
      if (!k || v === undefined) throw new Error(`--config ${value}: expected KEY=VALUE`);
      flags.config[k] = v;
    } else if (flag === "--compounding") {
      const m = /^(\d+)=(\d+)$/.exec(value);
      if (!m || Number(m[2]) < 33 || Number(m[2]) > 2048) throw new Error(`--compounding ${value}: expected INDEX=ETH, 33..2048 ETH`);
      flags.compounding[Number(m[1])] = Number(m[2]);
    } else if (names[flag]) {
      flags[names[flag]] = value;
    } else {
      throw new Error(`unknown flag ${flag}`);
    }
  }
  for (const k of ["validators", "fuluEpoch", "gloasEpoch", "genesisDelay", "port"]) {
    if (flags[k] === null) continue;
    const n = Number(flags[k]);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${k}: ${flags[k]} is not a whole number`);
    flags[k] = n;
  }
  if (flags.slotMs !== null) flags.slotMs = Number(flags.slotMs);
  if (!["minimal", "mainnet"].includes(flags.preset)) throw new Error(`--preset ${flags.preset}: minimal or mainnet`);
  if (!flags.datadir) throw new Error("--datadir is required");
  flags.own = parseRange(flags.own, flags.validators);
  for (const i of Object.keys(flags.compounding)) {
    if (Number(i) >= flags.validators) throw new Error(`--compounding ${i}: outside 0..${flags.validators - 1}`);
  }
  return flags;
}

function parseRange(text, n) {
  if (text === "none") return [];
  const m = /^(\d+)\.\.(\d+)$/.exec(text);
  if (!m) throw new Error(`--own ${text}: expected A..B`);
  const [a, b] = [Number(m[1]), Number(m[2])];
  if (a > b || b >= n) throw new Error(`--own ${text}: outside 0..${n - 1}`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

let flags;
try {
  flags = parseFlags(process.argv.slice(2));
} catch (e) {
  console.error(`specnode: ${e.message}`);
  process.exit(2);
}
process.env.LODESTAR_PRESET = flags.preset;
const { start } = await import("./src/node.mjs");
await start(flags);
