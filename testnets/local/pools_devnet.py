#!/usr/bin/env python3
"""The devnet's pool contracts on anvil, for poolvc's keys.

  pools_devnet.py deploy --rpc URL --bn URL --range 32..63 --out DIR
      Deploys the devnet pool contracts (contracts/, built by forge) from
      anvil's first account, splits the validators of --range (their public
      keys read from the beacon node) over seven operators, and writes
      DIR/pools.yaml (poolvc's) and DIR/pools-devnet.json (what each
      operator's blocks must pay, for the checks).
  pools_devnet.py flip --rpc URL --state DIR/pools-devnet.json
      The opted-out Stader operator opts in to the socializing pool; prints
      the block of the change.
  pools_devnet.py csm-bond --rpc URL --state F --wei W [--locked L]
      Sets the CSM operator's bond (and locked bond).
  pools_devnet.py rocket-penalty --rpc URL --state F --index N --count C
      The oDAO penalises validator N's minipool C times.
  pools_devnet.py exit-lido --rpc URL --state F --index N
  pools_devnet.py exit-stader --rpc URL --state F --index N
      An exit request for validator N: Lido's ValidatorExitRequest from the
      exit bus, or Stader's ForceExitValidator from Penalty.

Transactions go through anvil's unlocked dev accounts (eth_sendTransaction);
call data is encoded by foundry's cast (contracts/tools).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CONTRACTS = os.path.join(ROOT, "contracts")

# Fixed recipients of the devnet (distinct, recognisable).
STADER_PL_POOL = "0x5a00000000000000000000000000000000000001"
STADER_PD_POOL = "0x5a00000000000000000000000000000000000002"
STADER_VAULT_IN = "0x5b0000000000000000000000000000000000000a"
STADER_VAULT_OUT = "0x5b0000000000000000000000000000000000000b"
LIDO_VAULT = "0x1d00000000000000000000000000000000000001"
# Simple DVT's module address: a placeholder, it holds no devnet keys.
LIDO_SDVT = "0x1d00000000000000000000000000000000000002"
ROCKET_SP = "0x7200000000000000000000000000000000000001"
DEVNET_RELAY = "http://relay.devnet.invalid"
CHUNK = 200  # keys per registry transaction (gas and transaction size)
LIDO_MODULE_CURATED = 1
LIDO_MODULE_CSM = 3
# The curated module v2 (CuratedModule) is module 5 on mainnet; 4 is a placeholder here.
LIDO_MODULE_CMV2 = 5
LIDO_PLACEHOLDER = "0x1d00000000000000000000000000000000000003"
ICS_CURVE = 2  # the identified-community-staker curve's id on mainnet
ETH = 10**18
# Bond curves (CSBondCurve points, wei): the ICS curve's 1.5 ETH for the
# first key, CSM's default 2.4 ETH; 1.3 ETH for each next key on both.
BOND_CURVES = {0: [2_400 * ETH // 1000, 3_700 * ETH // 1000], ICS_CURVE: [1_500 * ETH // 1000, 2_800 * ETH // 1000]}


def bond_for(curve, keys):
    """CSBondCurve.getBondAmountByKeysCount."""
    pts = BOND_CURVES[curve]
    trend = pts[-1] - (pts[-2] if len(pts) > 1 else 0)
    return 0 if keys == 0 else pts[keys - 1] if keys <= len(pts) else pts[-1] + (keys - len(pts)) * trend

# Operators: name, pool kind, how many of --range's keys (in order).
SPLIT = [
    ("stader-in", 4),
    ("stader-out", 8),
    ("stader-permissioned", 4),
    ("lido-curated", 4),
    ("lido-csm", 4),
    ("rocket-sp", 4),
    ("rocket", 4),
]


def rpc(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        ans = json.load(r)
    if "error" in ans:
        raise SystemExit(f"pools_devnet: {method}: {ans['error']}")
    return ans["result"]


def cast_bin():
    out = subprocess.run([os.path.join(CONTRACTS, "tools", "install.sh")], check=True, capture_output=True, text=True)
    return os.path.join(out.stdout.strip().splitlines()[-1], "cast-linux-amd64", "bin", "cast")


CAST = None


SELECTORS = {}


def encode(sig, *args):
    """Call data of `sig(args)`: the selector from cast, the arguments ABI-
    encoded here (a devnet's thousands of keys do not fit in one argv)."""
    if sig not in SELECTORS:
        SELECTORS[sig] = subprocess.run([CAST, "sig", sig], check=True, capture_output=True, text=True).stdout.strip()
    types = sig[sig.index("(") + 1:-1].split(",") if not sig.endswith("()") else []
    return SELECTORS[sig] + abi_encode(types, [str(a) for a in args])


def abi_encode(types, values):
    """The ABI encoding (hex, no 0x) of cast-style values for the simple
    types the devnet's setters take: uint256, bool, address, bytes, string,
    bytes[] ("[0x..,0x..]")."""
    word = lambda n: format(n, "064x")
    def dynamic(t, v):
        if t == "bytes":
            b = bytes.fromhex(v[2:])
        elif t == "string":
            b = v.encode()
        elif t == "bytes[]":
            items = [x for x in v.strip("[]").split(",") if x]
            return word(len(items)) + abi_encode(["bytes"] * len(items), items)
        else:
            raise SystemExit(f"pools_devnet: cannot encode {t}")
        return word(len(b)) + b.hex() + "00" * ((32 - len(b) % 32) % 32)
    heads, tails = [], []
    for t, v in zip(types, values):
        if t.startswith("uint"):
            heads.append(word(int(v)))
        elif t == "bool":
            heads.append(word(1 if v == "true" else 0))
        elif t == "address":
            heads.append("0" * 24 + v[2:].lower())
        else:
            heads.append(None)
            tails.append(dynamic(t, v))
    out, offset, k = [], 32 * len(types), 0
    for h in heads:
        if h is None:
            out.append(word(offset))
            offset += len(tails[k]) // 2
            k += 1
        else:
            out.append(h)
    return "".join(out) + "".join(tails)


def calldata(sig, *args):
    """Call data of `sig(args)` by cast, for the few calls with tuple
    arguments the encoder above does not take."""
    return subprocess.run([CAST, "calldata", sig, *[str(a) for a in args]], check=True, capture_output=True,
                          text=True).stdout.strip()


def ctor_args(sig, *args):
    return subprocess.run([CAST, "abi-encode", sig, *[str(a) for a in args]], check=True, capture_output=True,
                          text=True).stdout.strip()[2:]


def send_all(url, txs):
    """Sends `(from, to, data)` transactions at once, then waits for all
    their receipts (one or two blocks instead of one each)."""
    hashes = []
    for frm, to, data in txs:
        tx = {"from": frm, "data": data}
        if to:
            tx["to"] = to
        hashes.append((rpc(url, "eth_sendTransaction", [tx]), to))
    out = []
    for h, to in hashes:
        for _ in range(1200):
            r = rpc(url, "eth_getTransactionReceipt", [h])
            if r:
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f"pools_devnet: transaction {h} not mined")
        if r["status"] != "0x1":
            raise SystemExit(f"pools_devnet: transaction {h} to {to} reverted")
        out.append(r)
    return out


def send(url, frm, to, data):
    return send_all(url, [(frm, to, data)])[0]


def bytecode(file, contract):
    with open(os.path.join(CONTRACTS, "out", file, contract + ".json")) as f:
        return json.load(f)["bytecode"]["object"]


def deploy_all(url, frm, items):
    """Deploys `(file, contract, ctor args)` items; their addresses in order."""
    rs = send_all(url, [(frm, None, bytecode(f, c) + args) for f, c, args in items])
    return [r["contractAddress"] for r in rs]


def pubkeys(bn, lo, hi):
    ids = "&".join(f"id={i}" for i in range(lo, hi + 1))
    with urllib.request.urlopen(f"{bn}/eth/v1/beacon/states/head/validators?{ids}", timeout=30) as r:
        data = json.load(r)["data"]
    keys = {int(v["index"]): v["validator"]["pubkey"] for v in data}
    missing = [i for i in range(lo, hi + 1) if i not in keys]
    if missing:
        raise SystemExit(f"pools_devnet: the node has no validators {missing}")
    return keys


def cmd_deploy(a):
    global SPLIT
    lo, hi = (int(x) for x in a.range.split(".."))
    if a.per_operator:
        SPLIT = [(name, a.per_operator) for name, _ in SPLIT]
    if a.cmv2:
        SPLIT = SPLIT + [("lido-cmv2", a.cmv2)]
    if a.pubkeys or a.definitions:
        if a.pubkeys:
            with open(a.pubkeys) as f:
                listed = [line.strip() for line in f if line.strip()]
        else:
            with open(a.definitions) as f:
                listed = re.findall(r"^\s*voting_public_key:\s*(0x[0-9a-fA-F]{96})\s*$", f.read(), re.M)
            a.pubkeys = a.definitions
        if len(listed) != hi - lo + 1:
            raise SystemExit(f"pools_devnet: {a.pubkeys} has {len(listed)} keys, --range {hi - lo + 1}")
        keys = {lo + i: k for i, k in enumerate(listed)}
    else:
        keys = pubkeys(a.bn, lo, hi)
    if sum(n for _, n in SPLIT) != hi - lo + 1:
        raise SystemExit(f"pools_devnet: the split covers {sum(n for _, n in SPLIT)} keys, --range has {hi - lo + 1}")
    accts = rpc(a.rpc, "eth_accounts", [])
    owner = accts[0]
    chain_id = int(rpc(a.rpc, "eth_chainId", []), 16)
    # Contracts, in two waves (PoolUtils needs the registries and the config).
    (pl, pd, cfg, penalty, nor, csm, bus, relays, nm, df, mm, router, consensus, params, accounting, strikes, cmv2,
     cmv2_accounting) = deploy_all(a.rpc, owner, [
        ("NodeRegistry.sol", "PermissionlessNodeRegistry", ""),
        ("NodeRegistry.sol", "PermissionedNodeRegistry", ""),
        ("PoolUtils.sol", "StaderConfig",
         ctor_args("constructor(address,address,uint256)", STADER_PL_POOL, STADER_PD_POOL, 96)),
        ("Penalty.sol", "Penalty", ""),
        ("NodeOperatorsRegistry.sol", "NodeOperatorsRegistry", ""),
        ("NodeOperatorsRegistry.sol", "CSModule", ""),
        ("ValidatorsExitBusOracle.sol", "ValidatorsExitBusOracle", ""),
        ("ValidatorsExitBusOracle.sol", "MEVBoostRelayAllowedList", ""),
        ("RocketNodeManager.sol", "RocketNodeManager", ""),
        ("RocketNodeManager.sol", "RocketNodeDistributorFactory", ""),
        ("RocketNodeManager.sol", "RocketMinipoolManager", ""),
        ("LidoLocator.sol", "StakingRouter", ""),
        # CSM's fee-oracle consensus: frames of 4 epochs from epoch 0 (e2e-perf's).
        ("HashConsensus.sol", "HashConsensus", ctor_args("constructor(uint256,uint256,uint256)", 0, 4, 0)),
        # CSM v2: bond curves and their parameters.
        ("CSParametersRegistry.sol", "CSParametersRegistry", ""),
        ("CSParametersRegistry.sol", "CSAccounting", ""),
        ("CSStrikes.sol", "CSStrikes", ""),
        # The curated module v2, with its own accounting (every operator on
        # the default curve) over the same parameters registry.
        ("NodeOperatorsRegistry.sol", "CuratedModule", ""),
        ("CSParametersRegistry.sol", "CSAccounting", ""),
    ])
    utils, locator, rp_penalties = deploy_all(a.rpc, owner, [
        ("PoolUtils.sol", "PoolUtils", ctor_args("constructor(address,address,address)", cfg, pl, pd)),
        ("LidoLocator.sol", "LidoLocator", ctor_args("constructor(address,address,address)", LIDO_VAULT, router, bus)),
        ("RocketNodeManager.sol", "RocketNetworkPenalties", ctor_args("constructor(address)", mm)),
    ])
    # Keys per operator, in --range order.
    it = iter(range(lo, hi + 1))
    ops = {name: [next(it) for _ in range(n)] for name, n in SPLIT}
    arr = lambda idx: "[" + ",".join(keys[i] for i in idx) + "]"
    chunks = lambda idx: [idx[i:i + CHUNK] for i in range(0, len(idx), CHUNK)]
    cat = lambda idx: "0x" + "".join(keys[i][2:] for i in idx)
    op_in, op_out, op_pd, node_sp, node = accts[1], accts[2], accts[3], accts[4], accts[5]
    send_all(a.rpc, [
        (owner, pl, encode("addOperatorWithVault(address,string,bool,address)", op_in, "in", "true", STADER_VAULT_IN)),
        (owner, pl, encode("addOperatorWithVault(address,string,bool,address)", op_out, "out", "false",
                           STADER_VAULT_OUT)),
        (owner, pd, encode("addOperator(address,string,bool)", op_pd, "permissioned", "true")),
        (owner, nor, encode("addNodeOperator(string,address,bytes)", "curated", owner, cat(ops["lido-curated"]))),
        (owner, csm, encode("addNodeOperator(address,address,bytes)", owner, owner, cat(ops["lido-csm"]))),
        (owner, relays, encode("add_relay(string,string,bool,string)", DEVNET_RELAY, "devnet", "false", "devnet")),
        # Module ids as on mainnet: 1 curated, 2 Simple DVT (no keys here), 3 CSM.
        (owner, router, encode("addStakingModule(string,address)", "curated-onchain-v1", nor)),
        (owner, router, encode("addStakingModule(string,address)", "SimpleDVT", LIDO_SDVT)),
        (owner, router, encode("addStakingModule(string,address)", "Community Staking", csm)),
        (owner, router, encode("addStakingModule(string,address)", "placeholder", LIDO_PLACEHOLDER)),
        (owner, router, encode("addStakingModule(string,address)", "Curated Module v2", cmv2)),
        (owner, cmv2, encode("setCurveContracts(address,address)", cmv2_accounting, params)),
        *([(owner, cmv2, encode("addNodeOperator(address,address,bytes)", owner, owner, cat(ops["lido-cmv2"])))]
          if "lido-cmv2" in ops else []),
        # The CSM operator is on the ICS curve (mainnet's curve 2): 500 bp of
        # leeway for keys 1-150, 4 strikes, weights 54/4/2, 5 days to exit;
        # the curated operator is judged by the defaults.
        (owner, csm, encode("setCurveContracts(address,address)", accounting, params)),
        (owner, params, calldata("setPerformanceLeewayData(uint256,(uint256,uint256)[])", ICS_CURVE,
                                 "[(1,500),(151,300)]")),
        (owner, params, calldata("setRewardShareData(uint256,(uint256,uint256)[])", ICS_CURVE,
                                 "[(1,10000),(17,5834)]")),
        (owner, params, encode("setStrikesParams(uint256,uint256,uint256)", ICS_CURVE, 6, 4)),
        (owner, params, encode("setPerformanceCoefficients(uint256,uint256,uint256,uint256)", ICS_CURVE, 54, 4, 2)),
        (owner, params, encode("setAllowedExitDelay(uint256,uint256)", ICS_CURVE, 5 * 24 * 3600)),
        (owner, accounting, encode("setBondCurve(uint256,uint256)", 0, ICS_CURVE)),
        # Bonds that cover every key (pools_devnet.py csm-bond changes one).
        (owner, accounting, calldata("setCurve(address,uint256,uint256[])", csm, ICS_CURVE,
                                     "[" + ",".join(str(x) for x in BOND_CURVES[ICS_CURVE]) + "]")),
        (owner, accounting, encode("setBond(uint256,uint256,uint256)", 0,
                                   bond_for(ICS_CURVE, len(ops["lido-csm"])), 0)),
        (owner, cmv2_accounting, calldata("setCurve(address,uint256,uint256[])", cmv2, 0,
                                          "[" + ",".join(str(x) for x in BOND_CURVES[0]) + "]")),
        *([(owner, cmv2_accounting, encode("setBond(uint256,uint256,uint256)", 0,
                                           bond_for(0, len(ops["lido-cmv2"])), 0))] if "lido-cmv2" in ops else []),
        (owner, nm, encode("registerNode(address,address)", node_sp, "0x" + "00" * 20)),
        (owner, nm, encode("registerNode(address,address)", node, "0x" + "00" * 20)),
        *[(owner, mm, encode("addMinipools(address,bytes[])", node_sp, arr(c))) for c in chunks(ops["rocket-sp"])],
        *[(owner, mm, encode("addMinipools(address,bytes[])", node, arr(c))) for c in chunks(ops["rocket"])],
    ])
    send_all(a.rpc, [
        *[(owner, pl, encode("addValidators(uint256,bytes[])", 1, arr(c))) for c in chunks(ops["stader-in"])],
        *[(owner, pl, encode("addValidators(uint256,bytes[])", 2, arr(c))) for c in chunks(ops["stader-out"])],
        *[(owner, pd, encode("addValidators(uint256,bytes[])", 1, arr(c)))
          for c in chunks(ops["stader-permissioned"])],
        (node_sp, nm, encode("setSmoothingPoolRegistrationState(bool)", "true")),
    ])
    dist = "0x" + rpc(a.rpc, "eth_call", [{"to": df, "data": encode("getProxyAddress(address)", node)}, "latest"])[-40:]
    rocket = dict(node_manager=nm, distributor_factory=df, smoothing_pool=ROCKET_SP, minipool_manager=mm,
                  network_penalties=rp_penalties)
    # Stader's presigned-exit backend and its RSA key, if given (ENDPOINT,PEM).
    presign = {}
    if a.stader_presign:
        endpoint, pem = a.stader_presign.split(",", 1)
        presign = {"presign": dict(endpoint=endpoint, public_key=pem)}
    pools = [
        dict(kind="stader-permissionless", pool_utils=utils, operator=op_in, penalty=penalty, **presign),
        dict(kind="stader-permissionless", pool_utils=utils, operator=op_out, penalty=penalty, **presign),
        dict(kind="stader-permissioned", pool_utils=utils, operator=op_pd, penalty=penalty, **presign),
        # Addresses from the locator; the curated entry also pins the vault.
        dict(kind="lido-curated", locator=locator, module_id=LIDO_MODULE_CURATED, operator_id=0,
             el_rewards_vault=LIDO_VAULT, relay_allow_list=relays),
        dict(kind="lido-csm", locator=locator, module_id=LIDO_MODULE_CSM, operator_id=0, relay_allow_list=relays),
        dict(kind="rocket-pool", node=node_sp, **rocket),
        dict(kind="rocket-pool", node=node, **rocket),
    ]
    if "lido-cmv2" in ops:
        # kind "lido": the module's type (curated-onchain-v2) read from it.
        pools.append(dict(kind="lido", locator=locator, module_id=LIDO_MODULE_CMV2, operator_id=0,
                          relay_allow_list=relays))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "pools.yaml"), "w") as f:
        f.write(f"# The devnet's pools (testnets/local/pools_devnet.py)\nrpc: {a.rpc}\nchain_id: {chain_id}\n"
                f"relays: [{DEVNET_RELAY}]\npools:\n")
        for p in pools:
            items = list(p.items())
            f.write(f"  - {items[0][0]}: {items[0][1]}\n")
            for k, v in items[1:]:
                if isinstance(v, dict):
                    f.write(f"    {k}:\n" + "".join(f"      {k2}: {v2}\n" for k2, v2 in v.items()))
                else:
                    f.write(f"    {k}: {v}\n")
    state = {
        "rpc": a.rpc,
        "contracts": dict(permissionless=pl, permissioned=pd, pool_utils=utils, penalty=penalty, lido_curated=nor,
                          csm=csm, exit_bus=bus, relay_allow_list=relays, lido_locator=locator, staking_router=router,
                          hash_consensus=consensus, parameters_registry=params, accounting=accounting,
                          strikes=strikes, cmv2=cmv2, cmv2_accounting=cmv2_accounting,
                          node_manager=nm, distributor_factory=df, minipool_manager=mm,
                          network_penalties=rp_penalties),
        "owner": owner,
        "flip_operator": op_out,
        "operators": {
            "stader-in": dict(keys=ops["stader-in"], recipient=STADER_PL_POOL),
            "stader-out": dict(keys=ops["stader-out"], recipient=STADER_VAULT_OUT, after_flip=STADER_PL_POOL),
            "stader-permissioned": dict(keys=ops["stader-permissioned"], recipient=STADER_PD_POOL),
            "lido-curated": dict(keys=ops["lido-curated"], recipient=LIDO_VAULT, module_id=LIDO_MODULE_CURATED),
            "lido-csm": dict(keys=ops["lido-csm"], recipient=LIDO_VAULT, module_id=LIDO_MODULE_CSM,
                             curve=ICS_CURVE, bond=bond_for(ICS_CURVE, len(ops["lido-csm"]))),
            "rocket-sp": dict(keys=ops["rocket-sp"], recipient=ROCKET_SP, node=node_sp),
            "rocket": dict(keys=ops["rocket"], recipient=dist, node=node),
            **({"lido-cmv2": dict(keys=ops["lido-cmv2"], recipient=LIDO_VAULT, module_id=LIDO_MODULE_CMV2)}
               if "lido-cmv2" in ops else {}),
        },
        "pubkeys": {str(i): keys[i] for i in range(lo, hi + 1)},
    }
    with open(os.path.join(a.out, "pools-devnet.json"), "w") as f:
        json.dump(state, f, indent=1)
    print(f"pools_devnet: 21 contracts on chain {chain_id}, {hi - lo + 1} keys over {len(SPLIT)} operators; "
          f"{os.path.join(a.out, 'pools.yaml')}")


def load(a):
    with open(a.state) as f:
        return json.load(f)


def cmd_flip(a):
    s = load(a)
    r = send(a.rpc, s["flip_operator"], s["contracts"]["permissionless"],
             encode("changeSocializingPoolState(bool)", "true"))
    print(int(r["blockNumber"], 16))


def operator_of(s, index):
    for name, o in s["operators"].items():
        if index in o["keys"]:
            return name, o
    raise SystemExit(f"pools_devnet: validator {index} is in no pool")


def cmd_exit_lido(a):
    s = load(a)
    name, o = operator_of(s, a.index)
    if not name.startswith("lido"):
        raise SystemExit(f"pools_devnet: validator {a.index} is {name}'s, not Lido's")
    r = send(a.rpc, s["owner"], s["contracts"]["exit_bus"],
             encode("requestExit(uint256,uint256,uint256,bytes)", o["module_id"], 0, a.index,
                    s["pubkeys"][str(a.index)]))
    print(int(r["blockNumber"], 16))


def cmd_exit_stader(a):
    s = load(a)
    name, _ = operator_of(s, a.index)
    if not name.startswith("stader"):
        raise SystemExit(f"pools_devnet: validator {a.index} is {name}'s, not Stader's")
    r = send(a.rpc, s["owner"], s["contracts"]["penalty"], encode("forceExit(bytes)", s["pubkeys"][str(a.index)]))
    print(int(r["blockNumber"], 16))


def cmd_stader_penalty(a):
    """Sets a Stader key's total penalty in the Penalty stand-in, as the real
    updateTotalPenaltyAmount would (a forced exit is emitted at 2 ETH)."""
    s = load(a)
    name, _ = operator_of(s, a.index)
    if not name.startswith("stader"):
        raise SystemExit(f"pools_devnet: validator {a.index} is {name}'s, not Stader's")
    r = send(a.rpc, s["owner"], s["contracts"]["penalty"],
             encode("setTotalPenaltyAmount(bytes,uint256)", s["pubkeys"][str(a.index)], a.wei))
    print(int(r["blockNumber"], 16))


def cmd_csm_bond(a):
    """Sets the CSM operator's bond and locked bond (wei) in the accounting
    stand-in, as deposits, penalties and locks would."""
    s = load(a)
    r = send(a.rpc, s["owner"], s["contracts"]["accounting"],
             encode("setBond(uint256,uint256,uint256)", 0, a.wei, a.locked))
    print(int(r["blockNumber"], 16))


def cmd_rocket_penalty(a):
    """Has the oDAO stand-in penalise validator INDEX's minipool COUNT
    times (one per past block); prints the minipool's address."""
    s = load(a)
    name, o = operator_of(s, a.index)
    if not name.startswith("rocket"):
        raise SystemExit(f"pools_devnet: validator {a.index} is {name}'s, not Rocket Pool's")
    mm, pen = s["contracts"]["minipool_manager"], s["contracts"]["network_penalties"]
    out = rpc(a.rpc, "eth_call", [{"to": mm, "data": encode("getMinipoolByPubkey(bytes)", s["pubkeys"][str(a.index)])},
                                  "latest"])
    minipool = "0x" + out[-40:]
    head = int(rpc(a.rpc, "eth_blockNumber", []), 16)
    if head < a.count:
        raise SystemExit(f"pools_devnet: block {head}: fewer past blocks than {a.count} penalties")
    for b in range(a.count):
        send(a.rpc, s["owner"], pen, encode("submitPenalty(address,uint256)", minipool, head - 1 - b))
    print(minipool)


def cmd_deploy_oracle(a):
    """PoolPerformanceOracle with the given reporters, and a StaderOracle
    stand-in that trusts them; prints both addresses."""
    owner = rpc(a.rpc, "eth_accounts", [])[0]
    reporters = a.reporters.split(",")
    perf, stader = deploy_all(a.rpc, owner, [
        ("PoolPerformanceOracle.sol", "PoolPerformanceOracle",
         ctor_args("constructor(address[])", "[" + ",".join(reporters) + "]")),
        ("Penalty.sol", "StaderOracle", ctor_args("constructor(address[],uint256)", "[" + ",".join(reporters) + "]",
                                                  a.stader_frequency)),
    ])
    print(perf, stader)


def cast_out(*args):
    return subprocess.run([CAST, *args], check=True, capture_output=True, text=True).stdout.strip()


def cmd_strikes_tree(a):
    """Publishes a CSM strikes tree as the performance oracle does: an
    OpenZeppelin StandardMerkleTree of (operator id, pubkey, strikes per
    frame, newest first), dumped as lido-oracle dumps it into --out under
    its CID, and its root and CID reported to the CSStrikes stand-in.
    --key INDEX:S,S,... (repeatable): a CSM key's strike list."""
    s = load(a)
    values = []
    for spec in a.key:
        index, strikes = spec.split(":")
        name, _ = operator_of(s, int(index))
        if name != "lido-csm":
            raise SystemExit(f"pools_devnet: validator {index} is {name}'s, not CSM's")
        values.append([0, s["pubkeys"][index].lower(), [int(x) for x in strikes.split(",")]])
    leaf = lambda v: cast_out("keccak", cast_out("keccak", cast_out(
        "abi-encode", "f(uint256,bytes,uint256[])", str(v[0]), v[1], "[" + ",".join(map(str, v[2])) + "]")))
    hashed = sorted((leaf(v), k) for k, v in enumerate(values))
    n = len(hashed)
    tree = [None] * (2 * n - 1)
    index = [0] * n
    for i, (h, k) in enumerate(hashed):
        tree[len(tree) - 1 - i] = h
        index[k] = len(tree) - 1 - i
    for i in range(len(tree) - 1 - n, -1, -1):
        lo, hi = sorted([tree[2 * i + 1], tree[2 * i + 2]])
        tree[i] = cast_out("keccak", "0x" + lo[2:] + hi[2:])
    root = tree[0]
    cid = "bafydevnet" + root[2:26]
    os.makedirs(a.out, exist_ok=True)
    dump = {"format": "standard-v1", "leafEncoding": ["uint256", "bytes", "uint256[]"], "tree": tree,
            "values": [{"treeIndex": index[k], "value": v} for k, v in enumerate(values)]}
    with open(os.path.join(a.out, cid), "w") as f:
        json.dump(dump, f, separators=(",", ":"), sort_keys=True)
    send(a.rpc, s["owner"], s["contracts"]["strikes"], calldata("processOracleReport(bytes32,string)", root, cid))
    print(root, cid)


def cmd_fund(a):
    """Sends --wei from the devnet's first account to --to."""
    owner = rpc(a.rpc, "eth_accounts", [])[0]
    h = rpc(a.rpc, "eth_sendTransaction", [{"from": owner, "to": a.to, "value": hex(int(a.wei))}])
    for _ in range(1200):
        if rpc(a.rpc, "eth_getTransactionReceipt", [h]):
            break
        time.sleep(0.05)
    print(h)


def main():
    global CAST
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deploy")
    d.add_argument("--rpc", required=True)
    d.add_argument("--bn", help="beacon node the keys of --range are read from")
    d.add_argument("--pubkeys", help="a file of public keys, one per line, instead of --bn")
    d.add_argument("--definitions", help="a validator_definitions.yml whose keys, in order, are --range's "
                   "(what `poolvc keys interop` writes), instead of --bn")
    d.add_argument("--per-operator", type=int, help="keys per operator (default: the e2e split of 32)")
    d.add_argument("--stader-presign", help="ENDPOINT,PEM: Stader entries register presigned exits there")
    d.add_argument("--cmv2", type=int, default=0, help="keys of a curated module v2 operator, after the split")
    d.add_argument("--range", required=True)
    d.add_argument("--out", required=True)
    for name in ("flip", "exit-lido", "exit-stader"):
        c = sub.add_parser(name)
        c.add_argument("--rpc", required=True)
        c.add_argument("--state", required=True)
        if name != "flip":
            c.add_argument("--index", type=int, required=True)
    o = sub.add_parser("deploy-oracle")
    o.add_argument("--rpc", required=True)
    o.add_argument("--reporters", required=True, help="comma-separated addresses")
    o.add_argument("--stader-frequency", type=int, default=8,
                   help="blocks between the StaderOracle's reportable blocks (50,400 on mainnet; the devnet's "
                        "Stader windows are 32 blocks)")
    sp = sub.add_parser("stader-penalty")
    sp.add_argument("--rpc", required=True)
    sp.add_argument("--state", required=True)
    sp.add_argument("--index", type=int, required=True)
    sp.add_argument("--wei", type=int, required=True)
    cb = sub.add_parser("csm-bond")
    cb.add_argument("--rpc", required=True)
    cb.add_argument("--state", required=True)
    cb.add_argument("--wei", type=int, required=True, help="the bond held")
    cb.add_argument("--locked", type=int, default=0, help="the bond locked")
    rp = sub.add_parser("rocket-penalty")
    rp.add_argument("--rpc", required=True)
    rp.add_argument("--state", required=True)
    rp.add_argument("--index", type=int, required=True)
    rp.add_argument("--count", type=int, required=True)
    t = sub.add_parser("strikes-tree")
    t.add_argument("--rpc", required=True)
    t.add_argument("--state", required=True)
    t.add_argument("--out", required=True, help="the directory the tree is written to, named by its CID")
    t.add_argument("--key", action="append", required=True, help="INDEX:STRIKES,... of a CSM key, newest first")
    f = sub.add_parser("fund")
    f.add_argument("--rpc", required=True)
    f.add_argument("--to", required=True)
    f.add_argument("--wei", required=True)
    a = p.parse_args()
    CAST = cast_bin()
    {"deploy": cmd_deploy, "flip": cmd_flip, "exit-lido": cmd_exit_lido, "exit-stader": cmd_exit_stader,
     "deploy-oracle": cmd_deploy_oracle, "fund": cmd_fund, "strikes-tree": cmd_strikes_tree,
     "stader-penalty": cmd_stader_penalty, "csm-bond": cmd_csm_bond, "rocket-penalty": cmd_rocket_penalty}[a.cmd](a)


if __name__ == "__main__":
    main()
