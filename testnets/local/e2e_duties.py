"""Records, from the beacon node's own duties API, the attester and sync
duties of validators FIRST..LAST for every epoch of the run (the node answers
only for the current and next epoch, so this polls). Runs until killed.
Usage: e2e_duties.py BN_URL FIRST LAST OUTDIR"""
import json
import os
import sys
import time
import urllib.request

bn, first, last, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.makedirs(out, exist_ok=True)
ids = json.dumps([str(i) for i in range(first, last + 1)]).encode()


def post(path):
    req = urllib.request.Request(bn + path, data=ids, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


while True:
    try:
        with urllib.request.urlopen(bn + "/eth/v1/beacon/headers/head", timeout=10) as r:
            epoch = int(json.load(r)["data"]["header"]["message"]["slot"]) // 8
        for e in (epoch, epoch + 1):
            for kind in ("attester", "sync"):
                f = os.path.join(out, f"{kind}-{e}.json")
                if not os.path.exists(f):
                    d = post(f"/eth/v1/validator/duties/{kind}/{e}")
                    with open(f + ".tmp", "w") as fh:
                        json.dump(d, fh)
                    os.replace(f + ".tmp", f)
    except Exception as exc:  # the node may be starting or busy; try again
        print("duties poller:", exc, file=sys.stderr)
    time.sleep(3)
