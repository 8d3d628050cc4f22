"""A real Celery worker process for the pipeline tests: cross-process, never eager."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The test database, as a URL the worker process can open."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class WorkerProcess:
    def __init__(self, *, queue: str, env: dict[str, str], name: str | None = None):
        """`name` tells apart several workers of one queue (their node names and logs); the queue by default."""
        self.queue = queue
        self.name = name or queue
        self.env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_QUEUE": queue, **env}
        self.process: subprocess.Popen | None = None
        # Under the suite's own var/ (KASPARRO_VAR_DIR): CI runs the two backends' suites side by side.
        self.log = settings.VAR_DIR / f"worker-{self.name}.log"

    def start(self) -> "WorkerProcess":
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "kasparro",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"{self.name}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgement, as when a machine dies."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        self.terminate()
        self.wait()

    def terminate(self) -> None:
        """SIGTERM, a warm shutdown: `wait` for it; several workers terminated first shut down side by side."""
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> None:
        if self.process and self.process.poll() is None:
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


class EntrypointWorkerProcess(WorkerProcess):
    """The worker exactly as the container runs it: bin/entrypoint worker (prefork, heartbeat, gossip, mingle)."""

    def start(self) -> "EntrypointWorkerProcess":
        self.process = subprocess.Popen(
            [str(ROOT / "bin" / "entrypoint"), "worker"],
            cwd=ROOT,
            env={"PYTHON": sys.executable, **self.env},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        return self


class BeatProcess(WorkerProcess):
    """Celery beat on the test database's schedule (django-celery-beat's DatabaseScheduler)."""

    def start(self) -> "BeatProcess":
        self.log = settings.VAR_DIR / f"beat-{self.queue}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "kasparro",
                "beat",
                "--loglevel",
                "INFO",
                "--pidfile",
                "",
                "--max-interval",
                "1",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        return self


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
