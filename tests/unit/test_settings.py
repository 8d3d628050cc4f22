"""Production settings pass Django's deploy checks and refuse to start without a secret key."""

import os
import subprocess
import sys

import pytest

from tests.factories import ROOT


def test_production_settings_pass_the_deploy_checks(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "a-production-like-key-" + "x" * 50,
        "ALLOWED_HOSTS": "kasparro.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "KASPARRO_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(DEBUG="false", KASPARRO_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    # One line saying what to do, not a traceback.
    assert result.stderr == (
        "manage.py: SECRET_KEY must be set when DEBUG is false: set SECRET_KEY, or DEBUG=true on a development "
        "machine.\n"
    )


def test_a_bad_setting_is_one_line_too(tmp_path):
    env = {**os.environ, "DEBUG": "true", "LOG_FORMAT": "xml", "KASPARRO_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == "manage.py: LOG_FORMAT must be json or text, not 'xml'.\n"


@pytest.mark.parametrize("encoding", ["klingon", "utf-16"])
def test_a_csv_encoding_that_cannot_read_the_file_line_by_line_is_refused(tmp_path, encoding):
    env = {**os.environ, "DEBUG": "true", "LEGACY_CSV_ENCODING": encoding, "KASPARRO_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith(f"manage.py: LEGACY_CSV_ENCODING={encoding!r} is not an ASCII-compatible")


def test_the_proxy_settings_come_from_the_environment(tmp_path):
    show = "from django.conf import settings; print(settings.USE_X_FORWARDED_HOST, settings.FORCE_SCRIPT_NAME)"
    base = {**os.environ, "DEBUG": "true", "KASPARRO_VAR_DIR": str(tmp_path)}
    results = [
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", show],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for env in (base, {**base, "USE_X_FORWARDED_HOST": "true", "FORCE_SCRIPT_NAME": "/kasparro"})
    ]
    assert results == ["False None", "True /kasparro"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CONSENSUS_INTERVAL", "5m", "CONSENSUS_INTERVAL must be 1h or 1d, not '5m'."),
        ("CONSENSUS_OUTLIER_PCT", "five", "CONSENSUS_OUTLIER_PCT must be a percentage of 0 or more, not 'five'."),
        ("CONSENSUS_OUTLIER_PCT", "-1", "CONSENSUS_OUTLIER_PCT must be a percentage of 0 or more, not '-1'."),
    ],
)
def test_a_bad_consensus_setting_is_one_line(tmp_path, name, value, message):
    env = {**os.environ, "DEBUG": "true", name: value, "KASPARRO_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == f"manage.py: {message}\n"
