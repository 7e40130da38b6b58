"""Writes package.json with a yarn `resolutions` entry for every package that
the pinned yarn.lock resolves to exactly one version, so that yarn 1 (which
re-resolves a lockfile without download addresses) installs the versions the
lockfile was made with. Usage: pin-resolutions.py package.json yarn.lock > out"""
import json
import re
import sys

pkg = json.load(open(sys.argv[1], encoding="utf-8"))
versions = {}
for block in open(sys.argv[2], encoding="utf-8").read().split("\n\n"):
    lines = [l for l in block.strip().split("\n") if l and not l.startswith("#")]
    if not lines:
        continue
    m = re.search(r'^  version "([^"]+)"$', block, re.M)
    if not m:
        continue
    for spec in lines[0].rstrip(":").split(", "):
        name = spec.strip('"').rsplit("@", 1)[0]
        versions.setdefault(name, set()).add(m.group(1))
res = pkg.setdefault("resolutions", {})
# Platform builds are optional dependencies: pinning them would make them required.
platform = re.compile(r"-(android|darwin|win32|freebsd|linux|sunos|openbsd)-")
for name, vs in sorted(versions.items()):
    if len(vs) == 1 and name not in res and not platform.search(name):
        res[name] = next(iter(vs))
json.dump(pkg, sys.stdout, indent=2)
