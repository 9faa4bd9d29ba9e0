#!/usr/bin/env python3
"""TSBS cpu-only, side by side: sediment, InfluxDB 1.x and DuckDB on the same data.

1. Generates TSBS's cpu-only data deterministically (hosts x days, one point per
   host every 10 s; ten fields that are TSBS's clamped random walks truncated to
   whole numbers, written as floats) and caches it under target/tsbs/.
2. Starts each server on loopback in a fresh temporary directory and loads the
   data over HTTP line protocol (/write, fsync'd before the 204) with several
   concurrent writers: rows per second.
3. Restarts it (sediment persists its buffer to Parquet on shutdown; InfluxDB is
   left to snapshot and compact to TSM) and measures bytes on disk per row.
4. Times the nine TSBS query types: sediment over InfluxQL (/query), SQL over HTTP
   (/api/v3/query_sql) and SQL over the Postgres wire; InfluxDB over InfluxQL;
   DuckDB reading sediment's Parquet files. Cold is the first query after a
   restart (a new connection for DuckDB); warm is the median and p95 of later
   runs over varied parameters. Every answer is compared with the reference's.
5. The dashboard query (one host, last hour, 1-minute buckets) from 16
   concurrent clients, each its own process and connection: p50 and p99.

Only processes this script started are ever signalled.
"""
import argparse
import datetime as dt
import http.client
import json
import math
import multiprocessing
import os
import queue
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

T0 = dt.datetime(2016, 1, 1, tzinfo=dt.timezone.utc)
EPOCH0 = int(T0.timestamp())
STEP_S = 10
DB = "benchmark"
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
          "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
REGIONS = [
    ("us-east-1", ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"]),
    ("us-west-1", ["us-west-1a", "us-west-1b"]),
    ("us-west-2", ["us-west-2a", "us-west-2b", "us-west-2c"]),
    ("eu-west-1", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("eu-central-1", ["eu-central-1a", "eu-central-1b"]),
    ("ap-southeast-1", ["ap-southeast-1a", "ap-southeast-1b"]),
    ("ap-southeast-2", ["ap-southeast-2a", "ap-southeast-2b"]),
    ("ap-northeast-1", ["ap-northeast-1a", "ap-northeast-1c"]),
    ("sa-east-1", ["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
]
QUERY_TYPES = ["single-groupby-1-1-1", "single-groupby-5-1-12", "cpu-max-all-1", "double-groupby-1",
               "double-groupby-all", "high-cpu-1", "high-cpu-all", "lastpoint", "groupby-orderby-limit"]
SCAN_HEAVY = ["double-groupby-all", "high-cpu-all", "groupby-orderby-limit"]


# ---------------------------------------------------------------- data

def generate(hosts, days, seed, path, full_precision=False):
    """Writes the line protocol, in TSBS's order (every host at one time, then the next time).

    TSBS writes its random walks truncated to whole numbers; `full_precision` writes
    them as they are (as influxdb-comparisons did), which no lossless encoding can
    store in much under 6 bytes a value."""
    rng = random.Random(seed)
    prefixes, walks = [], []
    for h in range(hosts):
        region, dcs = REGIONS[rng.randrange(len(REGIONS))]
        tags = [("hostname", "host_%d" % h), ("region", region), ("datacenter", rng.choice(dcs)),
                ("rack", str(rng.randrange(100))), ("os", rng.choice(["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"])),
                ("arch", rng.choice(["x64", "x86"])), ("team", rng.choice(["SF", "NYC", "LON", "CHI"])),
                ("service", str(rng.randrange(20))), ("service_version", str(rng.randrange(2))),
                ("service_environment", rng.choice(["production", "staging", "test"]))]
        prefixes.append("cpu," + ",".join("%s=%s" % kv for kv in tags) + " ")
        walks.append([rng.random() * 100.0 for _ in FIELDS])
    ticks = days * 86400 // STEP_S
    gauss = rng.gauss
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        for t in range(ticks):
            ts = " %d\n" % ((EPOCH0 + t * STEP_S) * 1_000_000_000)
            lines = []
            for h in range(hosts):
                walk = walks[h]
                parts = []
                for i, name in enumerate(FIELDS):
                    v = walk[i] + gauss(0.0, 1.0)
                    v = 0.0 if v < 0.0 else 100.0 if v > 100.0 else v
                    walk[i] = v
                    parts.append("%s=%r" % (name, v) if full_precision else "%s=%d" % (name, int(v)))
                lines.append(prefixes[h] + ",".join(parts) + ts)
            out.write("".join(lines))
    os.replace(tmp, path)


def batches(path, size):
    out, lines = [], []
    with open(path, "rb") as f:
        for line in f:
            lines.append(line)
            if len(lines) == size:
                out.append(b"".join(lines))
                lines = []
    if lines:
        out.append(b"".join(lines))
    return out


# ---------------------------------------------------------------- servers

def wait_http(port, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("%s exited early with %s" % (what, proc.returncode))
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/ping")
            if c.getresponse().status == 204:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("%s did not answer /ping" % what)


def stop(proc, timeout=300):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Sediment:
    name = "sediment"

    def __init__(self, binary, root):
        self.binary, self.root, self.proc = binary, root, None

    def start(self):
        addr = os.path.join(self.root, "addr.json")
        if os.path.exists(addr):
            os.remove(addr)
        log = open(os.path.join(self.root, "sediment.log"), "a")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", os.path.join(self.root, "data"), "--http-bind", "127.0.0.1:0",
             "--pg-bind", "127.0.0.1:0", "--addr-file", addr, "--log-filter", "warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        while not os.path.exists(addr):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("sediment did not start; see %s/sediment.log" % self.root)
            time.sleep(0.05)
        time.sleep(0.05)
        a = json.load(open(addr))
        self.http_port = int(a["http"].rsplit(":", 1)[1])
        self.pg_port = int(a["pg"].rsplit(":", 1)[1])
        wait_http(self.http_port, self.proc, "sediment")

    def stop(self):
        stop(self.proc)

    def disk_bytes(self):
        return dir_bytes(os.path.join(self.root, "data", "data"), ".parquet")

    def parquet_glob(self):
        return os.path.join(self.root, "data", "data", DB, "cpu", "*", "*.parquet")


class Influx:
    name = "influxdb"
    CONFIG = """
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "{cold}"
  compact-full-write-cold-duration = "{cold}"
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[logging]
  level = "warn"
[continuous_queries]
  enabled = false
"""

    def __init__(self, root):
        self.root, self.http_port, self.rpc, self.proc = root, free_port(), free_port(), None
        self.cold = "10m"

    def start(self):
        conf = os.path.join(self.root, "influxdb.conf")
        with open(conf, "w") as f:
            f.write(self.CONFIG.format(root=self.root, port=self.http_port, rpc=self.rpc, cold=self.cold))
        log = open(os.path.join(self.root, "influxd.log"), "a")
        self.proc = subprocess.Popen(["influxd", "run", "-config", conf], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        wait_http(self.http_port, self.proc, "influxd", timeout=300)

    def stop(self):
        stop(self.proc)

    def disk_bytes(self):
        return dir_bytes(os.path.join(self.root, "data"), ".tsm")

    def compact(self):
        """Restarts with short cold durations and waits until the cache is snapshotted into TSM and compacted."""
        self.stop()
        self.cold = "2s"
        self.start()
        last, stable = -1, 0
        for _ in range(600):
            time.sleep(1)
            size = self.disk_bytes()
            stable = stable + 1 if size == last and size > 0 else 0
            last = size
            if stable >= 8:
                break
        self.stop()
        self.cold = "10m"


def free_port():
    """A loopback port nobody listens on now (influxd cannot be given port 0)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dir_bytes(path, suffix=""):
    """Bytes of the files under `path` whose names end with `suffix`."""
    total = 0
    for base, _, files in os.walk(path):
        for f in files:
            if f.endswith(suffix):
                total += os.path.getsize(os.path.join(base, f))
    return total


# ---------------------------------------------------------------- load

def load(port, data, writers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request("POST", "/query", urllib.parse.urlencode({"q": "CREATE DATABASE " + DB}),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit("CREATE DATABASE answered %d" % r.status)
    work = queue.Queue()
    for b in data:
        work.put(b)
    errors = []

    def writer():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            while True:
                c.request("POST", "/write?db=%s&precision=ns" % DB, body)
                resp = c.getresponse()
                text = resp.read()
                if resp.status == 204:
                    break
                if resp.status in (429, 503):
                    time.sleep(float(resp.getheader("Retry-After") or 1))
                    continue
                errors.append("%d %s" % (resp.status, text[:300]))
                return

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit("load failed: %s" % errors[0])
    return elapsed


# ---------------------------------------------------------------- queries

def iso(s):
    return dt.datetime.fromtimestamp(s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sqlts(s):
    return "TIMESTAMP '%s'" % dt.datetime.fromtimestamp(s, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def query_params(kind, rng, hosts, days):
    """One parameter set: TSBS's random host and random window inside the data."""
    span = days * 86400
    window = {"single-groupby-1-1-1": 3600, "single-groupby-5-1-12": 12 * 3600, "cpu-max-all-1": 8 * 3600,
              "double-groupby-1": 12 * 3600, "double-groupby-all": 12 * 3600, "high-cpu-1": 12 * 3600,
              "high-cpu-all": 12 * 3600, "groupby-orderby-limit": 3600, "lastpoint": 0}[kind]
    start = EPOCH0 + rng.randrange(0, max(1, span - window))
    return {"host": "host_%d" % rng.randrange(hosts), "start": start, "end": start + window}


def texts(kind, p):
    """(InfluxQL, SQL for sediment, SQL for DuckDB, answer shape) of one query."""
    h, s, e = p["host"], p["start"], p["end"]
    tw = "time >= '%s' AND time < '%s'" % (iso(s), iso(e))
    sw = "time >= %s AND time < %s" % (sqlts(s), sqlts(e))

    def agg(fn, fields, bucket, per_host, host):
        q_sel = ", ".join("%s(%s)" % (fn, f) for f in fields)
        s_fn = "avg" if fn == "mean" else fn
        s_sel = ", ".join("%s(%s) AS %s_%s" % (s_fn, f, fn, f) for f in fields)
        hw_q = "hostname = '%s' AND " % host if host else ""
        by_q = "time(%s)%s" % (bucket, ", hostname" if per_host else "")
        influxql = "SELECT %s FROM cpu WHERE %s%s GROUP BY %s" % (q_sel, hw_q, tw, by_q)
        unit = {"1m": "minute", "1h": "hour"}[bucket]
        tag = "hostname, " if per_host else ""
        grp = "1, 2" if per_host else "1"
        sql = ("SELECT %sdate_bin(INTERVAL '1 %s', time) AS t, %s FROM cpu WHERE %s%s GROUP BY %s ORDER BY %s"
               % (tag, unit, s_sel, hw_q, sw, grp, grp))
        duck = ("SELECT %sdate_trunc('%s', time) AS t, %s FROM cpu WHERE %s%s GROUP BY %s ORDER BY %s"
                % (tag, unit, s_sel, hw_q, sw, grp, grp))
        return influxql, sql, duck, ("agg", per_host)

    if kind == "single-groupby-1-1-1":
        return agg("max", FIELDS[:1], "1m", False, h)
    if kind == "single-groupby-5-1-12":
        return agg("max", FIELDS[:5], "1m", False, h)
    if kind == "cpu-max-all-1":
        return agg("max", FIELDS, "1h", False, h)
    if kind == "double-groupby-1":
        return agg("mean", FIELDS[:1], "1h", True, None)
    if kind == "double-groupby-all":
        return agg("mean", FIELDS, "1h", True, None)
    if kind in ("high-cpu-1", "high-cpu-all"):
        hw = " AND hostname = '%s'" % h if kind == "high-cpu-1" else ""
        influxql = "SELECT * FROM cpu WHERE usage_user > 90.0%s AND %s" % (hw, tw)
        sql = "SELECT * FROM cpu WHERE usage_user > 90.0%s AND %s" % (hw, sw)
        return influxql, sql, sql, ("raw", None)
    if kind == "lastpoint":
        influxql = 'SELECT * FROM cpu GROUP BY "hostname" ORDER BY time DESC LIMIT 1'
        sql = "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC"
        return influxql, sql, sql, ("raw", None)
    if kind == "groupby-orderby-limit":
        # TSBS's InfluxQL leaves out ORDER BY time DESC, which answers the first five
        # minutes of the data instead of the five before the end it draws.
        influxql = ("SELECT max(usage_user) FROM cpu WHERE time < '%s' GROUP BY time(1m) ORDER BY time DESC LIMIT 5"
                    % iso(e))
        sql = ("SELECT date_bin(INTERVAL '1 minute', time) AS t, max(usage_user) AS m FROM cpu WHERE time < %s "
               "GROUP BY 1 ORDER BY 1 DESC LIMIT 5" % sqlts(e))
        duck = ("SELECT date_trunc('minute', time) AS t, max(usage_user) AS m FROM cpu WHERE time < %s "
                "GROUP BY 1 ORDER BY 1 DESC LIMIT 5" % sqlts(e))
        return influxql, sql, duck, ("agg", False)
    raise ValueError(kind)


def seconds(v):
    if isinstance(v, (int, float)):
        return int(v // 1_000_000_000) if abs(v) > 1e12 else int(v)
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    if hasattr(v, "to_pydatetime"):
        v = v.to_pydatetime()
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.timezone.utc)
    return int(v.timestamp())


def num(v):
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return round(float(v), 6)


def canon_rows(rows, shape):
    """rows: list of dicts (named) or tuples (positional: [tag,] time, values…) → sorted tuples."""
    kind, per_host = shape
    out = []
    for r in rows:
        if kind == "raw":
            out.append((r["hostname"], seconds(r["time"])) + tuple(num(r[f]) for f in FIELDS))
        else:
            r = list(r)
            head = (r.pop(0),) if per_host else ()
            values = tuple(num(v) for v in r[1:])
            # InfluxQL's fill(null) answers empty buckets, which SQL leaves out.
            if all(v is None for v in values):
                continue
            out.append(head + (seconds(r[0]),) + values)
    out.sort(key=lambda t: tuple((x is None, x) for x in t))
    return out


class HttpClient:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def get(self, path):
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError("%d %s" % (r.status, body[:300]))
        return body


def influxql_runner(port):
    client = HttpClient(port)

    def run(q, shape):
        body = json.loads(client.get("/query?" + urllib.parse.urlencode({"db": DB, "q": q, "epoch": "ns"})))
        res = body["results"][0]
        if "error" in res:
            raise RuntimeError(res["error"])
        rows = []
        for series in res.get("series", []):
            tags = series.get("tags", {})
            for values in series["values"]:
                if shape[0] == "raw":
                    rows.append({**tags, **dict(zip(series["columns"], values))})
                else:
                    rows.append(([tags["hostname"]] if shape[1] else []) + values)
        return rows
    return run


def sql_http_runner(port):
    client = HttpClient(port)

    def run(q, shape):
        body = json.loads(client.get("/api/v3/query_sql?" + urllib.parse.urlencode({"db": DB, "q": q})))
        return body if shape[0] == "raw" else [list(r.values()) for r in body]
    return run


def pg_runner(port):
    import psycopg
    conn = psycopg.connect("host=127.0.0.1 port=%d dbname=%s user=bench" % (port, DB), autocommit=True)

    def run(q, shape):
        cur = conn.execute(q)
        rows = cur.fetchall()
        if shape[0] == "raw":
            names = [d.name for d in cur.description]
            return [dict(zip(names, r)) for r in rows]
        return [list(r) for r in rows]
    return run


def duck_runner(glob):
    import duckdb
    conn = duckdb.connect()
    conn.execute("SET threads = 2")
    conn.execute("CREATE VIEW cpu AS SELECT * FROM read_parquet('%s')" % glob)

    def run(q, shape):
        cur = conn.execute(q)
        rows = cur.fetchall()
        if shape[0] == "raw":
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in rows]
        return [list(r) for r in rows]
    return run


def pick(texts_, lang):
    return {"influxql": texts_[0], "sql": texts_[1], "duck": texts_[2]}[lang]


def time_query(runner, lang, kind, params, runs):
    """(cold seconds, warm seconds…, canonical answers by parameter index)."""
    answers = {}
    t = texts(kind, params[0])
    start = time.perf_counter()
    rows = runner(pick(t, lang), t[3])
    cold = time.perf_counter() - start
    answers[0] = canon_rows(rows, t[3])
    for i, p in enumerate(params):  # warm-up, and the answers to compare
        t = texts(kind, p)
        answers[i] = canon_rows(runner(pick(t, lang), t[3]), t[3])
    warm = []
    for _ in range(runs):
        for p in params:
            t = texts(kind, p)
            start = time.perf_counter()
            runner(pick(t, lang), t[3])
            warm.append(time.perf_counter() - start)
    return cold, warm, answers


def pct(values, q):
    values = sorted(values)
    k = max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))
    return values[k]


# ---------------------------------------------------------------- dashboard

def dashboard_worker(args):
    target, port, queries, seconds_, barrier_at = args
    if target == "influxql":
        run = influxql_runner(port)
    elif target == "sql":
        run = sql_http_runner(port)
    else:
        run = pg_runner(port)
    shape = ("agg", False)
    while time.time() < barrier_at:
        time.sleep(0.001)
    lat, i = [], 0
    end = time.time() + seconds_
    while time.time() < end:
        q = queries[i % len(queries)]
        i += 1
        s = time.perf_counter()
        run(q, shape)
        lat.append(time.perf_counter() - s)
    return lat


def dashboard(target, lang, port, hosts, days, clients, seconds_):
    last = EPOCH0 + days * 86400
    queries = []
    for h in range(min(hosts, 50)):
        t = texts("single-groupby-1-1-1", {"host": "host_%d" % h, "start": last - 3600, "end": last})
        queries.append(pick(t, lang))
    at = time.time() + 2.0
    with multiprocessing.Pool(clients) as pool:
        parts = pool.map(dashboard_worker, [(target, port, queries[i:] + queries[:i], seconds_, at)
                                            for i in range(clients)])
    lat = [x for p in parts for x in p]
    return {"queries": len(lat), "qps": len(lat) / seconds_, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}


# ---------------------------------------------------------------- main

def fmt_ms(s):
    if s is None:
        return "–"
    ms = s * 1000
    return "%.2f" % ms if ms < 10 else "%.1f" % ms if ms < 100 else "%.0f" % ms


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sediment", default="target/release/sediment")
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--full-precision", action="store_true",
                    help="field values as float64 random walks, not TSBS's whole numbers")
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--params", type=int, default=10, help="parameter sets per query type")
    ap.add_argument("--runs", type=int, default=2, help="timed passes over the parameter sets")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--dashboard-seconds", type=float, default=10)
    ap.add_argument("--queries", default=",".join(QUERY_TYPES))
    ap.add_argument("--skip", default="", help="comma list of: sediment, influxdb, duckdb (needs sediment), dashboard")
    ap.add_argument("--out", default="target/tsbs/results.json")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    kinds = [k for k in args.queries.split(",") if k]

    os.makedirs("target/tsbs", exist_ok=True)
    data_path = "target/tsbs/cpu-only-h%d-d%d-s%d%s.lp" % (
        args.hosts, args.days, args.seed, "-full" if args.full_precision else "")
    if not os.path.exists(data_path):
        t = time.time()
        generate(args.hosts, args.days, args.seed, data_path, args.full_precision)
        print("generated %s in %.0f s" % (data_path, time.time() - t), flush=True)
    data = batches(data_path, args.batch_size)
    rows = args.hosts * args.days * 86400 // STEP_S
    rng = random.Random(args.seed + 1)
    params = {k: [query_params(k, rng, args.hosts, args.days) for _ in range(args.params)] for k in kinds}
    results = {"hosts": args.hosts, "days": args.days, "rows": rows, "full_precision": args.full_precision, "writers": args.writers,
               "batch_size": args.batch_size, "load": {}, "bytes_per_row": {}, "queries": {}, "dashboard": {},
               "mismatches": []}

    def record(system, kind, cold, warm):
        results["queries"].setdefault(kind, {})[system] = {
            "cold": cold, "median": statistics.median(warm), "p95": pct(warm, 0.95)}
        print("  %-24s %-18s cold %8s ms  warm median %8s ms  p95 %8s ms" % (
            kind, system, fmt_ms(cold), fmt_ms(statistics.median(warm)), fmt_ms(pct(warm, 0.95))), flush=True)

    reference = {}

    def check(system, kind, answers):
        ref = reference.setdefault(kind, (system, answers))
        for i, a in answers.items():
            if a != ref[1].get(i):
                msg = "%s %s params %d: %d rows differ from %s's %d rows" % (
                    system, kind, i, len(a), ref[0], len(ref[1].get(i) or []))
                results["mismatches"].append(msg)
                print("  MISMATCH " + msg, flush=True)
                diff = [r for r in a if r not in (ref[1].get(i) or [])][:2]
                print("    e.g. %s" % diff, flush=True)
                break

    def load_and_measure(system, server, settle, files):
        """Starts `server`, loads the data, `settle`s it to its files on disk (and stopped)."""
        server.start()
        print("%s: loading %d rows" % (system, rows), flush=True)
        elapsed = load(server.http_port, data, args.writers)
        results["load"][system] = rows / elapsed
        print("  %.0f rows/s" % (rows / elapsed), flush=True)
        settle()
        results["bytes_per_row"][system] = server.disk_bytes() / rows
        print("  %.1f bytes/row in %s files" % (server.disk_bytes() / rows, files), flush=True)

    work = tempfile.mkdtemp(prefix="tsbs-")
    try:
        # InfluxDB first: it is the reference answers are checked against.
        if "influxdb" not in skip and shutil.which("influxd"):
            root = os.path.join(work, "influxdb")
            os.makedirs(root)
            influx = Influx(root)
            load_and_measure("influxdb", influx, influx.compact, "TSM")
            for kind in kinds:
                influx.start()
                cold, warm, answers = time_query(influxql_runner(influx.http_port), "influxql", kind, params[kind],
                                                 args.runs)
                record("influxdb", kind, cold, warm)
                check("influxdb", kind, answers)
                influx.stop()
            if "dashboard" not in skip:
                influx.start()
                d = dashboard("influxql", "influxql", influx.http_port, args.hosts, args.days, args.clients,
                              args.dashboard_seconds)
                results["dashboard"]["influxdb"] = d
                print("  dashboard x%d: p50 %s ms p99 %s ms (%.0f q/s)" % (
                    args.clients, fmt_ms(d["p50"]), fmt_ms(d["p99"]), d["qps"]), flush=True)
                influx.stop()
            shutil.rmtree(root, ignore_errors=True)

        if "sediment" not in skip:
            root = os.path.join(work, "sediment")
            os.makedirs(root)
            sed = Sediment(os.path.abspath(args.sediment), root)
            load_and_measure("sediment", sed, sed.stop, "Parquet")
            frontends = [("sediment-influxql", "influxql", lambda: influxql_runner(sed.http_port)),
                         ("sediment-sql-http", "sql", lambda: sql_http_runner(sed.http_port)),
                         ("sediment-sql-pg", "sql", lambda: pg_runner(sed.pg_port))]
            for kind in kinds:
                for system, lang, make in frontends:
                    sed.start()
                    cold, warm, answers = time_query(make(), lang, kind, params[kind], args.runs)
                    record(system, kind, cold, warm)
                    check(system, kind, answers)
                    sed.stop()
            if "dashboard" not in skip:
                sed.start()
                for system, lang, port in [("sediment-influxql", "influxql", sed.http_port),
                                           ("sediment-sql-http", "sql", sed.http_port),
                                           ("sediment-sql-pg", "pg", sed.pg_port)]:
                    d = dashboard(lang, "influxql" if lang == "influxql" else "sql", port, args.hosts, args.days,
                                  args.clients, args.dashboard_seconds)
                    results["dashboard"][system] = d
                    print("  %s dashboard x%d: p50 %s ms p99 %s ms (%.0f q/s)" % (
                        system, args.clients, fmt_ms(d["p50"]), fmt_ms(d["p99"]), d["qps"]), flush=True)
                sed.stop()

            if "duckdb" not in skip:
                try:
                    import duckdb  # noqa: F401
                except ImportError:
                    skip.add("duckdb")
            if "duckdb" not in skip:
                for kind in kinds:
                    cold, warm, answers = time_query(duck_runner(sed.parquet_glob()), "duck", kind, params[kind],
                                                     args.runs)
                    record("duckdb", kind, cold, warm)
                    check("duckdb", kind, answers)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print()
    print(markdown(results, kinds))


def markdown(r, kinds):
    out = ["%d hosts x %d days = %d rows (%s values); %d writers x %d-line batches." % (
        r["hosts"], r["days"], r["rows"], "float64" if r["full_precision"] else "whole-number",
        r["writers"], r["batch_size"]), ""]
    out += ["| ingest | rows/s | bytes/row (Parquet / TSM files) |", "|---|---|---|"]
    for s in ("sediment", "influxdb"):
        if s in r["load"]:
            out.append("| %s | %.0f | %.1f |" % (s, r["load"][s], r["bytes_per_row"][s]))
    if "sediment" in r["load"] and "influxdb" in r["load"]:
        out.append("| sediment / influxdb | %.2fx | %.2fx |" % (
            r["load"]["sediment"] / r["load"]["influxdb"],
            r["bytes_per_row"]["sediment"] / r["bytes_per_row"]["influxdb"]))
    systems = ["sediment-influxql", "sediment-sql-http", "sediment-sql-pg", "influxdb", "duckdb"]
    out += ["", "Warm median (p95) and cold, in ms:", "",
            "| query | " + " | ".join(systems) + " | best sediment / influxdb | sediment SQL / duckdb |",
            "|---|" + "---|" * (len(systems) + 2)]
    ratios = {s: [] for s in systems[:3]}
    for k in kinds:
        q = r["queries"].get(k, {})
        cells = []
        for s in systems:
            v = q.get(s)
            cells.append("%s (%s) cold %s" % (fmt_ms(v["median"]), fmt_ms(v["p95"]), fmt_ms(v["cold"])) if v else "–")
        inf = q.get("influxdb", {}).get("median")
        duck = q.get("duckdb", {}).get("median")
        worst = max((q[s]["median"] for s in systems[:3] if s in q), default=None)
        for s in systems[:3]:
            if s in q and inf:
                ratios[s].append(q[s]["median"] / inf)
        sql_best = min((q[s]["median"] for s in systems[1:3] if s in q), default=None)
        out.append("| %s | %s | %s | %s |" % (
            k, " | ".join(cells), "%.2f (worst %.2f)" % (min(q[s]["median"] for s in systems[:3] if s in q) / inf,
                                                         worst / inf) if inf and worst else "–",
            "%.2f" % (sql_best / duck) if duck and sql_best else "–"))
    for s, rs in ratios.items():
        if rs:
            out.append("")
            out.append("geometric mean of %s / influxdb warm medians: %.2f" % (s, geomean(rs)))
    if r["dashboard"]:
        out += ["", "| dashboard, 16 clients | q/s | p50 ms | p99 ms |", "|---|---|---|---|"]
        for s, d in r["dashboard"].items():
            out.append("| %s | %.0f | %s | %s |" % (s, d["qps"], fmt_ms(d["p50"]), fmt_ms(d["p99"])))
    out += ["", "answer mismatches: %d" % len(r["mismatches"])] + ["- " + m for m in r["mismatches"]]
    return "\n".join(out)


if __name__ == "__main__":
    main()
