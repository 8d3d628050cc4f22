"""The roles the containers run, started here on an embedded SQLite: migrate twice, and web
answering the image's own health probe."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deployment import ENTRYPOINT, health_probe

pytestmark = pytest.mark.slow  # real processes: workers, gunicorn, make run


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory) -> dict:
    """The environment of a container with no database or broker URL: SQLite and files under var/."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(KASPARRO_VAR_DIR=str(tmp_path_factory.mktemp("var")), DEBUG="true", PYTHON=sys.executable)
    return env


@pytest.fixture(scope="module")
def migrate_twice(embedded_env) -> list[subprocess.CompletedProcess]:
    return [
        subprocess.run([str(ENTRYPOINT), "migrate"], env=embedded_env, capture_output=True, text=True, timeout=300)
        for _ in range(2)
    ]


def test_unknown_role_exits_64_with_a_usage_line():
    result = subprocess.run([str(ENTRYPOINT), "bogus"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 64
    assert result.stderr.startswith("usage: ")


def test_migrate_role_is_idempotent(migrate_twice):
    first, second = migrate_twice
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "No migrations to apply." in second.stdout
    assert "up to date" in second.stdout


def test_image_health_probe_passes_against_the_web_role(migrate_twice, embedded_env, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Production settings: HTTPS redirect on, and a public name first in ALLOWED_HOSTS.
    env = {
        **embedded_env,
        "DEBUG": "false",
        "SECRET_KEY": "deployment-test-only-key",
        "ALLOWED_HOSTS": "kasparro.example.com,localhost",
        "SECURE_SSL_REDIRECT": "true",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        # The probe calls `python`, as in the image.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = tmp_path / "web.log"
    with log.open("w") as out:
        web = subprocess.Popen([str(ENTRYPOINT), "web"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            probe = subprocess.run(health_probe(), env=env, capture_output=True, text=True, timeout=30)
            if probe.returncode == 0 or time.monotonic() > deadline or web.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        web.terminate()
        web.wait(timeout=30)
    assert probe.returncode == 0, f"{probe.stderr}\n--- web ---\n{log.read_text()}"


def _scheme_seen_by_django(embedded_env, tmp_path, **env: str) -> list[tuple[int, str]]:
    """GET /schema from 127.0.0.1 through the web role, with and without X-Forwarded-Proto: https."""
    import http.client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **embedded_env,
        "DEBUG": "false",
        "SECRET_KEY": "deployment-test-only-key",
        "SECURE_SSL_REDIRECT": "true",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        **env,
    }
    log = tmp_path / f"web-{port}.log"
    with log.open("w") as out:
        web = subprocess.Popen([str(ENTRYPOINT), "web"], env=env, stdout=out, stderr=subprocess.STDOUT)
    answers = []
    try:
        deadline = time.monotonic() + 60
        for headers in ({"X-Forwarded-Proto": "https"}, {}):
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conn.request("GET", "/schema", headers={"Host": "localhost", **headers})
                    response = conn.getresponse()
                    answers.append((response.status, response.getheader("Location") or ""))
                    conn.close()
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline and web.poll() is None, log.read_text()
                    time.sleep(0.3)
    finally:
        web.terminate()
        web.wait(timeout=30)
    return answers


def test_web_trusts_x_forwarded_proto_only_from_the_configured_proxy(migrate_twice, embedded_env, tmp_path):
    # From the proxy's address (the default, 127.0.0.1): its https counts, plain http is redirected.
    trusted = _scheme_seen_by_django(embedded_env, tmp_path)
    assert trusted == [(200, ""), (301, "https://localhost/schema")]
    # From anyone else the header is ignored: a client cannot claim https past the proxy.
    untrusted = _scheme_seen_by_django(embedded_env, tmp_path, FORWARDED_ALLOW_IPS="192.0.2.10")
    assert untrusted == [(301, "https://localhost/schema"), (301, "https://localhost/schema")]
