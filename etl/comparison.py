"""Reads for GET /runs/compare: how one finished run differs from another, per source and in prices."""

import math

from coins.models import Coin, Quote, SourceListing
from etl.models import EtlRun, ListingMove, RawRecord, SourceRun
from etl.pipeline.drift import schema_compare
from etl.sources.registry import source_names, source_spec

COUNTS = ("read", "inserted", "updated", "unchanged", "rejected")
DURATIONS = ("extract_seconds", "load_seconds", "duration_seconds")
# Coins a source added or dropped, listed each way at most this many (the counts are whole).
COINS_LISTED = 50


class NoRunToCompare(ValueError):
    """A run that cannot be compared; `parameter` names the query parameter at fault."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


def runs_to_compare(*, base: int | None, head: int | None) -> tuple[EtlRun, EtlRun]:
    """The two runs, each given or by default: head the newest finished run, base the finished one before it."""
    finished = EtlRun.objects.filter(finished_at__isnull=False)
    if head is None:
        head_run = finished.order_by("-id").first()
        if head_run is None:
            raise NoRunToCompare("head", "No finished run yet to compare.")
    else:
        head_run = _finished(head, "head")
    if base is None:
        base_run = finished.filter(id__lt=head_run.pk).order_by("-id").first()
        if base_run is None:
            raise NoRunToCompare("base", f"No finished run before run {head_run.pk} to compare it with.")
    else:
        base_run = _finished(base, "base")
    return base_run, head_run


def _finished(run_id: int, parameter: str) -> EtlRun:
    run = EtlRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NoRunToCompare(parameter, f"No run {run_id}.")
    if run.finished_at is None:
        raise NoRunToCompare(parameter, f"Run {run_id} is {run.status}; only finished runs are compared.")
    return run


def runs_compare(*, base: EtlRun, head: EtlRun, top: int) -> dict:
    parts = {(p.run_id, p.source): p for p in SourceRun.objects.filter(run__in=[base, head])}
    sources = [name for name in source_names() if (base.pk, name) in parts or (head.pk, name) in parts]
    early, late = sorted((base, head), key=lambda run: run.finished_at)
    moved = ListingMove.objects.filter(moved_at__gt=early.finished_at, moved_at__lte=late.finished_at)
    return {
        "base": _run_brief(base),
        "head": _run_brief(head),
        "sources": {
            name: _source_compare(base, head, parts.get((base.pk, name)), parts.get((head.pk, name)), name)
            for name in sources
        },
        "listings_moved": [
            {"source": m.source, "source_id": m.source_id, "from": m.from_coin, "to": m.to_coin, "moved_at": m.moved_at}
            for m in moved.order_by("id")
        ],
        "price_moves": _price_moves(base, head, top=top),
    }


def _run_brief(run: EtlRun) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": run.duration_seconds,
    }


def _pair(before, after, *, digits: int | None = None) -> dict:
    delta = None if before is None or after is None else after - before
    if digits is not None and delta is not None:
        before, after, delta = (round(v, digits) if v is not None else None for v in (before, after, delta))
    return {"base": before, "head": after, "delta": delta}


def _source_compare(base: EtlRun, head: EtlRun, before: SourceRun | None, after: SourceRun | None, name: str) -> dict:
    def figure(part: SourceRun | None, field: str):
        return getattr(part, field) if part is not None else None

    added, removed = _coins_sent(base, head, name) if source_spec(name).snapshot else (None, None)
    return {
        "status": {"base": figure(before, "status"), "head": figure(after, "status")},
        "counts": {field: _pair(figure(before, field), figure(after, field)) for field in COUNTS},
        "durations": {field: _pair(figure(before, field), figure(after, field), digits=3) for field in DURATIONS},
        "coins_added": added,
        "coins_removed": removed,
        "schema_drift": schema_compare(old=figure(before, "schema"), new=figure(after, "schema")),
    }


def _coins_sent(base: EtlRun, head: EtlRun, name: str) -> tuple[dict | None, dict | None]:
    """What a snapshot source sent in one run and not the other, by its ids; None where the raw records are pruned."""

    def keys(run: EtlRun) -> set[str] | None:
        rows = RawRecord.objects.filter(run_id=run.replay_of_id or run.pk, source=name)
        found = set(rows.values_list("source_key", flat=True))
        return found or None

    before, after = keys(base), keys(head)
    if before is None or after is None:
        return None, None
    return _coins_listed(name, after - before), _coins_listed(name, before - after)


def _coins_listed(name: str, source_ids: set[str]) -> dict:
    shown = sorted(source_ids)[:COINS_LISTED]
    slugs = dict(SourceListing.objects.filter(source=name, source_id__in=shown).values_list("source_id", "coin__slug"))
    return {"count": len(source_ids), "items": [{"source_id": key, "coin": slugs.get(key)} for key in shown]}


def _price_moves(base: EtlRun, head: EtlRun, *, top: int) -> list[dict]:
    """The quotes each run wrote, newest per coin and source, joined; the `top` biggest moves, both ways alike."""

    def newest(run: EtlRun) -> dict[tuple[int, str], tuple]:
        latest = {}
        for coin_id, source, as_of, price in (
            Quote.objects.filter(run_id=run.pk).order_by("as_of").values_list("coin_id", "source", "as_of", "price_usd")
        ):
            latest[(coin_id, source)] = (as_of, price)
        return latest

    before, after = newest(base), newest(head)
    moves = []
    for key in before.keys() & after.keys():
        (was_at, was), (now_at, now) = before[key], after[key]
        if was > 0 and now > 0 and was != now:
            moves.append((abs(math.log(now / was)), key, was, was_at, now, now_at))
    moves.sort(key=lambda move: move[0], reverse=True)
    moves = moves[:top]
    slugs = dict(Coin.objects.filter(pk__in={key[0] for _, key, *_ in moves}).values_list("pk", "slug"))
    return [
        {
            "coin": slugs[key[0]],
            "source": key[1],
            "base": {"price_usd": format(was, "f"), "as_of": was_at},
            "head": {"price_usd": format(now, "f"), "as_of": now_at},
            "change_percent": round(float((now - was) / was * 100), 4),
        }
        for _, key, was, was_at, now, now_at in moves
    ]
