"""Loads both shared conformance datasets into a running sediment through the write API.

Every write must answer 204 and every loaded row must be countable over SQL afterwards.
So must every InfluxQL statement of the load plan (CREATE DATABASE, retention policies).
"""
import json
import os
import sys
import urllib.parse

import requests

base = sys.argv[1].rstrip("/")
shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "conformance")
failures = 0

sys.path.insert(0, os.path.join(shared, "influxql"))
import datasets  # noqa: E402

writes = 0
for kind, params, body in datasets.load_plan():
    if kind == "query":
        r = requests.post(base + "/query", data={"q": body}, timeout=60)
        errors = [res["error"] for res in r.json().get("results", []) if "error" in res] if r.ok else []
        if r.status_code != 200 or errors:
            failures += 1
            print("FAIL influxql load: %s -> %d %s" % (body, r.status_code, r.text[:200]))
        continue
    r = requests.post(base + "/write", params=params, data=body.encode("utf-8"), timeout=60)
    writes += 1
    if r.status_code != 204:
        failures += 1
        print("FAIL influxql load: write %s -> %d %s" % (urllib.parse.urlencode(params), r.status_code, r.text[:300]))
print("influxql dataset: %d writes" % writes)

sys.path.insert(0, os.path.join(shared, "pg"))
from harness import dataset  # noqa: E402

requests.post(base + "/query", data={"q": "CREATE DATABASE %s" % dataset.DB_NAME}, timeout=60)
lines = list(dataset.line_protocol_lines())
for i in range(0, len(lines), 2000):
    body = ("\n".join(lines[i:i + 2000]) + "\n").encode("utf-8")
    r = requests.post(base + "/write", params={"db": dataset.DB_NAME, "precision": "s"}, data=body, timeout=60)
    if r.status_code != 204:
        failures += 1
        print("FAIL pg dataset write -> %d %s" % (r.status_code, r.text[:300]))
want = {"cpu": dataset.N_HOSTS * dataset.CPU_POINTS, "mem": dataset.N_HOSTS * dataset.MEM_POINTS}
for table, n in want.items():
    r = requests.get(base + "/api/v3/query_sql", params={"db": dataset.DB_NAME, "q": "SELECT count(*) AS n FROM %s" % table}, timeout=60)
    got = r.json()[0]["n"] if r.status_code == 200 else r.text[:200]
    if got != n:
        failures += 1
        print("FAIL pg dataset: %s has %s rows, want %d" % (table, got, n))
print("pg dataset: %d lines" % len(lines))
print("conformance load: %s" % ("ok" if not failures else "%d failures" % failures))
sys.exit(1 if failures else 0)
