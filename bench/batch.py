#!/usr/bin/env python3
"""bench/batch.py — POST /v1/sms/batches: how long a batch takes to be
accepted (the 202 comes once every message is on disk) and how much memory
the gateway needs for it, for 100,000 and 1,000,000 recipients.

    python3 bench/batch.py              # ~3 minutes; loopback only

Per size N: a fresh smsgw (temporary data folder, store.sync "always",
the simulator), a tenant and a test key; the body (RingCentral's shape,
one message per recipient, the text at the top) is written to a temporary
file and POSTed with curl. Measured: accept_s (curl's total time: upload,
parse, staging, checks, commit), the gateway's peak RSS (VmHWM) at the 202,
then the batch's progress through the pipeline for DELIVER_S seconds (or
until Completed): processed messages per second and the peak RSS by then.
One machine-readable line per size:

    batch n=… body_mb=… accept_s=… accept_rps=… rss_202_mib=… processed=… deliver_mps=… rss_peak_mib=…

Knobs (environment): BUILD_DIR=build SIZES=100000,1000000 DELIVER_S=60 KEEP=0,
EXTRA_CFG='store = { write_buffer_mb = 8; };' (appended to the gateway's config).
Stops by itself: every wait has a bound, and the gateway is stopped at the end.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD_DIR", "build")
BIN = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD), "smsgw")
SIZES = [int(x) for x in os.environ.get("SIZES", "100000,1000000").split(",")]
DELIVER_S = float(os.environ.get("DELIVER_S", "60"))
KEEP = os.environ.get("KEEP") == "1"
EXTRA_CFG = os.environ.get("EXTRA_CFG", "")
ADMIN = "sgw_" + "bc" * 16


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(port, method, path, key, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + key,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def hwm_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def write_body(path, n):
    with open(path, "w") as f:
        f.write('{"from": "+16505550100", "text": "Hello Team, this is the batch benchmark", '
                '"messages": [')
        for i in range(n):
            # ...0001: the simulator's plain story (sent, then delivered)
            f.write('%s{"to": ["+1%06d0001"]}' % ("," if i else "", i))
        f.write("]}")
    return os.path.getsize(path)


def start_gateway(cfg, data, log_path):
    """smsgw on a free port with config file cfg and data folder data, its
    output in log_path; waits (bounded) for /readyz. -> (proc, port, logf)"""
    port = free_port()
    env = dict(os.environ, SMSGW_LISTEN="127.0.0.1:%d" % port, SMSGW_DATA_DIR=data,
               SMSGW_ADMIN_KEY=ADMIN, SMSGW_CONFIG=cfg)
    logf = open(log_path, "wb")
    proc = subprocess.Popen([BIN], env=env, stdout=logf, stderr=logf)
    for _ in range(400):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2)
            break
        except OSError:
            time.sleep(0.05)
    return proc, port, logf


def stop_gateway(proc, logf):
    """SIGTERM, up to 60 s for the drain, then SIGKILL; closes its log."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    logf.close()


def run_size(n, work):
    data = os.path.join(work, "data-%d" % n)
    body = os.path.join(work, "body-%d.json" % n)
    cfg = os.path.join(work, "smsgw.cfg")
    with open(cfg, "w") as f:
        f.write('transport = { default_route = [ "sim" ]; };\n'
                'limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };\n'
                + EXTRA_CFG + "\n")
    size = write_body(body, n)
    proc, port, logf = start_gateway(cfg, data, os.path.join(work, "smsgw-%d.log" % n))
    try:
        tid = call(port, "POST", "/v1/tenants", ADMIN, {"name": "bench"})["id"]
        key = call(port, "POST", "/v1/apps/register", ADMIN,
                   {"name": "bench", "tenantId": tid, "mode": "test"})["apiKey"]
        rss0 = hwm_mib(proc.pid)
        log("N=%d: body %.1f MB, RSS before %.0f MiB; POST…" % (n, size / 1e6, rss0))
        out = subprocess.run(
            ["curl", "-s", "-o", "-", "-w", "\n%{http_code} %{time_total}", "-X", "POST",
             "http://127.0.0.1:%d/v1/sms/batches" % port, "-H", "Authorization: Bearer " + key,
             "-H", "Content-Type: application/json", "--data-binary", "@" + body],
            capture_output=True, text=True, timeout=900)
        text, _, tail = out.stdout.rpartition("\n")
        code, secs = tail.split()
        if code != "202":
            raise SystemExit("batch.py: N=%d answered %s: %s" % (n, code, text[:300]))
        accept_s = float(secs)
        bid = json.loads(text)["id"]
        rss202 = hwm_mib(proc.pid)
        log("N=%d: 202 after %.2f s, peak RSS %.0f MiB" % (n, accept_s, rss202))
        t0, processed = time.monotonic(), 0
        while time.monotonic() - t0 < DELIVER_S:
            b = call(port, "GET", "/v1/sms/batches/" + bid, key)
            processed = b["processedCount"]
            if b["status"] == "Completed":
                break
            time.sleep(1)
        took = time.monotonic() - t0
        peak = hwm_mib(proc.pid)
        log("N=%d: %d processed in %.0f s, peak RSS %.0f MiB" % (n, processed, took, peak))
        print("batch n=%d body_mb=%.1f accept_s=%.2f accept_rps=%.0f rss_202_mib=%.0f "
              "processed=%d deliver_mps=%.0f rss_peak_mib=%.0f"
              % (n, size / 1e6, accept_s, n / accept_s, rss202, processed, processed / took,
                 peak), flush=True)
    finally:
        stop_gateway(proc, logf)
        os.unlink(body)
        shutil.rmtree(data, ignore_errors=True)


def main():
    if not os.access(BIN, os.X_OK) or not shutil.which("curl"):
        raise SystemExit("batch.py: build first (cmake -B build && cmake --build build) and "
                         "install curl")
    work = tempfile.mkdtemp(prefix="smsgw-batch-bench.")
    try:
        for n in SIZES:
            run_size(n, work)
    finally:
        if KEEP:
            log("scratch kept in " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
