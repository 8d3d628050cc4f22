"""run_etl as a person sees it in a terminal: a live bar per source and stage, on a pseudo-terminal."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from tests.factories import ROOT, write_csv
from tests.worker import database_url

pytestmark = pytest.mark.slow  # a real process on a pseudo-terminal


def on_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run manage.py ARGS with a 100-column terminal as its stdin, stdout and stderr; what it showed."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdin=terminal, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the process has closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    return process.wait(timeout=60), shown.decode("utf-8", errors="replace")


@pytest.fixture
def csv_env(transactional_db, tmp_path):
    path = write_csv(tmp_path / "coins.csv", [f"C{i},{i}.5,{i}000,2024-11-21T00:00:00Z,x" for i in range(1, 13)])
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LEGACY_CSV_PATH": str(path),
        "ETL_SOURCES": "legacy_csv",
        "ETL_BATCH_SIZE": "4",
        "LOG_FORMAT": "text",
    }


def test_a_terminal_shows_a_live_bar_per_stage_with_records_rate_and_eta(csv_env):
    code, shown = on_a_terminal("run_etl", env=csv_env)
    assert code == 0, shown
    frames = shown.replace("\r\n", "\n").replace("\r", "\n").splitlines()
    extract = [f for f in frames if f.startswith("legacy_csv extract:")]
    load = [f for f in frames if f.startswith("legacy_csv load:")]
    # The CSV's size is known: the extract counts its bytes, with the records beside and an ETA.
    assert any("%|" in f and "<" in f and "B/s" in f and "records]" in f for f in extract), extract
    assert extract[-1].startswith("legacy_csv extract: 100%|") and "12 records]" in extract[-1]
    # The load knows how many records the extract staged.
    assert load[-1].startswith("legacy_csv load: 100%|") and "12/12 [" in load[-1] and "records/s]" in load[-1]
    assert any("/12 [" in f and "<" in f for f in load if "100%" not in f), load
    assert "  legacy_csv  succeeded       12 inserted, 0 updated, 0 unchanged, 0 rejected" in frames
    assert not any(" INFO " in f for f in frames), "the progress and the summary say what the INFO lines would"


def test_quiet_on_a_terminal_is_plain_lines(csv_env):
    code, shown = on_a_terminal("run_etl", "--quiet", env=csv_env)
    assert code == 0, shown
    lines = shown.replace("\r\n", "\n").splitlines()
    assert "%|" not in shown and "\r" not in shown.replace("\r\n", "")
    assert lines[1].startswith("  legacy_csv extract: 12 records in ")
    assert lines[2].startswith("  legacy_csv load: 12 records in ")
