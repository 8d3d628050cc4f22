import contextlib
import uuid

import pytest
import redis

from core.metrics import http_metrics_flush
from tests.factories import suite_redis_urls


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # The manifest storage needs collectstatic, which tests do not run.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def csv_path(tmp_path, settings):
    """Point the legacy CSV source at a file in tmp_path (write it with tests.factories.write_csv)."""
    path = tmp_path / "coins.csv"
    settings.LEGACY_CSV_PATH = path
    settings.ETL_SOURCES = ["legacy_csv"]
    return path


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(autouse=True)
def _isolated_cache(settings, request):
    # Throttle counters must not leak between tests (or into the broker's Redis database).
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": request.node.nodeid}
    }


@pytest.fixture
def celery_queue(settings):
    """A queue of this test's own, so no other test, session or stale message meets its tasks."""
    from kasparro.celery import app

    queue = f"kasparro-test-{uuid.uuid4().hex[:12]}"
    # Through Django's settings, which Celery reads on every send (the app's namespace is CELERY_).
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    yield queue
    # Its messages and, on Redis, its binding key go with it; a queue never declared has neither.
    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_delete(queue)


@pytest.fixture
def start_worker(celery_queue, transactional_db):
    """Start real Celery worker processes on the test database: start_worker(ENV=value, ...)."""
    from tests.worker import WorkerProcess

    workers = []

    def start(**env: str) -> WorkerProcess:
        worker = WorkerProcess(queue=celery_queue, env=env, name=f"{celery_queue}-{len(workers)}").start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait()


@pytest.fixture
def start_beat(celery_queue, transactional_db):
    """Start Celery beat on the test database, sending to this test's queue: start_beat(ENV=value, ...)."""
    from tests.worker import BeatProcess

    beats = []

    def start(**env: str) -> BeatProcess:
        beat = BeatProcess(queue=celery_queue, env=env).start()
        beats.append(beat)
        return beat

    yield start
    for beat in beats:
        beat.stop()


@pytest.fixture(scope="session", autouse=True)
def _redis_left_as_found():
    """What the suite writes to Redis goes when it ends (Celery's queue bindings, the cache's data version,
    HTTP metric counts, rate-limit slots, from this process and the ones it starts): each database it used
    holds after `make test` exactly the keys it held before."""
    found = {}
    for url in suite_redis_urls():
        with contextlib.suppress(redis.ConnectionError):  # no Redis here: nothing to leave behind
            found[url] = set(redis.Redis.from_url(url).scan_iter(count=1000))
    yield
    # This process's HTTP metric counts would otherwise reach Redis at its exit, after the clean-up.
    http_metrics_flush()
    for url, keys in found.items():
        client = redis.Redis.from_url(url)
        left = [key for key in client.scan_iter(count=1000) if key not in keys]
        if left:
            client.delete(*left)
