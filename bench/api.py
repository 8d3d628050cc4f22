"""Load benchmark of the read API against PostgreSQL, served by gunicorn as in production.

    .venv/bin/python bench/api.py [--coins 10000] [--timestamps 100] [--duration 10]
                                  [--connections 8,32] [--workers 2,3,4] [--json PATH]

It loads (or reuses) `--coins` x `--timestamps` quotes in a dedicated database,
starts `bin/entrypoint web` with production settings, and loads each endpoint from
this process with wrk (or, where wrk is missing, an asyncio HTTP/1.1 client) at
each connection count. The floor beside each figure is the same SQL the endpoint
issues (captured from a request served in-process), run directly with psycopg2:
what remains is what the web layer adds. Every captured query is EXPLAINed too.
"""

import argparse
import asyncio
import base64
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, the project's packages are found from the checkout
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kasparro_bench"
# A database of its own on the local Redis too, so the bench's request metrics land nowhere real.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
PAGE_SIZE = 100
DEEP_PAGES = 5000
# The newest quote's moment in the generated data: fixed, so a reused load is the same load.
NEWEST = datetime(2025, 6, 1, tzinfo=UTC)
SOURCES = ("coinpaprika", "coincap", "legacy_csv")
# The coin the history scenarios read: a year of hourly quotes from every source (bench/README.md).
HISTORY_SLUG = "bench-history"
HISTORY_DAYS = 366
# Coins share symbols the way real ones do: the first (coins - SYMBOLS) symbols name two coins.
SYMBOLS = 8000
SERVER_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key-not-for-any-deployment-0123456789abcdef",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
}
# Real traffic is mostly misses: every endpoint is loaded with the response cache off, and /data once more
# with it on (`data_cached`), by a server of its own.
CACHE_SECONDS = 300
TARGET_DEEP_RATIO = 1.3
# Requests per second at TARGET_CONNECTIONS (issue 14), and /data's p99 and cost over its SQL floor.
TARGET_RPS = {
    "data_first": 800,
    "data_deep": 800,
    "data_1_row": 2500,
    "coins": 200,
    "coin_detail": 600,
    "health": 2000,
    "data_cached": 2500,
}
TARGET_P99_MS = 25
# Issue 13: a chart's history, uncached, at TARGET_CONNECTIONS.
TARGET_HISTORY_P50_MS = 20
TARGET_FLOOR_RATIO = 2.0
TARGET_CONNECTIONS = 8
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FLOOR_THREADS = 8
# Every request loop stops at its deadline or at this many requests, whichever comes first.
MAX_REQUESTS = 1_000_000
REQUEST_TIMEOUT_SECONDS = 5


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # The machine may be shared: what else was running shows in the load average before the bench adds its own.
    load_average = [round(load, 2) for load in os.getloadavg()]
    os.environ.update(
        SERVER_ENV, DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, DJANGO_SETTINGS_MODULE="kasparro.settings"
    )
    _database_ensure(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    from django.conf import settings

    # The SQL an endpoint runs is captured from a real request: a cached page would run none.
    settings.API_CACHE_SECONDS = 0
    with _cursor(args.database_url) as cursor:
        if not args.skip_load:
            data_load(cursor, coins=args.coins, timestamps=args.timestamps)
        history_coin_load(cursor)
        scenarios, quotes = scenarios_build(cursor)
        for scenario in scenarios:
            scenario.update(request_capture(scenario))
            # A transaction's BEGIN and COMMIT (the /health report's) have no plan.
            scenario["plans"] = [plan_quote_scans(cursor, sql) for sql in scenario["sql"] if sql.startswith("SELECT")]
    connection.close()
    for scenario in scenarios:
        scenario["floor"] = {
            str(threads): sql_floor(args.database_url, scenario["sql"], threads=threads, seconds=args.floor_duration)
            for threads in (1, FLOOR_THREADS)
        }

    client = f"wrk ({shutil.which('wrk')})" if args.client == "wrk" else "asyncio HTTP/1.1"
    sweep = workers_sweep(args, path=scenarios[0]["path"]) if len(args.workers) > 1 else []
    chosen = max(sweep, key=lambda row: row["rps"])["workers"] if sweep else args.workers[0]

    cached = {**scenarios[0], "name": "data_cached", "note": "/data with the response cache on: a hit"}
    scenarios.append(cached)
    # The baseline first, then this checkout, each endpoint alternating would be steadier but twice the restarts.
    roots = {"baseline": args.baseline_root, "http": ROOT} if args.baseline_root else {"http": ROOT}
    for key, root in roots.items():
        with web_server(workers=chosen, root=root, cache_seconds=0) as base:
            for scenario in scenarios[:-1]:
                scenario[key] = endpoint_load(args, base + scenario["path"], server=base)
        with web_server(workers=chosen, root=root, cache_seconds=CACHE_SECONDS) as base:
            cached[key] = endpoint_load(args, base + cached["path"], server=base)

    result = {
        "config": {
            "coins": args.coins,
            "timestamps": args.timestamps,
            "quotes": quotes,
            "page_size": PAGE_SIZE,
            "duration_seconds": args.duration,
            "connections": args.connections,
            "client": client,
            "web_concurrency": chosen,
            "cpus": os.cpu_count(),
            "floor_threads": FLOOR_THREADS,
            "load_average_at_start": load_average,
            "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
            "baseline_root": str(args.baseline_root) if args.baseline_root else None,
        },
        "workers_sweep": sweep,
        "scenarios": (by_name := {s.pop("name"): s for s in scenarios}),
        "targets": targets_check(by_name, connections=TARGET_CONNECTIONS),
    }
    report_print(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


def workers_sweep(args, *, path: str) -> list[dict]:
    """/data at the target's connection count under each WEB_CONCURRENCY given."""
    sweep = []
    for workers in args.workers:
        with web_server(workers=workers) as base:
            load_run(args.client, base + path, connections=TARGET_CONNECTIONS, seconds=1)
            figures = load_run(args.client, base + path, connections=TARGET_CONNECTIONS, seconds=args.duration / 2)
        sweep.append({"workers": workers, **figures})
        print(f"WEB_CONCURRENCY={workers}: {figures['rps']:.0f} req/s, p99 {figures['p99_ms']:.1f} ms", file=sys.stderr)
    return sweep


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coins", type=int, default=10_000)
    parser.add_argument("--timestamps", type=int, default=100)
    parser.add_argument("--duration", type=float, default=10, help="seconds per scenario and connection count")
    parser.add_argument("--connections", type=_int_list, default=[8, 32])
    parser.add_argument(
        "--workers",
        type=_int_list,
        default=[2, 3, 4],
        help="WEB_CONCURRENCY values to try on /data; the fastest serves the run",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--skip-load", action="store_true", help="use the database's rows as they are")
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--json", metavar="PATH", help="write the results here as well")
    parser.add_argument(
        "--baseline-root",
        type=Path,
        help="a checkout of the code to compare with (git worktree add /tmp/base main), served and loaded "
        "the same way in the same run, before this one",
    )
    args = parser.parse_args(argv)
    if TARGET_CONNECTIONS not in args.connections:
        parser.error(f"--connections must include {TARGET_CONNECTIONS}: the targets are stated there")
    args.floor_duration = max(args.duration / 5, 0.5)
    return args


def _int_list(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip()]


# --- Data ----------------------------------------------------------------------------------------------


@contextmanager
def _cursor(url: str):
    """An autocommit cursor in UTC, as Django's connections are."""
    pg = psycopg2.connect(url)
    try:
        pg.autocommit = True
        with pg.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
            yield cursor
    finally:
        pg.close()


def _database_ensure(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with _cursor(urlunsplit(parts._replace(path="/postgres"))) as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')


def data_load(cursor, *, coins: int, timestamps: int) -> None:
    """Fill the quote tables with `coins` x `timestamps` quotes, unless they already hold exactly that load."""
    marker = f"kasparro bench: {coins} coins x {timestamps} timestamps"
    cursor.execute("SELECT obj_description('coins_quote'::regclass, 'pg_class')")
    found = cursor.fetchone()[0]
    if found == marker:
        print(f"reusing {marker}", file=sys.stderr)
        return
    cursor.execute("SELECT EXISTS (SELECT 1 FROM coins_quote)")
    if found is None and cursor.fetchone()[0]:
        raise SystemExit("refusing to replace quotes this benchmark did not load; pass --skip-load to use them")
    started = time.perf_counter()
    with cursor.connection:  # one transaction: a load cut short leaves the previous one whole
        cursor.connection.autocommit = False
        _data_insert(cursor, coins=coins, timestamps=timestamps)
        cursor.execute("COMMENT ON TABLE coins_quote IS %s", [marker])
    cursor.connection.autocommit = True
    # The visibility map lets the planner cost index scans as it will on a settled production table.
    cursor.execute("VACUUM ANALYZE coins_quote, coins_coin, coins_sourcelisting, etl_etlrun")
    print(f"loaded {marker} in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def _data_insert(cursor, *, coins: int, timestamps: int) -> None:
    # Django's foreign keys are deferred, and CREATE INDEX refuses a table with checks still pending.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("TRUNCATE coins_quote, coins_sourcelisting, coins_coin, etl_etlrun RESTART IDENTITY CASCADE")
    # Building the secondary indexes once after the load is several times faster than keeping them up per row.
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
        " WHERE indrelid = 'coins_quote'::regclass"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)"
    )
    secondary = cursor.fetchall()
    for name, _ in secondary:
        cursor.execute(f'DROP INDEX "{name}"')
    run_id = _run_insert(cursor)
    cursor.execute("SELECT setseed(0.42)")
    cursor.execute(
        "INSERT INTO coins_coin (slug, symbol, symbol_key, name, name_key, rank, provisional, created_at, updated_at)"
        " SELECT 'coin-' || i, 'SYM' || ((i - 1) %% %(symbols)s), 'sym' || ((i - 1) %% %(symbols)s), 'Coin ' || i,"
        " 'coin' || i,"
        " CASE WHEN i <= %(coins)s * 9 / 10 THEN i END, false, now(), now()"
        " FROM generate_series(1, %(coins)s) i",
        {"coins": coins, "symbols": SYMBOLS},
    )
    cursor.execute(
        "INSERT INTO coins_sourcelisting (source, source_id, coin_id, symbol, name, symbol_key, name_key, slug_key,"
        " match_rule, confidence, evidence, reviewed_by, created_at, updated_at)"
        " SELECT s, c.slug, c.id, c.symbol, c.name, c.symbol_key, c.name_key, c.name_key, 'evidence', 0.90, '{}',"
        " '', now(), now()"
        " FROM coins_coin c CROSS JOIN unnest(%s::text[]) s",
        [list(SOURCES)],
    )
    # Oldest moment first, as hourly runs would have inserted them; each moment's quote comes from
    # one of the three sources in turn, so every coin has quotes from all three. The inner SELECT
    # keeps random() per row (PostgreSQL does not flatten a subquery with a volatile output).
    cursor.execute(
        "INSERT INTO coins_quote (coin_id, source, as_of, price_usd, market_cap_usd, volume_24h_usd,"
        " percent_change_24h, rank, circulating_supply, total_supply, max_supply, run_id, content_hash,"
        " created_at, updated_at)"
        " SELECT id, (%(sources)s::text[])[1 + (id + t) %% 3], %(newest)s - t * interval '1 hour',"
        " price, round(price * supply, 2), round((random() * 1e9)::numeric, 2),"
        " round((random() * 40 - 20)::numeric, 4), rank, supply, supply * 2,"
        " CASE WHEN id %% 4 = 0 THEN NULL ELSE supply * 3 END, %(run)s, md5(id || ':' || t), now(), now()"
        " FROM (SELECT c.id, c.rank, t, round(exp(random() * 24 - 12)::numeric, 12) AS price,"
        "              round((random() * 1e10)::numeric, 0) AS supply"
        "       FROM generate_series(%(timestamps)s - 1, 0, -1) t CROSS JOIN coins_coin c) generated"
        " ORDER BY t DESC, id",
        {"sources": list(SOURCES), "newest": NEWEST, "timestamps": timestamps, "run": run_id},
    )
    for _, definition in secondary:
        cursor.execute(definition)


def _run_insert(cursor) -> int:
    """A succeeded run for the loaded quotes to name."""
    cursor.execute(
        'INSERT INTO etl_etlrun (status, trigger, sources, "full", requested_by, error, created_at,'
        " started_at, finished_at, heartbeat_at)"
        " VALUES ('succeeded', 'cli', %s, false, 'bench', '', now(), now(), now(), now()) RETURNING id",
        [json.dumps(SOURCES)],
    )
    return cursor.fetchone()[0]


def scenarios_build(cursor) -> tuple[list[dict], int]:
    """The endpoints to load, with parameters taken from the data (the deep cursor built with one query),
    and the number of quotes."""
    cursor.execute("SELECT count(*) FROM coins_quote")
    total = cursor.fetchone()[0]
    if total < 2 * PAGE_SIZE + 2:
        raise SystemExit(f"coins_quote holds {total} rows: load some (drop --skip-load)")
    cursor.execute(
        "SELECT q.as_of, c.symbol, c.slug FROM coins_quote q JOIN coins_coin c ON c.id = q.coin_id"
        " ORDER BY q.as_of DESC, q.id DESC LIMIT 1"
    )
    newest, symbol, slug = cursor.fetchone()
    deep_offset = min(DEEP_PAGES * PAGE_SIZE, total - PAGE_SIZE - 1)
    cursor.execute(
        "SELECT as_of, id FROM coins_quote ORDER BY as_of DESC, id DESC OFFSET %s LIMIT 2", [deep_offset - 1]
    )
    (deep_as_of, deep_id), (_, deep_first_id) = cursor.fetchall()
    window = {"as_of_after": _iso(newest - timedelta(hours=10)), "as_of_before": _iso(newest - timedelta(hours=5))}
    deep = {"cursor": cursor_encode(ordering="-as_of", as_of=deep_as_of, row_id=deep_id)}
    return [
        {"name": "data_first", "path": "/data"},
        {
            "name": "data_deep",
            "path": "/data?" + urlencode(deep),
            "first_id": deep_first_id,
            "note": f"page {deep_offset // PAGE_SIZE + 1}, after {deep_offset:,} rows",
        },
        {"name": "data_symbol", "path": "/data?" + urlencode({"symbol": symbol})},
        {"name": "data_time_range", "path": "/data?" + urlencode(window)},
        {"name": "data_1_row", "path": "/data?page_size=1", "note": "what the stack costs before any row"},
        {"name": "coins", "path": "/coins"},
        {"name": "coin_detail", "path": f"/coins/{slug}"},
        {
            "name": "history_1h_7d",
            "path": f"/coins/{HISTORY_SLUG}/history?"
            + urlencode({"interval": "1h", "from": _iso(NEWEST - timedelta(days=7)), "to": _iso(NEWEST)}),
            "note": "3 sources + consensus, 168 candles each, uncached",
        },
        {
            "name": "history_1d_1y",
            "path": f"/coins/{HISTORY_SLUG}/history?"
            + urlencode({"interval": "1d", "from": _iso(NEWEST - timedelta(days=365)), "to": _iso(NEWEST)}),
            "note": "3 sources + consensus over 26,280 hourly quotes, 365 candles each, uncached",
        },
        {"name": "health", "path": "/health"},
    ], total


def history_coin_load(cursor) -> None:
    """One more coin, quoted hourly by every source for HISTORY_DAYS days up to NEWEST, with its consensus
    and candles computed as a run computes them: the history scenarios' coin, on top of the load (once)."""
    from coins.candles import candles_refresh
    from coins.consensus import consensus_refresh

    cursor.execute("SELECT EXISTS (SELECT 1 FROM coins_coin WHERE slug = %s)", [HISTORY_SLUG])
    if cursor.fetchone()[0]:
        return
    started = time.perf_counter()
    # One transaction: a load cut short leaves no coin without its quotes behind.
    cursor.connection.autocommit = False
    cursor.execute(
        "INSERT INTO coins_coin (slug, symbol, symbol_key, name, name_key, provisional, created_at, updated_at)"
        " VALUES (%s, 'HIST', 'hist', 'History Coin', 'historycoin', false, now(), now()) RETURNING id",
        [HISTORY_SLUG],
    )
    coin_id = cursor.fetchone()[0]
    run_id = _run_insert(cursor)
    # A slow walk per hour, each source a little off the others (one 6% off every 50th hour: disagreements).
    cursor.execute(
        "INSERT INTO coins_quote (coin_id, source, as_of, price_usd, market_cap_usd, volume_24h_usd, run_id,"
        " content_hash, created_at, updated_at)"
        " SELECT %(coin)s, s.name, %(newest)s - t * interval '1 hour' + make_interval(mins => 7 * s.k::int),"
        " round(((100 + 10 * sin(t / 100.0)) * (1 + s.k / 1000.0))::numeric"
        " * CASE WHEN t %% 50 = 0 AND s.k = 2 THEN 1.06 ELSE 1 END, 8), 1e9, 1e7, %(run)s, 'h', now(), now()"
        " FROM generate_series(1, %(hours)s) t CROSS JOIN unnest(%(sources)s::text[]) WITH ORDINALITY s(name, k)",
        {"coin": coin_id, "newest": NEWEST, "hours": HISTORY_DAYS * 24, "run": run_id, "sources": list(SOURCES)},
    )
    cursor.connection.commit()
    cursor.connection.autocommit = True
    consensus_refresh(run_id=run_id)
    candles_refresh(run_id=run_id)
    cursor.execute("VACUUM ANALYZE coins_quote, coins_consensus, coins_candle")
    print(
        f"loaded {HISTORY_SLUG}: {HISTORY_DAYS} days hourly in {time.perf_counter() - started:.1f} s", file=sys.stderr
    )


def cursor_encode(*, ordering: str, as_of: datetime, row_id: int) -> str:
    """A `next` cursor token as core.pagination.KeysetPagination writes it."""
    token = {"o": ordering, "d": "n", "v": as_of.astimezone(UTC).isoformat(), "id": row_id}
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode().rstrip("=")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- In-process capture and the SQL floor -------------------------------------------------------------------


def request_capture(scenario: dict) -> dict:
    """Serve the scenario in this process: the SQL it issues and, for /data, proof that the
    deep cursor lands where built and that real next links carry what cursor_encode builds."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    path = scenario["path"]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    # Read now: the captured list is a view of the connection's log, which the next request clears.
    # Reads only: a transaction's own BEGIN and COMMIT are no query to plan or replay.
    statements = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
    ]
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
    if path.startswith("/data"):
        body = response.json()
        if "first_id" in scenario and body["results"][0]["id"] != scenario["first_id"]:
            raise SystemExit(f"the built cursor starts at id {body['results'][0]['id']}, not {scenario['first_id']}")
        _cursor_links_check(client, body)
    return {"sql": statements, "response_bytes": len(response.content)}


def _cursor_links_check(client, body: dict, *, pages: int = 3) -> None:
    for _ in range(pages):
        if not body["next"]:
            return
        last = body["results"][-1]
        built = cursor_encode(ordering="-as_of", as_of=datetime.fromisoformat(last["as_of"]), row_id=last["id"])
        token = parse_qs(urlsplit(body["next"]).query)["cursor"][0]
        if token != built:
            raise SystemExit(f"cursor format drifted: a next link carries {token}, the bench builds {built}")
        body = client.get(body["next"]).json()


def plan_quote_scans(cursor, sql: str) -> list[str]:
    """How the plan of `sql` reads coins_quote: one entry per scan node on it."""
    cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
    scans = []

    def visit(node):
        if node.get("Relation Name") == "coins_quote":
            # A bitmap heap scan names its indexes on the bitmap index scans below it.
            index = node.get("Index Name") or " + ".join(_bitmap_indexes(node))
            scans.append(f"{node['Node Type']} using {index}" if index else node["Node Type"])
        for child in node.get("Plans", ()):
            visit(child)

    visit(cursor.fetchone()[0][0]["Plan"])
    return scans


def _bitmap_indexes(node) -> list[str]:
    return [
        name
        for child in node.get("Plans", ())
        for name in ([child["Index Name"]] if child["Node Type"] == "Bitmap Index Scan" else _bitmap_indexes(child))
    ]


def sql_floor(database_url: str, statements: list[str], *, threads: int, seconds: float) -> dict:
    """Run an endpoint's statements back to back as one request, from `threads` connections at once."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    rows = [0] * threads
    failures = []
    ready = threading.Barrier(threads)

    def work(index: int) -> None:
        try:
            with _cursor(database_url) as cursor:
                ready.wait()
                deadline = time.perf_counter() + seconds
                mine = latencies[index]
                while time.perf_counter() < deadline and len(mine) < MAX_REQUESTS:
                    started, fetched = time.perf_counter(), 0
                    for sql in statements:
                        cursor.execute(sql)
                        fetched += len(cursor.fetchall()) if cursor.description else 0
                    mine.append(time.perf_counter() - started)
                    rows[index] = fetched
        except Exception as exc:  # noqa: BLE001 - reported below, from the main thread
            ready.abort()
            failures.append(exc)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise failures[0]
    figures = _summary([value for mine in latencies for value in mine], time.perf_counter() - started)
    return {**figures, "rows": rows[0], "rows_per_second": figures["rps"] * rows[0]}


# --- The server and the load ----------------------------------------------------------------------------------


@contextmanager
def web_server(*, workers: int, root: Path = ROOT, cache_seconds: int = 0):
    """`bin/entrypoint web` of the checkout at `root` on a free port with production settings; yields
    its base URL. Its processes are a process group of their own, which `server_cpu_seconds` reads."""
    port = _port_free()
    env = {
        **os.environ,
        **SERVER_ENV,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "PYTHON": sys.executable,
        "API_CACHE_SECONDS": str(cache_seconds),
    }
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [str(root / "bin" / "entrypoint"), "web"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _server_wait(server, base + "/health", log)
            _SERVER_GROUPS[base] = server.pid
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)


_SERVER_GROUPS: dict[str, int] = {}


def server_cpu_seconds(base: str) -> float:
    """User + system CPU time of every process of the server's group so far (gunicorn and its workers)."""
    group, total = _SERVER_GROUPS[base], 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name, in parentheses, may hold spaces: the fields after its ")" are fixed.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def endpoint_load(args, url: str, *, server: str) -> dict:
    """The URL at each connection count after a 1 s warm-up, with the server's CPU time per request."""
    load_run(args.client, url, connections=args.connections[0], seconds=1)
    figures = {}
    for c in args.connections:
        cpu = server_cpu_seconds(server)
        run = load_run(args.client, url, connections=c, seconds=args.duration)
        run["cpu_ms_per_request"] = (server_cpu_seconds(server) - cpu) * 1000 / max(run["requests"], 1)
        figures[str(c)] = run
    return figures


def _port_free() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_wait(server, url: str, log, *, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    log.seek(0)
    raise SystemExit(f"gunicorn did not answer {url}:\n{log.read()[-3000:].decode(errors='replace')}")


def load_run(client: str, url: str, *, connections: int, seconds: float) -> dict:
    if client == "wrk":
        return _wrk(url, connections=connections, seconds=seconds)
    return asyncio.run(_async_load(url, connections=connections, seconds=seconds))


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk(url: str, *, connections: int, seconds: float) -> dict:
    # One thread: wrk shares the two cores with gunicorn and PostgreSQL, and one epoll loop is plenty.
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        f"--timeout={REQUEST_TIMEOUT_SECONDS}s",
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout

    def latency(percentile: str) -> float:
        value, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M).groups()
        return float(value) * _WRK_UNITS[unit]

    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": (int(failed.group(1)) if failed else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
    }


async def _async_load(url: str, *, connections: int, seconds: float) -> dict:
    """wrk's measurement with asyncio streams: `connections` HTTP/1.1 keep-alive loops, closed-loop."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: */*\r\n\r\n").encode()
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def one_connection() -> None:
        nonlocal errors
        stream = None
        while time.perf_counter() < deadline and len(latencies) < MAX_REQUESTS:
            begun = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                    if stream is None:
                        stream = await asyncio.open_connection(parts.hostname, parts.port)
                    stream[1].write(request)
                    status, keep_alive = await _response_read(stream[0])
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
                errors += 1
                status, keep_alive = 0, False
            else:
                latencies.append(time.perf_counter() - begun)
                errors += not 200 <= status < 400
            # gunicorn's sync workers close after every response; reconnecting is part of the request, as in wrk.
            if not keep_alive and stream is not None:
                stream[1].close()
                stream = None
        if stream is not None:
            stream[1].close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return {**_summary(latencies, time.perf_counter() - started), "errors": errors}


async def _response_read(reader) -> tuple[int, bool]:
    status = int((await reader.readline()).split()[1])
    length, keep_alive = 0, True
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            keep_alive = value != "close"
    await reader.readexactly(length)
    return status, keep_alive


def _summary(latencies: list[float], elapsed: float) -> dict:
    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)] * 1000 if ordered else math.nan

    return {"rps": len(ordered) / elapsed, "p50_ms": percentile(50), "p99_ms": percentile(99), "requests": len(ordered)}


# --- Targets and the report --------------------------------------------------------------------------------------


def targets_check(scenarios: dict[str, dict], *, connections: int) -> list[dict]:
    first, deep = scenarios["data_first"]["http"][str(connections)], scenarios["data_deep"]["http"][str(connections)]
    # Cost per request is the inverse of throughput at a fixed connection count; p50 says the same less steadily.
    cost_ratio = _ratio(first["rps"], deep["rps"])
    seq_scans = [
        f"{name}: {scan}"
        for name, s in scenarios.items()
        for plan in s["plans"]
        for scan in plan
        if scan.startswith("Seq Scan")
    ]
    rps_targets = [
        {
            "target": f"{name} >= {rps:,} req/s at {connections} conns",
            "measured": f"{(run := scenarios[name]['http'][str(connections)])['rps']:,.0f} req/s, "
            f"{run['cpu_ms_per_request']:.2f} ms CPU/req",
            "pass": run["rps"] >= rps,
        }
        for name, rps in TARGET_RPS.items()
    ]
    floor_targets = [
        {
            "target": f"{name} <= {TARGET_FLOOR_RATIO:g}x its SQL floor's cost, p99 < {TARGET_P99_MS} ms",
            "measured": f"{(ratio := _ratio(scenarios[name]['floor'][str(FLOOR_THREADS)]['rps'], run['rps'])):.1f}x, "
            f"p99 {(run := scenarios[name]['http'][str(connections)])['p99_ms']:.1f} ms",
            "pass": ratio <= TARGET_FLOOR_RATIO and run["p99_ms"] < TARGET_P99_MS,
        }
        for name in ("data_first", "data_deep")
    ]
    history_targets = [
        {
            "target": f"{name} p50 < {TARGET_HISTORY_P50_MS} ms at {connections} conns, uncached",
            "measured": f"p50 {(run := scenarios[name]['http'][str(connections)])['p50_ms']:.1f} ms, "
            f"{run['rps']:,.0f} req/s, {run['cpu_ms_per_request']:.2f} ms CPU/req",
            "pass": run["p50_ms"] < TARGET_HISTORY_P50_MS,
        }
        for name in ("history_1h_7d", "history_1d_1y")
    ]
    return [
        {
            "target": f"deep page costs <= {TARGET_DEEP_RATIO}x the first ({connections} conns)",
            "measured": f"{cost_ratio:.2f}x by req/s, {_ratio(deep['p50_ms'], first['p50_ms']):.2f}x by p50",
            "pass": cost_ratio <= TARGET_DEEP_RATIO,
        },
        *rps_targets,
        *floor_targets,
        *history_targets,
        {
            "target": "no Seq Scan on coins_quote",
            "measured": "; ".join(seq_scans) or "index scans only",
            "pass": not seq_scans,
        },
    ]


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.inf


def report_print(result: dict) -> None:
    config, out = result["config"], sys.stderr
    floor_threads, connections = str(config["floor_threads"]), [str(c) for c in config["connections"]]
    print(
        f"\n{config['quotes']:,} quotes, {config['page_size']} a page; gunicorn WEB_CONCURRENCY="
        f"{config['web_concurrency']} on {config['cpus']} CPUs; load by {config['client']}, "
        f"{config['duration_seconds']:g} s a row; load average before the run "
        f"{' '.join(map(str, config['load_average_at_start']))}. Latencies in ms.\n",
        file=out,
    )
    header = (
        f"{'':<16}{'':>5}{'':>4} | {'SQL floor, 1 conn':^23} | {'SQL, ' + floor_threads + ' thr':^16} |"
        + "".join(f" {'HTTP, ' + c + ' conns':^24} |" for c in connections)
        + " web cost"
    )
    sub = (
        f"{'endpoint':<16}{'rows':>5}{'sql':>4} | {'p50':>6}{'p99':>7}{'rows/s':>10} | {'req/s':>7}{'rows/s':>9} |"
        + f" {'req/s':>8}{'p50':>8}{'p99':>8} |" * len(connections)
        + " x SQL"
    )
    print(header, sub, "-" * len(sub), sep="\n", file=out)
    for name, s in result["scenarios"].items():
        one, many = s["floor"]["1"], s["floor"][floor_threads]
        line = (
            f"{name:<16}{one['rows']:>5}{len(s['sql']):>4} | {one['p50_ms']:>6.2f}{one['p99_ms']:>7.2f}"
            f"{one['rows_per_second']:>10,.0f} | {many['rps']:>7,.0f}{many['rows_per_second']:>9,.0f} |"
        )
        for c in connections:
            h = s["http"][c]
            line += f" {h['rps']:>8,.0f}{h['p50_ms']:>8.2f}{h['p99_ms']:>8.2f} |"
        # The box's time a request takes through the web stack, over what its SQL alone takes.
        line += f" {_ratio(many['rps'], s['http'][connections[0]]['rps']):>5.1f}"
        errors = sum(s["http"][c]["errors"] for c in connections)
        print(line + (f"  ({errors} failed requests)" if errors else ""), file=out)
    c = connections[0]
    before = "baseline" in next(iter(result["scenarios"].values()))
    print(
        f"\nThe web processes' CPU time a request at {c} conns (user + system of gunicorn's process group)"
        + (f", this checkout against {config['baseline_root']} in the same run:" if before else ":"),
        file=out,
    )
    print(
        f"{'endpoint':<16}"
        + (f"{'before req/s':>14}{'CPU ms':>9}{'p99':>8} |" if before else "")
        + f"{'req/s':>9}{'CPU ms':>9}{'p99':>8}"
        + (f" | {'CPU before/after':>17}" if before else ""),
        file=out,
    )
    for name, s in result["scenarios"].items():
        now = s["http"][c]
        line = f"{name:<16}"
        if before:
            then = s["baseline"][c]
            line += f"{then['rps']:>14,.0f}{then['cpu_ms_per_request']:>9.2f}{then['p99_ms']:>8.1f} |"
        line += f"{now['rps']:>9,.0f}{now['cpu_ms_per_request']:>9.2f}{now['p99_ms']:>8.1f}"
        if before:
            line += f" | {_ratio(then['cpu_ms_per_request'], now['cpu_ms_per_request']):>16.1f}x"
        print(line, file=out)
    print(
        f"load average at the end {' '.join(map(str, config['load_average_at_end']))} "
        f"(at the start {' '.join(map(str, config['load_average_at_start']))})",
        file=out,
    )
    print("\nendpoint         path, and how its queries read coins_quote", file=out)
    for name, s in result["scenarios"].items():
        scans = sorted({scan for plan in s["plans"] for scan in plan})
        note = f" ({s['note']})" if "note" in s else ""
        print(f"{name:<16} {s['path'][:70]}{note}\n{'':<17}{', '.join(scans) or '(not read)'}", file=out)
    if result["workers_sweep"]:
        print(
            f"\nWEB_CONCURRENCY on /data at {TARGET_CONNECTIONS} conns: "
            + ", ".join(
                f"{row['workers']}: {row['rps']:.0f} req/s, p99 {row['p99_ms']:.1f}" for row in result["workers_sweep"]
            ),
            file=out,
        )
    print(f"\n{'target':<50}{'measured':<40}pass", file=out)
    for target in result["targets"]:
        print(f"{target['target']:<50}{target['measured']:<40}{'PASS' if target['pass'] else 'FAIL'}", file=out)
    print(file=out)


if __name__ == "__main__":
    sys.exit(main())
