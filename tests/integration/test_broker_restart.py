"""A Redis restart in the middle of a run: the worker (run as the container runs it) reconnects and the
run completes, with no quote lost or written twice and no message left behind to be redelivered."""

import signal
import socket
import subprocess
import sys
import time

import pytest

from coins.models import Quote
from etl.models import EtlRun, RunStatus, SourceRun
from tests.factories import write_csv
from tests.worker import ROOT, EntrypointWorkerProcess, wait_for

ROWS = 20_000


class RedisServer:
    """A redis-server of the test's own, persisted as the compose file's is (append-only file)."""

    def __init__(self, directory):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=(self.directory / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self.cli("ping") == "PONG", timeout=30, message="redis-server to answer")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # redis-server flushes its append-only file and exits
            self.process.wait(30)

    def cli(self, *args: str) -> str:
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return result.stdout.strip()


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def production_worker(celery_queue, transactional_db):
    workers = []

    def start(**env: str) -> EntrypointWorkerProcess:
        worker = EntrypointWorkerProcess(queue=celery_queue, env=env).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.mark.slow
def test_a_run_completes_across_a_broker_restart(csv_path, redis_server, production_worker, celery_queue):
    write_csv(csv_path, [f"C{i % 1000},{i}.25,1,2024-11-{1 + i // 1000:02d}T00:00:00Z,x" for i in range(ROWS)])
    env = {
        "REDIS_URL": redis_server.url,
        "LEGACY_CSV_PATH": str(csv_path),
        "ETL_SOURCES": "legacy_csv",
        "ETL_BATCH_SIZE": "200",
        "CELERY_CONCURRENCY": "2",
    }
    worker = production_worker(**env)
    wait_for(lambda: "ready." in worker.output(), message="the worker to be ready")
    # Queued through the private broker, as `etl --queue` does in the container.
    queued = subprocess.run(
        [sys.executable, "manage.py", "run_etl", "--queue"],
        cwd=ROOT,
        env=worker.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert queued.returncode == 0, queued.stderr
    run_id = int(queued.stdout.split("queued run ", 1)[1].split(":", 1)[0])

    # Down while the extract is in hand, and still down when it ends and the worker sends the next step.
    wait_for(lambda: EtlRun.objects.get(pk=run_id).raw_records.exists(), interval=0.02, message="the extract to start")
    redis_server.stop()
    wait_for(lambda: SourceRun.objects.get(run_id=run_id).extract_seconds is not None, message="the extract to end")
    time.sleep(2)  # longer than Celery's default publish retries (3 x 0.2 s)
    redis_server.start()

    def finished():
        assert worker.process.poll() is None, f"the worker exited\n{worker.output()}"
        return _finished(run_id)

    run = wait_for(finished, timeout=120, message="the run to finish")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert Quote.objects.count() == ROWS  # none lost; the quote key is unique, so none twice
    source_run = SourceRun.objects.get(run=run)
    assert (source_run.read, source_run.inserted, source_run.updated, source_run.unchanged) == (ROWS, ROWS, 0, 0)
    # Delivery is at least once: a step published again across the restart may still be queued. The
    # worker drains it, every step is idempotent, and nothing is left to be delivered again.
    wait_for(
        lambda: redis_server.cli("llen", celery_queue) == "0" and redis_server.cli("hlen", "unacked") == "0",
        timeout=60,
        message="the queue to drain",
    )
    time.sleep(1)  # a drained duplicate has finished its (no-op) work
    assert Quote.objects.count() == ROWS
    assert EtlRun.objects.get(pk=run_id).status == RunStatus.SUCCEEDED


def _finished(run_id: int):
    run = EtlRun.objects.get(pk=run_id)
    return run if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING) else None
