"""Many threads read at once (the GIL is released during lookups) while another pushes."""

import threading

import numpy as np
import pandas as pd

import larder

N = 2000
FEATURES = ["driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]


def generation(g):
    # Every row of generation g has acc_rate == g / 8 and avg_daily_trips == g: a reader that
    # ever saw a row mixing two generations would find them disagree.
    return pd.DataFrame({
        "driver_id": np.arange(N), "event_timestamp": pd.Timestamp("2026-01-01") + pd.Timedelta(g, "s"),
        "conv_rate": np.full(N, 0.5), "acc_rate": np.full(N, g / 8, dtype=np.float32),
        "avg_daily_trips": np.full(N, g), "top_cities": [[]] * N})


def test_concurrent_readers_and_a_writer(store, repo):
    store.push("driver_stats_push", generation(1))
    reader = larder.OnlineReader(repo[1])
    stop = threading.Event()
    errors = []
    lookups = [0] * 6

    def read(i, source):
        rng = np.random.default_rng(i)
        try:
            while not stop.is_set():
                keys = rng.integers(0, N, 256)
                resp = source.get_online_features(FEATURES, entities={"driver_id": keys})
                a = resp.to_numpy()
                assert (resp.statuses()["acc_rate"] == larder.FieldStatus.PRESENT).all()
                np.testing.assert_array_equal(a["acc_rate"] * 8, a["avg_daily_trips"])
                one = source.get_online_features(FEATURES, [{"driver_id": int(keys[0])}]).to_dict()
                assert one["acc_rate"][0] * 8 == one["avg_daily_trips"][0]
                lookups[i] += 1
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=read, args=(i, reader if i % 2 else store))
               for i in range(len(lookups))]
    for t in threads:
        t.start()
    try:
        for g in range(2, 40):
            store.push("driver_stats_push", generation(g))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert all(n > 0 for n in lookups), lookups
    final = store.get_online_features(FEATURES, entities={"driver_id": np.arange(N)}).to_numpy()
    assert (final["avg_daily_trips"] == 39).all()
    assert store.check().ok


def test_threads_each_get_their_own_reader_slot(store, repo):
    store.push("driver_stats_push", generation(1))
    reader = larder.OnlineReader(repo[1])
    barrier = threading.Barrier(8)
    results = []

    def read():
        barrier.wait()
        for _ in range(200):
            results.append(reader.get_online_features(FEATURES, [{"driver_id": 7}]).to_dict()[
                "avg_daily_trips"][0])

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1] * 1600


def test_every_request_sees_each_push_whole(store, repo):
    """Snapshot reads through Python: a push of N entities fans out to several views; every
    request (many entities, two views) sees it whole or not at all, never half applied."""

    def push(g):
        # One generation: every value of both read features is g.
        store.push("driver_stats_push", pd.DataFrame({
            "driver_id": np.arange(N),
            "event_timestamp": pd.Timestamp("2026-01-01") + pd.Timedelta(g, "s"),
            "conv_rate": np.full(N, g, dtype=np.float32), "acc_rate": np.full(N, 0.5),
            "avg_daily_trips": np.full(N, g), "top_cities": [[]] * N}))

    push(1)
    reader = larder.OnlineReader(repo[1])
    features = ["driver_hourly_stats:avg_daily_trips", "driver_daily_quality:conv_rate"]
    stop = threading.Event()
    errors, requests, newest = [], [0], [0]

    def read():
        rng = np.random.default_rng(3)
        try:
            while not stop.is_set():
                keys = rng.integers(0, N, 64)
                a = reader.get_online_features(features, entities={"driver_id": keys}).to_numpy()
                seen = np.concatenate([a["avg_daily_trips"], a["conv_rate"]])
                assert (seen == seen[0]).all(), f"a push half applied: {sorted(set(seen))}"
                requests[0] += 1
                newest[0] = max(newest[0], int(seen[0]))
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for g in range(2, 200):
            push(g)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[0]
    assert requests[0] > 0 and newest[0] > 1, (requests, newest)
