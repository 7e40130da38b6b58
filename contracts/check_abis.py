"""Checks that the devnet pool contracts expose exactly the ABI entries of the
real deployments that poolvc binds to.

Usage: check_abis.py POOL_ABIS_JSON... FORGE_OUT_DIR
(in any order: the one directory is forge's out dir, every file a list of entries)

For every entry of each POOL_ABIS_JSON (function or event: name, inputs and outputs
with their names, types, struct components and indexed flags, state
mutability), the compiled contract of the same name must have an identical
entry (Solidity's internal type names aside). Entries the real registries
share (`stader.NodeRegistry.*`) are checked on both Stader registries.
Prints one line per mismatch and a summary; exits 1 on any mismatch.
"""
import glob
import json
import os
import sys


def norm_param(p):
    out = {"name": p.get("name", ""), "type": p["type"]}
    if "indexed" in p:
        out["indexed"] = p["indexed"]
    if "components" in p:
        out["components"] = [norm_param(c) for c in p["components"]]
    return out


def norm(entry):
    out = {"type": entry["type"], "name": entry.get("name"), "inputs": [norm_param(p) for p in entry.get("inputs", [])]}
    if entry["type"] == "function":
        out["outputs"] = [norm_param(p) for p in entry.get("outputs", [])]
        out["stateMutability"] = entry.get("stateMutability")
    if entry["type"] == "event":
        out["anonymous"] = entry.get("anonymous", False)
    return out


def main(out_dir, abis_paths):
    wanted = []
    for path in abis_paths:
        wanted += json.load(open(path, encoding="utf-8"))
    compiled = {}
    for path in glob.glob(os.path.join(out_dir, "*.sol", "*.json")):
        name = os.path.splitext(os.path.basename(path))[0]
        compiled.setdefault(name, json.load(open(path, encoding="utf-8"))["abi"])
    bad = checked = 0
    for w in wanted:
        targets = [w["contract"]]
        if w["id"].startswith("stader.NodeRegistry."):
            targets.append("PermissionedNodeRegistry")
        for contract in targets:
            checked += 1
            abi = compiled.get(contract)
            if abi is None:
                print(f"check_abis: {w['id']}: no compiled contract {contract}")
                bad += 1
                continue
            want = norm(w["abi"])
            same_name = [norm(e) for e in abi if e.get("type") == want["type"] and e.get("name") == want["name"]]
            if want not in same_name:
                print(f"check_abis: {w['id']} on {contract}: expected {json.dumps(want)}; have {json.dumps(same_name)}")
                bad += 1
    print(f"check_abis: {checked - bad}/{checked} entries identical to the real contracts' ({len(wanted)} in {', '.join(abis_paths)})")
    return 1 if bad else 0


if __name__ == "__main__":
    dirs = [a for a in sys.argv[1:] if os.path.isdir(a)]
    files = [a for a in sys.argv[1:] if not os.path.isdir(a)]
    if len(dirs) != 1 or not files:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(dirs[0], files))
