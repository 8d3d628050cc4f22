"""Small builders and runners shared by the tests: one helper per thing."""

from io import StringIO
from pathlib import Path

from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"  # recorded and real payloads
LEGACY_HEADER = "Ticker,Price,MarketCap,Date,Source"


def write_csv(path: Path, lines: list[str], *, header: str = LEGACY_HEADER, mode: str = "w") -> Path:
    with path.open(mode, encoding="utf-8", newline="") as out:
        if mode == "w":
            out.write(header + "\n")
        for line in lines:
            out.write(line + "\n")
    return path


def run_etl(*args: str, check: bool = True):
    """`manage.py run_etl ARGS` in this process, as an operator types it; returns the run it made.

    A failed or partial run exits non-zero (CommandError); with check=False it is returned instead.
    """
    from etl.models import EtlRun

    try:
        call_command("run_etl", *args, stdout=StringIO())
    except CommandError:
        if check:
            raise
    return EtlRun.objects.latest("id")


def source_run(run, source: str):
    """The run's part for one source."""
    return run.source_runs.get(source=source)


def staff_client(username: str = "ops"):
    """An API client authenticated as a new staff user."""
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(User.objects.create_user(username, is_staff=True))
    return client
