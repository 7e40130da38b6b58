"""The performance page (`/pool/`) in headless Chromium: renders it (the
page fetches /pool/v1/summary and draws), dumps the DOM and takes a
screenshot into RUN (test output, not the repository), and checks what an
operator would look at: every operator has a row, the CSM operator's
frame-2 bar is drawn below its threshold (red), and its keys are listed as
at risk.

Usage: e2e_perf_page.py URL RUN
Prints `page=ok` or the problem; exits 1 on a problem, 2 if Chromium is
missing (CI installs Debian's chromium; a skip is only allowed outside CI).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def main(url, run):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("page=no-chromium")
        return 1 if os.environ.get("CI") == "true" else 2
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--virtual-time-budget=8000", "--window-size=1280,900"]
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([chromium, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120).stdout
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *flags, f"--user-data-dir={profile}", f"--screenshot={run}/page.png", url],
                       capture_output=True, text=True, timeout=120)
    open(f"{run}/page-dom.html", "w").write(dom)
    problems = []
    if 'data-loaded="1"' not in dom:
        problems.append("the page did not load its data")
    rows = re.findall(r'<tr data-operator="([^"]+)"', dom)
    if len(rows) != 7:
        problems.append(f"{len(rows)} operator rows, want 7: {rows}")
    m = re.search(r'<tr data-operator="lido-csm/0">(.*?)</tr>', dom, re.S)
    if not m or not re.search(r'<rect[^>]*fill="#cf222e"[^>]*data-frame="2"', m.group(1)):
        problems.append("the CSM operator's frame-2 bar is not drawn below its threshold")
    risky = set(int(v) for v in re.findall(r'<tr data-validator="(\d+)"', dom))
    if not {52, 53, 54, 55} <= risky:
        problems.append(f"keys at risk listed: {sorted(risky)}, want 52..55 among them")
    if not os.path.exists(f"{run}/page.png") or os.path.getsize(f"{run}/page.png") < 1000:
        problems.append("no screenshot")
    for p in problems:
        print(p)
    print("page=ok" if not problems else "page=bad")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
