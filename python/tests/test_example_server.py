"""The example model server (examples/python_model_server/server.py) against a test store."""

import importlib.util
import json
import os
import threading
import urllib.request

import pandas as pd

import larder

SERVER = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python_model_server",
                      "server.py")


def load_server_module():
    spec = importlib.util.spec_from_file_location("example_server", SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_server_scores_requests(store, repo):
    store.push("driver_stats_push", pd.DataFrame({
        "driver_id": [1001, 1002], "event_timestamp": pd.to_datetime(["2026-11-02"] * 2),
        "conv_rate": [0.91, 0.47], "acc_rate": [0.88, None], "avg_daily_trips": [27, 12],
        "top_cities": [[], []]}))
    server_mod = load_server_module()
    server = server_mod.make_server(larder.OnlineReader(repo[1]), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/score"
        req = urllib.request.Request(url, data=json.dumps({"driver_ids": [1001, 1002, 9999]})
                                     .encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.load(r)
        scores = {s["driver_id"]: s for s in body["scores"]}
        assert abs(scores[1001]["score"] - (2 * 0.91 + 0.88 + 0.27 - 1)) < 1e-6
        assert scores[1002]["imputed"] == ["acc_rate"]
        assert scores[9999]["imputed"] == ["conv_rate", "acc_rate", "avg_daily_trips"]
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/health") as r:
            assert json.load(r) == {"status": "ok"}
    finally:
        server.shutdown()
        server.server_close()
