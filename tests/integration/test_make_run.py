"""`make run`, the README's first command, on the embedded default: web, worker and beat, first run by itself."""

import json
import os
import signal
import socket
import subprocess
import urllib.request

import pytest

from tests.factories import ROOT
from tests.worker import wait_for

pytestmark = pytest.mark.slow  # real processes: workers, gunicorn, make run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def test_make_run_serves_the_first_run_made_by_its_worker(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_QUEUE", "DEBUG", "SECRET_KEY")
    }
    # No internet here: the shipped CSV alone.
    env.update(KASPARRO_VAR_DIR=str(tmp_path), PORT=str(port), ETL_SOURCES="legacy_csv")
    log = (tmp_path / "make-run.log").open("w")
    process = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        run = wait_for(
            lambda: (r := get_json(f"{base}/runs/1")) and r["status"] not in ("queued", "running") and r,
            timeout=240,
            interval=1,
            message="the first run to finish through the worker",
        )
        assert run["status"] == "succeeded", run["error"]
        assert run["trigger"] == "cli" and run["source_runs"][0]["inserted"] == 5000
        assert len(get_json(f"{base}/data?symbol=BTC&page_size=1000")["results"]) > 0
        assert get_json(f"{base}/health")["status"] == "ok"
        assert "beat: Starting..." in (tmp_path / "make-run.log").read_text()
        # gunicorn's control socket is this instance's, under its var/, not the one ~/.gunicorn/gunicorn.ctl.
        assert (tmp_path / f"gunicorn-{port}.ctl").is_socket()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends, to make and all it runs in the foreground
        process.wait(60)
    assert get_json(f"http://127.0.0.1:{port}/health") is None  # everything it started has stopped
    shown = (tmp_path / "make-run.log").read_text()
    stopping = shown.split("SIGINT received")[-1]
    # Each process stopped by itself, the idle worker's warm shutdown included; make reported no error.
    for role in ("web", "worker", "beat"):
        assert f"{role}.1 stopped (rc=0)" in stopping, stopping
    assert "SIGKILL" not in stopping and "make: ***" not in stopping, stopping
    assert process.returncode in (0, -signal.SIGINT)  # make ends as Ctrl-C ends it, or with 0
