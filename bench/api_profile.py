"""CPU time a request costs the web process, endpoint by endpoint, served in-process; and where it goes.

    .venv/bin/python bench/api_profile.py [--requests 300] [--profile data_first] [--json PATH]

Runs against the database `bench/api.py` loads (`--database-url`), with its
production settings, through the whole Django stack (middleware, metrics,
DRF, rendering) by Django's test client: what a gunicorn worker spends on a
request, less the socket work. The figure is the process's CPU time (user +
system) over the requests, so the other work sharing the machine changes it
far less than it changes requests per second. `--profile NAME` also prints
cProfile's top functions for that endpoint.
"""

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, SERVER_ENV, _cursor, scenarios_build  # noqa: E402

# The bench server's paths carry no host; the test client's must be an allowed one.
HOST = "127.0.0.1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint")
    parser.add_argument("--profile", metavar="NAME", help="print cProfile's top functions for this endpoint")
    parser.add_argument("--cached", action="store_true", help="with the response cache (API_CACHE_SECONDS=300)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    os.environ.update(
        SERVER_ENV,
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        API_CACHE_SECONDS="300" if args.cached else "0",
        DJANGO_SETTINGS_MODULE="kasparro.settings",
    )
    import django

    django.setup()
    from django.test import Client

    with _cursor(args.database_url) as cursor:
        scenarios, _ = scenarios_build(cursor)
    client = Client(HTTP_HOST=HOST)
    results = {}
    for scenario in scenarios:
        path = scenario["path"]
        for _ in range(20):  # warm: connections, caches, the first page in the response cache
            assert client.get(path).status_code == 200, path
        profiler = cProfile.Profile() if scenario["name"] == args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for _ in range(args.requests):
            client.get(path)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        results[scenario["name"]] = {
            "cpu_ms_per_request": round(cpu / args.requests * 1000, 3),
            "wall_ms_per_request": round(wall / args.requests * 1000, 3),
        }
        print(f"{scenario['name']:<16} {results[scenario['name']]['cpu_ms_per_request']:>8.3f} ms CPU", file=sys.stderr)
        if profiler:
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(40)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(60)
    result = {"requests": args.requests, "cached": args.cached, "load_average": os.getloadavg(), "endpoints": results}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
