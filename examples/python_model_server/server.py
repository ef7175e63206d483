#!/usr/bin/env python3
"""A model server that scores drivers with features read from Larder's shared memory.

    PYTHONPATH=build/python /usr/bin/python3 examples/python_model_server/server.py \
        --repo examples/driver_stats [--port 8000]
    curl -s localhost:8000/score -d '{"driver_ids": [1001, 1002, 9999]}'

The server attaches a read-only larder.OnlineReader to the store's segment (all it needs is the
path), reads the driver_hourly_stats features of every driver in a request in one
get_online_features call, straight into numpy, and scores them with a tiny linear model. Missing
features (an unknown driver, a null value) are imputed with the model's defaults, and the
response says which were. Requests are served by a thread pool: lookups release the GIL.

--bench N skips HTTP and times N requests of --batch drivers in a plain loop.
"""

import argparse
import json
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

import larder

FEATURES = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:acc_rate",
    "driver_hourly_stats:avg_daily_trips",
]


class DriverRanker:
    """score = bias + sum(weight * feature), on features read from an OnlineReader."""

    weights = np.array([2.0, 1.0, 0.01])       # conv_rate, acc_rate, avg_daily_trips
    bias = -1.0
    defaults = np.array([0.5, 0.5, 10.0])      # imputed when a feature has no value

    def __init__(self, reader):
        self.reader = reader

    def features(self, driver_ids):
        """(n x 3 float64 matrix, n x 3 bool matrix: True where the value was imputed)."""
        resp = self.reader.get_online_features(
            features=FEATURES, entities={"driver_id": np.asarray(driver_ids, dtype=np.int64)})
        values = resp.to_numpy()
        statuses = resp.statuses()
        names = [f.split(":")[1] for f in FEATURES]
        x = np.column_stack([values[n].astype(np.float64) for n in names])
        missing = np.column_stack([
            (statuses[n] != larder.FieldStatus.PRESENT)
            & (statuses[n] != larder.FieldStatus.OUTSIDE_MAX_AGE) for n in names])
        x[missing] = np.broadcast_to(self.defaults, x.shape)[missing]
        return x, missing

    def score(self, driver_ids):
        x, missing = self.features(driver_ids)
        scores = x @ self.weights + self.bias
        return [
            {"driver_id": int(d), "score": round(float(s), 6),
             "imputed": [f.split(":")[1] for f, m in zip(FEATURES, row) if m]}
            for d, s, row in zip(driver_ids, scores, missing)
        ]


def make_handler(ranker):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path == "/health":
                self._reply(200, {"status": "ok"})
            else:
                self._reply(404, {"error": "not found: try POST /score"})

        def do_POST(self):  # noqa: N802
            if self.path != "/score":
                self._reply(404, {"error": "not found: try POST /score"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                ids = body["driver_ids"]
                if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                    raise ValueError("driver_ids must be a list of integers")
            except (ValueError, KeyError) as e:
                self._reply(400, {"error": f"bad request: {e}"})
                return
            try:
                t0 = time.perf_counter_ns()
                scores = ranker.score(ids)
                micros = (time.perf_counter_ns() - t0) / 1000
            except larder.LarderError as e:
                self._reply(500, {"error": e.code, "message": e.message})
                return
            self._reply(200, {"scores": scores, "scoring_us": round(micros, 1)})

        def log_message(self, fmt, *args):
            if self.server.verbose:
                super().log_message(fmt, *args)

    return Handler


def make_server(reader, host="127.0.0.1", port=8000, verbose=False):
    server = ThreadingHTTPServer((host, port), make_handler(DriverRanker(reader)))
    server.daemon_threads = True
    server.verbose = verbose
    return server


def bench(reader, requests, batch):
    ranker = DriverRanker(reader)
    rng = np.random.default_rng(0)
    pool = [1001, 1002, 1003, 1004, 1005, 9999]
    times = []
    for _ in range(requests):
        ids = rng.choice(pool, batch).tolist()
        t0 = time.perf_counter_ns()
        ranker.score(ids)
        times.append(time.perf_counter_ns() - t0)
    print(f"{requests} requests of {batch} drivers: median {statistics.median(times) / 1000:.1f} us "
          f"per request (features + score + response objects)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--repo", help="a feature repo directory (its online_store.path is used)")
    where.add_argument("--segment", help="the segment path (default: /dev/shm/larder-driver_stats)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--bench", type=int, metavar="N", help="time N requests in a loop, no HTTP")
    ap.add_argument("--batch", type=int, default=8, help="drivers per --bench request")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = ap.parse_args()

    segment = args.segment or "/dev/shm/larder-driver_stats"
    try:
        if args.repo:  # its online_store.path, trusting its online_store.owner
            reader = larder.FeatureStore(repo_path=args.repo).online_reader()
        else:
            reader = larder.OnlineReader(segment)
    except larder.StoreNotFound as e:
        sys.exit(f"server.py: {e.message}\n(create it: cd examples/driver_stats && larder apply "
                 f"&& larder push driver_stats_push push_rows.csv)")
    if args.bench:
        bench(reader, args.bench, args.batch)
        return
    server = make_server(reader, args.host, args.port, args.verbose)
    print(f"scoring drivers from {segment} on http://{args.host}:{server.server_port}/score",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
