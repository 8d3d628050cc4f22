"""Anomalies, flagged as a source's load ends and stored: run figures far from the source's recent runs,
and quotes whose price jumped or disagrees with the other sources. A flag never blocks the load: the data
is kept and the flag says why to look. (etl.pipeline.anomalies scores; this reads the history and stores.)
"""

import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Min, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from coins.caching import data_version_bump
from coins.models import Coin, Quote
from etl.models import Anomaly, AnomalyKind, SourceRun, SourceStatus
from etl.pipeline.anomalies import disagreement, price_jumps, run_figure_score
from etl.sources.registry import source_spec

logger = logging.getLogger(__name__)

# A price's history is read this far back at most: the check's cost stays bounded however long the history
# grows (hourly runs have 168 earlier quotes here, 20 are used; a source read less than weekly is not checked).
PRICE_HISTORY = timedelta(days=7)
# Rows a price check reads at once (the run's quotes and the history before each coin's first): about 35 MB.
PRICE_CHECK_ROWS = 50_000
# Coins a price check names at once: within the 999 parameters a statement of SQLite before 3.32.
PRICE_CHECK_COINS = 900


def source_anomalies_detect(*, source_run: SourceRun) -> list[Anomaly]:
    """Flag what is unusual in one source's part of a run, store the flags and log them in one WARNING line.

    Never raises: a check that fails is logged and the load it followed stands.
    """
    try:
        with transaction.atomic():
            flags = _run_flags(source_run) + _price_flags(source_run)
            Anomaly.objects.bulk_create(flags, batch_size=1000)
            if any(flag.quote_id for flag in flags):
                transaction.on_commit(data_version_bump)  # /coins/{slug} shows a quote's flags: not a cached page
    except Exception:
        logger.exception("anomaly checks of %s in run %s failed; the load stands", source_run.source, source_run.run_id)
        return []
    if flags:
        logger.warning(
            "anomalies in %s, run %s: %s", source_run.source, source_run.run_id, "; ".join(_brief(f) for f in flags[:5])
        )
    return flags


def _flag(source_run: SourceRun, kind: str, metric: str, scored, **where) -> Anomaly:
    """One flag of this source's part of the run: what was scored, against what, and where to look."""
    return Anomaly(
        run_id=source_run.run_id,
        source=source_run.source,
        kind=kind,
        metric=metric,
        value=scored.value,
        baseline=scored.baseline,
        score=scored.score,
        **where,
    )


def _brief(flag: Anomaly) -> str:
    return f"{flag.metric} {flag.value:g} against {flag.baseline:g} (score {flag.score:g})" + (
        f" {flag.detail}" if flag.detail else ""
    )


def run_figures(source_run: SourceRun, *, snapshot: bool) -> dict[str, float]:
    """The figures of a run that are scored. A file's read count is what was appended since, so not a figure."""
    figures = {
        "rejected_fraction": source_run.rejected / source_run.read if source_run.read else 0.0,
        "duration_seconds": source_run.duration_seconds or 0.0,
        "http_retries": float(source_run.http_retries),
    }
    if snapshot:
        figures["read"] = float(source_run.read)
    return figures


def _run_flags(source_run: SourceRun) -> list[Anomaly]:
    snapshot = source_spec(source_run.source).snapshot
    history = list(
        SourceRun.objects.filter(source=source_run.source, status=SourceStatus.SUCCEEDED, id__lt=source_run.pk)
        .exclude(run__replay_of__isnull=False)
        .defer("schema", "schema_drift")
        .order_by("-id")[: settings.ANOMALY_WINDOW_RUNS]
    )
    past = [run_figures(r, snapshot=snapshot) for r in history]
    flags = []
    for metric, value in run_figures(source_run, snapshot=snapshot).items():
        scored = run_figure_score(
            metric=metric,
            value=value,
            history=[figures[metric] for figures in past],
            min_history=settings.ANOMALY_MIN_RUNS,
            threshold=settings.ANOMALY_SCORE_THRESHOLD,
        )
        if scored is not None:
            flags.append(
                _flag(source_run, AnomalyKind.RUN, metric, scored, detail=f"over the last {len(past)} successful runs")
            )
    return flags


def _price_flags(source_run: SourceRun) -> list[Anomaly]:
    mine = Quote.objects.filter(run_id=source_run.run_id, source=source_run.source)
    flags = []
    for coin_ids, earliest, latest in _price_check_chunks(mine):
        chunk = mine.filter(coin_id__in=coin_ids, as_of__gte=earliest, as_of__lte=latest)
        written = list(chunk.values_list("id", "coin_id", "as_of", "price_usd"))
        found = _jumps(source_run, written, coin_ids, earliest, latest)
        found += _disagreements(source_run, written, coin_ids, earliest, latest)
        slugs = dict(Coin.objects.filter(pk__in={f.coin_id for f in found}).values_list("pk", "slug")) if found else {}
        for flag in found:
            flag.detail = f"{slugs.get(flag.coin_id, flag.coin_id)}: {flag.detail}"
        flags += found
    return flags


def _price_check_chunks(mine: QuerySet[Quote]) -> Iterator[tuple[list[int], datetime, datetime]]:
    """The run's quotes as (coin ids, earliest, latest) chunks of about PRICE_CHECK_ROWS rows read each, with
    the history a check reads beside them: what the checks hold stays bounded however large the run (a
    1,000,000-row CSV held its whole series, 650 MB, when checked at once). A coin with more quotes than a
    chunk is checked a span of time at a time; the spans divide its time evenly, so evenly spaced quotes
    (the hourly series every source sends) divide evenly too."""
    per_row = settings.ANOMALY_WINDOW_RUNS + 1  # the history read before each coin's first quote of a chunk
    coin_ids: list[int] = []
    rows, earliest, latest = 0, None, None
    per_coin = mine.values("coin_id").annotate(n=Count("id"), first=Min("as_of"), last=Max("as_of"))
    for coin in per_coin.order_by("coin_id"):
        spans = -(-(coin["n"] + per_row) // PRICE_CHECK_ROWS)
        if spans > 1:
            # Half-open spans, closed at the coin's last quote: each quote is checked once.
            step = (coin["last"] - coin["first"]) / spans
            starts = [coin["first"] + step * span for span in range(spans)]
            ends = [start - timedelta(microseconds=1) for start in starts[1:]] + [coin["last"]]
            yield from (([coin["coin_id"]], start, end) for start, end in zip(starts, ends, strict=True))
            continue
        if coin_ids and (rows + coin["n"] + per_row > PRICE_CHECK_ROWS or len(coin_ids) == PRICE_CHECK_COINS):
            yield coin_ids, earliest, latest
            coin_ids, rows, earliest, latest = [], 0, None, None
        coin_ids.append(coin["coin_id"])
        rows += coin["n"] + per_row
        earliest = coin["first"] if earliest is None else min(earliest, coin["first"])
        latest = coin["last"] if latest is None else max(latest, coin["last"])
    if coin_ids:
        yield coin_ids, earliest, latest


def _jumps(source_run: SourceRun, written: list[tuple], coin_ids: list[int], earliest, latest) -> list[Anomaly]:
    window = settings.ANOMALY_WINDOW_RUNS
    same = Quote.objects.filter(source=source_run.source, coin_id__in=coin_ids)
    before = (
        same.filter(as_of__lt=earliest, as_of__gte=earliest - PRICE_HISTORY)
        .annotate(newest=Window(RowNumber(), partition_by=[F("coin_id")], order_by=F("as_of").desc()))
        .filter(newest__lte=window + 1)
    )
    series = defaultdict(list)
    for row in [
        *before.values_list("id", "coin_id", "as_of", "price_usd"),
        *same.filter(as_of__gte=earliest, as_of__lte=latest).values_list("id", "coin_id", "as_of", "price_usd"),
    ]:
        series[row[1]].append(row)
    mine = {q[0] for q in written}
    flags = []
    for coin_id, rows in series.items():
        rows.sort(key=lambda row: row[2])
        prices = [float(row[3]) for row in rows]
        first_mine = next((i for i, row in enumerate(rows) if row[0] in mine), None)
        if first_mine is None:  # a span of a coin's time that holds none of the run's quotes
            continue
        for index, scored in price_jumps(
            prices=prices,
            check_from=first_mine,
            window=window,
            min_history=settings.ANOMALY_MIN_RUNS,
            threshold=settings.ANOMALY_SCORE_THRESHOLD,
        ):
            quote_id, _, as_of, price = rows[index]
            if quote_id not in mine:
                continue
            flags.append(
                _flag(
                    source_run,
                    AnomalyKind.PRICE_JUMP,
                    "price_move",
                    scored,
                    quote_id=quote_id,
                    coin_id=coin_id,
                    detail=f"{rows[index - 1][3]:f} then {price:f} at {as_of:%Y-%m-%dT%H:%M:%SZ}",
                )
            )
    return flags


def _disagreements(source_run: SourceRun, written: list[tuple], coin_ids: list[int], earliest, latest) -> list[Anomaly]:
    near = timedelta(seconds=settings.IDENTITY_PRICE_WINDOW_SECONDS)
    others = defaultdict(lambda: defaultdict(list))
    for coin_id, source, as_of, price in (
        Quote.objects.filter(coin_id__in=coin_ids, as_of__gte=earliest - near, as_of__lte=latest + near)
        .exclude(source=source_run.source)
        .values_list("coin_id", "source", "as_of", "price_usd")
    ):
        others[coin_id][source].append((as_of, float(price)))
    flags = []
    for quote_id, coin_id, as_of, price in written:
        # Each other source's quote nearest in time, within the window: one voice per source.
        nearest = [min(quotes, key=lambda q: abs(q[0] - as_of)) for quotes in others.get(coin_id, {}).values()]
        prices = [p for moment, p in nearest if abs(moment - as_of) <= near]
        scored = disagreement(price=float(price), others=prices, ratio=settings.ANOMALY_DISAGREEMENT_RATIO)
        if scored is not None:
            flags.append(
                _flag(
                    source_run,
                    AnomalyKind.PRICE_DISAGREEMENT,
                    "price_usd",
                    scored,
                    quote_id=quote_id,
                    coin_id=coin_id,
                    detail=f"{price:f} against the median {scored.baseline:g} of {len(prices)} other source(s)",
                )
            )
    return flags


def anomalies_review(*, anomalies: QuerySet[Anomaly], user: str) -> int:
    """Mark flags as looked at: they leave the open counts of /stats and the metric."""
    return anomalies.filter(reviewed_at__isnull=True).update(reviewed_at=timezone.now(), reviewed_by=user)
