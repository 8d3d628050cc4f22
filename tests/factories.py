"""Small builders and runners shared by the tests: one helper per thing."""

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"  # recorded and real payloads
# The moment the made-up quotes start at.
T0 = datetime(2024, 11, 21, tzinfo=UTC)
LEGACY_HEADER = "Ticker,Price,MarketCap,Date,Source"


# The Redis database tests use beside the session's own (REDIS_URL): HTTP metric counts kept apart from any
# other session's, and the shared rate limit when the session runs without Redis. Mirrored from the top
# (database 0 pairs with 15, 1 with 14, ...) so that suites run side by side on their own databases never share it.
LAST_REDIS_DB = 15


def side_redis_url() -> str:
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    own = int(parts.path.strip("/") or 0)
    return parts._replace(path=f"/{LAST_REDIS_DB - own}").geturl()


def suite_redis_urls() -> list[str]:
    """Every Redis database the suite writes to."""
    own = os.environ.get("REDIS_URL")
    return [*([own] if own else []), side_redis_url()]


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


def make_coin(symbol: str, name: str, slug: str, *, rank: int | None = None):
    from coins.keys import name_key, symbol_key
    from coins.models import Coin

    return Coin.objects.create(
        symbol=symbol, symbol_key=symbol_key(symbol), name=name, slug=slug, name_key=name_key(name), rank=rank
    )


def make_listing(coin, source: str, *, confidence: str = "1.00", source_id: str = ""):
    from coins.models import MatchRule, SourceListing

    return SourceListing.objects.create(
        coin=coin,
        source=source,
        source_id=source_id or f"{coin.slug}-{source}",
        symbol=coin.symbol,
        name=coin.name,
        symbol_key=coin.symbol_key,
        name_key=coin.name_key,
        slug_key=coin.name_key,
        match_rule=MatchRule.NEW_COIN,
        confidence=Decimal(confidence),
    )


def make_quote(coin, *, source: str = "coincap", as_of: datetime = T0, **figures):
    """One stored quote with these figures (Decimals, rank), as the pipeline would have written it."""
    from coins.models import Quote

    return Quote.objects.create(
        coin=coin, source=source, as_of=as_of, content_hash="x", created_at=as_of, updated_at=as_of, **figures
    )


def make_quotes(coin, hours: int, *, source: str = "legacy_csv", price: str = "100", start: int = 0) -> None:
    """Hourly quotes from T0 on; the price grows by one an hour, so the newest is the dearest."""
    from django.utils import timezone

    from coins.models import Quote

    now = timezone.now()
    Quote.objects.bulk_create(
        Quote(
            coin=coin,
            source=source,
            as_of=T0 + timedelta(hours=h),
            price_usd=Decimal(price) + h,
            content_hash="x",
            created_at=now,
            updated_at=now,
        )
        for h in range(start, start + hours)
    )


def make_disputed_market(*, hours: int = 72, skewed_hours: tuple[int, ...] = (30, 31)):
    """Bitcoin quoted hourly by three sources for `hours` hours up to T0, close to one another except in
    `skewed_hours` (hours before T0), when legacy_csv is 20% dear; the run's consensus and candles computed.
    Returns the coin."""
    from coins.candles import candles_refresh
    from coins.consensus import consensus_refresh
    from etl.models import EtlRun

    run = EtlRun.objects.create(trigger="manual", sources=[])
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    for ago in range(hours):
        base = Decimal(97000) + 40 * (ago % 12)
        for source, factor in (("coinpaprika", "1"), ("coincap", "1.001"), ("legacy_csv", "0.999")):
            price = base * Decimal(factor) * (Decimal("1.2") if source == "legacy_csv" and ago in skewed_hours else 1)
            make_quote(btc, source=source, as_of=T0 - timedelta(hours=ago, minutes=-10), price_usd=price, run=run)
    consensus_refresh(run_id=run.pk)
    candles_refresh(run_id=run.pk)
    return btc
