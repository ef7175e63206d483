#!/usr/bin/env python3
"""Memory of `larder serve` under clients that ask for large replies and never read them.

Builds a store of ENTITIES entities (one view of 10 Float32 + 1 String features), starts two
servers on it, one with the default limits and one with the limits lifted (as before they
existed), and for each number of clients in CLIENTS opens that many connections to each server
in turn; every connection sends one /get-online-features request for ASK entities (all 11
features) and never reads. After the server has answered what it will (its queued-reply gauge
and answered-request count stop changing), the server's resident memory (VmRSS) is read from
/proc; then the clients close and the next step starts. Prints a markdown table.

  python3 bench/http/slow_clients.py                      # 100k entities, 1 8 32 clients
  CLIENTS="16 64 256" ASK=100000 python3 bench/http/slow_clients.py

Everything listens on 127.0.0.1 and stops when the script exits.
"""
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LARDER = os.environ.get("LARDER", os.path.join(ROOT, "build", "bin", "larder"))
ENTITIES = int(os.environ.get("ENTITIES", "100000"))
ASK = int(os.environ.get("ASK", "100000"))
CLIENTS = [int(c) for c in os.environ.get("CLIENTS", "1 8 32").split()]
LIFTED = ["--max-entities", "100000000", "--max-values", "10000000000",
          "--max-reply-bytes", "64GiB", "--max-queued-bytes", "1TiB"]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def http(port, raw):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(raw)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
        m = re.search(rb"Content-Length: (\d+)\r\n", out)
        head_end = out.find(b"\r\n\r\n")
        if m and head_end >= 0 and len(out) >= head_end + 4 + int(m.group(1)):
            break
    s.close()
    return out


def metrics(port):
    body = http(port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").decode()
    queued = int(re.search(r"\nlarder_http_queued_reply_bytes (\d+)", body).group(1))
    answered = sum(int(v) for v in re.findall(
        r'\nlarder_http_requests_total\{endpoint="/get-online-features",code="\d+"\} (\d+)', body))
    return queued, answered


def start_server(repo, extra):
    proc = subprocess.Popen([LARDER, "serve", "--repo", repo, "--port", "0", "--threads", "2"]
                            + extra, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    port = int(re.search(r":(\d+) \(repo", line).group(1))
    return proc, port


def measure(proc, port, clients, body):
    request = (b"POST /get-online-features HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
               + str(len(body)).encode() + b"\r\n\r\n" + body)
    _, answered_before = metrics(port)
    socks = []
    for _ in range(clients):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        socks.append(s)
    # Wait until every request was answered (or refused) and the queue is steady.
    deadline = time.time() + 300
    last = None
    while time.time() < deadline:
        queued, answered = metrics(port)
        if answered - answered_before >= clients and last == (queued, answered):
            break
        last = (queued, answered)
        time.sleep(0.5)
    rss = rss_mib(proc.pid)
    queued, _ = metrics(port)
    statuses = {}
    for s in socks:
        s.settimeout(0.2)
        try:
            head = s.recv(64)
            code = head[9:12].decode() if head.startswith(b"HTTP/1.1 ") else "?"
        except OSError:
            code = "?"
        statuses[code] = statuses.get(code, 0) + 1
        s.close()
    # Let the server free what the closed connections held.
    deadline = time.time() + 60
    while time.time() < deadline and metrics(port)[0] != 0:
        time.sleep(0.2)
    return rss, queued, statuses


def main():
    work = tempfile.mkdtemp(prefix="larder-slow-")
    segment = f"/dev/shm/larder-slowbench-{os.getpid()}"
    repo = os.path.join(work, "repo")
    os.makedirs(os.path.join(repo, "data"))
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        f.write(f"""project: slowbench
online_store:
  path: {segment}
  initial_capacity: {ENTITIES}
  memory_limit: 2GiB
entities:
  - {{name: entity, join_keys: [entity_id], value_type: Int64}}
sources:
  - {{name: bench_file, type: file, path: data/bench.csv, timestamp_field: event_timestamp}}
  - {{name: bench_push, type: push, batch_source: bench_file}}
feature_views:
  - name: bench
    entities: [entity]
    source: bench_push
    schema:
""" + "".join(f"      - {{name: f{i}, dtype: Float32}}\n" for i in range(10))
                + "      - {name: s, dtype: String}\n")
    rnd = random.Random(42)
    rows = os.path.join(work, "rows.csv")
    with open(rows, "w") as f:
        f.write("entity_id,event_timestamp," + ",".join(f"f{i}" for i in range(10)) + ",s\n")
        for i in range(1, ENTITIES + 1):
            vals = ",".join(f"{rnd.random():.4f}" for _ in range(10))
            f.write(f"{i},2026-11-02T09:00:00Z,{vals},city_{i % 1000}\n")
    servers = []
    try:
        subprocess.run([LARDER, "apply", "--repo", repo], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([LARDER, "push", "bench_push", rows, "--repo", repo], check=True,
                       stdout=subprocess.DEVNULL)
        ids = ",".join(str(rnd.randint(1, ENTITIES)) for _ in range(ASK))
        feats = ",".join(f'"bench:f{i}"' for i in range(10)) + ',"bench:s"'
        body = ('{"features":[' + feats + '],"entities":{"entity_id":[' + ids + ']}}').encode()
        configs = [("default limits", []), ("limits lifted", LIFTED)]
        for _, extra in configs:
            servers.append(start_server(repo, extra))
        print(f"store: {ENTITIES} entities; each client asks for {ASK} entities x 11 features "
              f"and never reads (request body {len(body) / 1e6:.1f} MB)\n")
        print("| clients | server | RSS idle (MiB) | RSS with the clients (MiB) | "
              "queued reply bytes | answers |")
        print("| --- | --- | --- | --- | --- | --- |")
        for clients in CLIENTS:
            for (label, _), (proc, port) in zip(configs, servers):
                idle = rss_mib(proc.pid)
                rss, queued, statuses = measure(proc, port, clients, body)
                answers = ", ".join(f"{n} x {c}" for c, n in sorted(statuses.items()))
                print(f"| {clients} | {label} | {idle:.0f} | {rss:.0f} | {queued} | {answers} |",
                      flush=True)
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait()
        subprocess.run([LARDER, "teardown", "--repo", repo], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
