"""Differential check: the same InfluxQL against InfluxDB 1.6.7 and sediment.

    python3 tests/influxql_differential/diff.py INFLUX_URL SEDIMENT_URL tests/influxql_differential/queries.txt [load]

Both servers get the shared conformance datasets (`load`), then every query (one per line;
`EPOCH ` in front asks for epoch=s) runs on both and the normalised answers are compared the
way the shared suite compares goldens. Start InfluxDB 1.6.7 (Debian package `influxdb`) with
`../shared/conformance/influxql/local_influxd.py start`. Known, accepted differences: sample()
is random, EXPLAIN shows sediment's own plan, 1.6.7 drops the last integral window of all but
one series under GROUP BY time and tags, and sediment refuses more than a million GROUP BY
time buckets in a series where 1.6.7 answers them.
"""
import json, sys
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "conformance", "influxql"))
import requests, run, compare

influx, sed = sys.argv[1], sys.argv[2]
queries = [l.strip() for l in open(sys.argv[3]) if l.strip() and not l.startswith("#")]
s = requests.Session()
if len(sys.argv) > 4 and sys.argv[4] == "load":
    run.load(s, influx); run.load(s, sed)
bad = 0
for q in queries:
    params = {"db": "sed", "q": q}
    if q.startswith("EPOCH "):
        q = q[6:]; params = {"db": "sed", "q": q, "epoch": "s"}
    a = s.get(influx + "/query", params=params).json()
    b = s.get(sed + "/query", params=params).json()
    na, nb = compare.normalize(a, {}), compare.normalize(b, {})
    d = compare.diff(na, nb)
    if d:
        bad += 1
        print("DIFF", q, "\n   ", d[:400] if isinstance(d, str) else d)
        print("    influx:", json.dumps(a)[:500])
        print("    sed:   ", json.dumps(b)[:500])
print("%d of %d differ" % (bad, len(queries)))
