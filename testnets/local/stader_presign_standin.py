#!/usr/bin/env python3
"""A stand-in for Stader's presigned-exit backend (the API of stader-node's
`shared/utils/stader/pre-signed-flows.go` and of its own test backend,
`stader/node/node_test.go`), that checks what it is sent as strictly as
Stader would have to before relying on it:

- POST /presignsSubmitted {"pubKeys": [...]}  -> {pubkey: bool}
- POST /msgSubmitted {"validatorPublicKey"}   -> {"value": bool}
- POST /presigns [upload, ...]                -> {pubkey: {"success", "message"}}
- POST /presign upload                        -> {"success", "message"}
- GET  /publicKey                             -> {"value": base64(PEM)}

An upload's `signature` is base64 of RSA-OAEP (SHA-256, MGF1-SHA-256) of the
BLS signature's hex: it is decrypted with the private key by the openssl
command (another RSA implementation than poolvc's), and the signature is
verified with the consensus-specs pyspec (its BLS, and the voluntary exit's
signing root under the EIP-7044 domain: the Capella fork version and the
node's genesis validators root), the validator index checked against the
key on the beacon node. Only a message that passes is held.

Every upload is recorded, one JSON line each, in --out. With
--refuse-first N the first N upload requests are answered HTTP 503 (the
client must try again).

Run it with the pyspec's Python (testnets/specnode/.pyspec/bin/python).
"""
import argparse
import base64
import importlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True, help="the RSA private key (PEM)")
    ap.add_argument("--pub", required=True, help="its public key (PEM), served at /publicKey")
    ap.add_argument("--bn", required=True, help="the beacon node (fork versions, genesis root, validators)")
    ap.add_argument("--preset", default="minimal")
    ap.add_argument("--refuse-first", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    spec = importlib.import_module(f"eth_consensus_specs.capella.{a.preset}")
    get = lambda p: json.load(urllib.request.urlopen(a.bn + p, timeout=10))
    cfg, genesis = None, None
    for _ in range(120):
        try:
            cfg = get("/eth/v1/config/spec")["data"]
            genesis = get("/eth/v1/beacon/genesis")["data"]
            break
        except Exception:
            time.sleep(0.5)
    if genesis is None:
        raise SystemExit("stader_presign_standin: the beacon node did not answer")
    domain = spec.compute_domain(spec.DOMAIN_VOLUNTARY_EXIT, spec.Version(bytes.fromhex(cfg["CAPELLA_FORK_VERSION"][2:])),
                                 spec.Root(bytes.fromhex(genesis["genesis_validators_root"][2:])))
    held = {}
    lock = threading.Lock()
    refusals = [a.refuse_first]
    pub_pem = open(a.pub, "rb").read()

    def norm(k):
        return k.lower().removeprefix("0x")

    def check(u):
        """(ok, why) of one upload."""
        try:
            pk = bytes.fromhex(norm(u["validatorPublicKey"]))
            epoch, index = int(u["message"]["epoch"]), int(u["message"]["validator_index"])
            cipher = base64.b64decode(u["signature"], validate=True)
        except (KeyError, ValueError, TypeError) as e:
            return False, f"malformed upload: {e}"
        p = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", a.key, "-pkeyopt", "rsa_padding_mode:oaep",
                            "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"],
                           input=cipher, capture_output=True)
        if p.returncode != 0:
            return False, "the signature does not decrypt with Stader's key"
        try:
            sig = bytes.fromhex(p.stdout.decode())
        except ValueError:
            return False, "the decrypted signature is not hex"
        try:
            v = get(f"/eth/v1/beacon/states/head/validators/{index}")["data"]
        except Exception as e:
            return False, f"validator {index}: {e}"
        if norm(v["validator"]["pubkey"]) != pk.hex():
            return False, f"validator {index} is not this key"
        root = spec.compute_signing_root(spec.VoluntaryExit(epoch=epoch, validator_index=index), domain)
        if not spec.bls.Verify(pk, root, sig):
            return False, "the signature does not verify"
        return True, ""

    class H(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/publicKey":
                return self.answer(200, {"value": base64.b64encode(pub_pem).decode()})
            self.answer(404, {"error": "not found"})

        def do_POST(self):
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            except ValueError:
                return self.answer(400, {"error": "not JSON"})
            if self.path == "/presignsSubmitted":
                with lock:
                    return self.answer(200, {norm(k): norm(k) in held for k in body.get("pubKeys", [])})
            if self.path == "/msgSubmitted":
                with lock:
                    return self.answer(200, {"value": norm(body.get("validatorPublicKey", "")) in held})
            if self.path in ("/presigns", "/presign"):
                with lock:
                    if refusals[0] > 0:
                        refusals[0] -= 1
                        return self.answer(503, {"error": "unavailable (stand-in refusing on purpose)"})
                uploads = body if self.path == "/presigns" else [body]
                out = {}
                for u in uploads:
                    ok, why = check(u)
                    k = norm(str(u.get("validatorPublicKey", "")))
                    with lock:
                        if ok:
                            held[k] = u
                        with open(a.out, "a") as f:
                            f.write(json.dumps({"at": time.time(), "pubkey": k, "index": u.get("message", {}).get("validator_index"),
                                                "epoch": u.get("message", {}).get("epoch"), "verified": ok, "why": why}) + "\n")
                    out[k] = {"success": ok, "message": why}
                return self.answer(200, out if self.path == "/presigns" else next(iter(out.values())))
            self.answer(404, {"error": "not found"})

    open(a.out, "a").close()
    print(f"stader_presign_standin: listening on {a.port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", a.port), H).serve_forever()


if __name__ == "__main__":
    sys.exit(main())
