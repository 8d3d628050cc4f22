"""`make test` leaves Redis as it found it: a suite run, in a process of its own, against a Redis database."""

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import redis

from tests.factories import ROOT, side_redis_url

pytestmark = pytest.mark.slow  # a nested test session

# Tests that write to Redis: a run queued on the broker (a queue of the test's own and its binding keys),
# and the shared rate limit.
WRITERS = [
    "tests/integration/test_worker_runs.py::test_ten_concurrent_triggers_start_exactly_one_run",
    "tests/db/test_rate_limit.py",
]


def test_a_test_session_leaves_each_redis_database_it_used_as_it_found_it(tmp_path):
    own = os.environ.get("REDIS_URL") or side_redis_url()
    env = {**os.environ, "REDIS_URL": own, "KASPARRO_VAR_DIR": str(tmp_path)}
    if database := os.environ.get("DATABASE_URL"):
        # A test database of its own, beside this session's.
        parts = urlsplit(database)
        env["DATABASE_URL"] = parts._replace(path=f"{parts.path}_nested").geturl()
    databases = {own, side_redis_url()}
    before = {url: set(redis.Redis.from_url(url).scan_iter(count=1000)) for url in databases}
    nested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *WRITERS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert nested.returncode == 0, nested.stdout[-3000:]
    after = {url: set(redis.Redis.from_url(url).scan_iter(count=1000)) for url in databases}
    assert {url: after[url] - before[url] for url in databases} == {url: set() for url in databases}
