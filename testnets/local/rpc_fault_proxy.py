#!/usr/bin/env python3
"""A JSON-RPC proxy in front of anvil that injects faults, for poolvc's
pool e2e: what poolvc reads the pool contracts through.

  rpc_fault_proxy.py --listen PORT --upstream URL --mode-file FILE

The first word of FILE (read at every request) sets the mode:
  ok       pass everything through
  down     close the connection without an answer (an unreachable node)
  garbage  eth_call and eth_getProof answers are replaced by 0xdeadbeef
  revert   eth_call answers are a JSON-RPC revert (code 3, "execution reverted")
  chain    eth_chainId answers 0x1 (another chain than pools.yaml names)
  lie      a lying endpoint: the answers of the calls that name a fee
           recipient (Stader's socializing pool and operator vault, Rocket
           Pool's fee distributor) become 0x...dEaD; in eth_getProof answers every storage
           value is changed (+1) and every balance too; eth_getLogs answers
           get the forged logs of FILE.forge (a JSON list of log objects
           {address, topics, data}, placed in the last block asked)
Each request and the mode it met are counted in FILE.count (one line per mode).
"""
import argparse
import collections
import http.server
import json
import socket
import threading
import urllib.request

COUNTS = collections.Counter()
# getSocializingPoolAddress(uint8), nodeELRewardVaultByOperatorId(uint256),
# getProxyAddress(address): the answers that name where blocks pay.
RECIPIENT_CALLS = {"0x7526d429", "0x9344b242", "0xfa2a5b01"}
LOCK = threading.Lock()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--mode-file", required=True)
    a = p.parse_args()

    def mode():
        try:
            with open(a.mode_file) as f:
                return (f.read().split() or ["ok"])[0]
        except OSError:
            return "ok"

    def fault(m, item, answer):
        method = item.get("method")
        if m == "garbage" and method in ("eth_call", "eth_getProof") and "result" in answer:
            answer["result"] = "0xdeadbeef"
        elif m == "revert" and method == "eth_call":
            answer.pop("result", None)
            answer["error"] = {"code": 3, "message": "execution reverted", "data": "0x"}
        elif m == "chain" and method == "eth_chainId":
            answer["result"] = "0x1"
        elif m == "lie" and "result" in answer:
            answer["result"] = lie(method, item, answer["result"])
        return answer

    def lie(method, item, result):
        if method == "eth_call" and isinstance(result, str):
            data = ((item.get("params") or [{}])[0] or {}).get("data") or ""
            if data[:10] in RECIPIENT_CALLS:
                return "0x" + "0" * 24 + "000000000000000000000000000000000000dead"
            return result
        if method == "eth_getProof" and isinstance(result, dict):
            result["balance"] = hex(int(result.get("balance", "0x0"), 16) + 1)
            for sp in result.get("storageProof", []):
                sp["value"] = hex(int(sp.get("value", "0x0"), 16) + 1)
            return result
        if method == "eth_getLogs" and isinstance(result, list):
            try:
                with open(a.mode_file + ".forge") as f:
                    forged = json.load(f)
            except (OSError, ValueError):
                return result
            to_block = (item.get("params") or [{}])[0].get("toBlock", "0x0")
            # The real block's hash: only its receipts can tell the log is forged.
            q = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                            "params": [to_block, False]}).encode()
            with urllib.request.urlopen(urllib.request.Request(a.upstream, q, {"Content-Type": "application/json"}),
                                        timeout=30) as r:
                block_hash = (json.load(r).get("result") or {}).get("hash", "0x" + "ab" * 32)
            for n, l in enumerate(forged):
                result.append({**l, "blockNumber": to_block, "blockHash": block_hash,
                               "transactionHash": "0x" + "cd" * 32, "transactionIndex": "0x0",
                               "logIndex": hex(n), "removed": False})
            return result
        return result

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            m = mode()
            with LOCK:
                COUNTS[m] += 1
                with open(a.mode_file + ".count", "w") as f:
                    f.write("".join(f"{k} {v}\n" for k, v in sorted(COUNTS.items())))
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if m == "down":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            req = urllib.request.Request(a.upstream, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                answer = json.load(r)
            asked = json.loads(body)
            if isinstance(asked, list):
                by_id = {json.dumps(i.get("id")): i for i in asked}
                answer = [fault(m, by_id.get(json.dumps(x.get("id")), {}), x) for x in answer]
            else:
                answer = fault(m, asked, answer)
            out = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    http.server.ThreadingHTTPServer(("127.0.0.1", a.listen), H).serve_forever()


if __name__ == "__main__":
    main()
