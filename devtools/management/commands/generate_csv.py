from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools.market_universe import legacy_csv_write


class Command(BaseCommand):
    help = "Write a realistic legacy CSV (real coins, hourly quotes), the same for the same seed."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=5000, help="quote rows to write (default 5000)")
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument("--out", type=Path, default=None, help="output path (default LEGACY_CSV_PATH)")

    def handle(self, *args, rows: int, seed: int, out: Path | None, **options):
        if rows < 1:
            raise CommandError("--rows must be at least 1")
        path = out or Path(settings.LEGACY_CSV_PATH)
        written = legacy_csv_write(path=path, rows=rows, seed=seed)
        self.stdout.write(f"wrote {written} rows to {path}")
