#!/usr/bin/env python3
"""Load through livy-proxy with python-requests, as sparkmagic, pylivy and
Airflow's LivyHook do: each worker creates a batch (without a name), reads
it back and reads /version, in a loop, until stdin closes or --max is
reached. Prints "progress N" lines (N = operations done), then one JSON
summary line: {"ok": n, "failed": n, "errors": [...], "batches": [ids]}.
"""
import json
import sys
import threading

import requests

base = sys.argv[1]
workers = int(sys.argv[2])
max_ops = int(sys.argv[3])

lock = threading.Lock()
stop = threading.Event()
state = {"ok": 0, "failed": 0, "errors": [], "batches": []}


def record(ok, err=None, batch=None):
    with lock:
        if ok:
            state["ok"] += 1
        else:
            state["failed"] += 1
            if len(state["errors"]) < 10:
                state["errors"].append(err)
        if batch is not None:
            state["batches"].append(batch)
        n = state["ok"] + state["failed"]
        if n % 10 == 0:
            print("progress %d" % n, flush=True)
        if n >= max_ops:
            stop.set()


def check(resp, want):
    if resp.status_code != want:
        raise RuntimeError("%s %s: %d %s" % (resp.request.method, resp.request.url, resp.status_code, resp.text[:200]))
    return resp


def worker():
    s = requests.Session()
    s.headers["X-Requested-By"] = "load.py"
    while not stop.is_set():
        try:
            r = check(s.post(base + "/batches", json={"file": "local:/opt/job.jar", "className": "Job"}, timeout=120), 201)
            bid = r.json()["id"]
            record(True, batch=bid)
            check(s.get(base + "/batches/%d" % bid, timeout=120), 200)
            record(True)
            check(s.get(base + "/version", timeout=120), 200)
            record(True)
        except Exception as e:  # any failure counts
            record(False, err=str(e))


def wait_stdin():
    sys.stdin.read()
    stop.set()


threading.Thread(target=wait_stdin, daemon=True).start()
threads = [threading.Thread(target=worker) for _ in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(state), flush=True)
