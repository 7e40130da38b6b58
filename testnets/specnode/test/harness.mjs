// What specnode's strictness tests share: start a node, call its API, count
// checks, and expect an answer with the refusal it counts.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const hex = (b) => "0x" + Buffer.from(b).toString("hex");

export class Harness {
  /** Starts specnode with `args` (plus a fresh datadir and any free port). */
  constructor(name, args) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `specnode-${name}-`));
    this.node = spawn(process.execPath, [path.join(ROOT, "specnode.mjs"), ...args, "--port", "0", "--datadir", this.dir],
      { stdio: ["ignore", fs.openSync(path.join(this.dir, "node.log"), "w"), "inherit"] });
    this.bn = null;
    this.failed = 0;
  }

  /** Waits for the node's REST address in its log. */
  async started() {
    for (let i = 0; i < 120 && !this.bn; i++) {
      const m = /REST on (http:\/\/127\.0\.0\.1:\d+)/.exec(fs.readFileSync(path.join(this.dir, "node.log"), "utf8"));
      if (m) this.bn = m[1];
      else await sleep(250);
    }
    if (!this.bn) throw new Error("the node did not start");
    return this.bn;
  }

  check(ok, what) {
    console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
    if (!ok) this.failed++;
  }

  async call(method, route, body, headers = {}) {
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
      init.headers["content-type"] ??= "application/json";
    }
    const r = await fetch(this.bn + route, init);
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: r.status, json, text };
  }

  async refused() {
    return (await this.call("GET", "/specnode/refused")).json.by_reason;
  }

  /** Sends, and checks the answer's status and, for a refusal, the reason counted. */
  async expect(what, status, reason, send) {
    const before = await this.refused();
    const r = await send();
    const after = await this.refused();
    const counted = reason ? (after[reason] ?? 0) - (before[reason] ?? 0) : 0;
    const ok = r.status === status && (!reason || counted === 1);
    this.check(ok, `${what}: HTTP ${r.status}${reason ? `, "${reason}" counted ${counted}` : ""}${ok ? "" : ` (${r.text.slice(0, 200)})`}`);
  }

  /** Stops the node; prints the summary line; the exit code. */
  finish(name) {
    this.node.kill("SIGTERM");
    console.log(`${name}: ${this.failed === 0 ? "all checks passed" : `${this.failed} failed`} (node log ${path.join(this.dir, "node.log")})`);
    return this.failed === 0 ? 0 : 1;
  }
}

/** Replays the exported chain in `dir` in pyspec: its exit code and output. */
export function replay(dir) {
  const py = path.join(ROOT, ".pyspec", "bin", "python");
  try {
    return { code: 0, out: execFileSync(py, [path.join(ROOT, "replay.py"), dir], { encoding: "utf8" }) };
  } catch (e) {
    return { code: e.status, out: `${e.stdout}` };
  }
}
