"""Headers the alias table does not know: read as unified fields when confirmed, or found alike enough."""

import dataclasses
from dataclasses import dataclass

from etl.pipeline.drift import RENAME_REPORT_FLOOR, rename_confidence
from etl.sources.errors import SourceError
from etl.sources.legacy_csv.columns import ALIASES, HEADER_ALIASES, column_map, missing_columns
from etl.sources.parsing import fold_header

# What each unified field's column holds when no earlier run shows it: numbers, text, or (None) either.
_NUMERIC_SHARE = {"symbol": 0.0, "name": 0.0, "as_of": None}


@dataclass(frozen=True)
class HeaderRename:
    """An unknown header read as a unified field: confirmed by an operator, or found with a confidence."""

    header: str
    field: str
    confidence: float
    confirmed: bool = False
    applied: bool = True

    def as_dict(self) -> dict:
        return {
            "header": self.header,
            "field": self.field,
            "confidence": self.confidence,
            "confirmed": self.confirmed,
            "applied": self.applied,
        }


class HeaderUnresolved(SourceError):
    """A required field no header carries; `candidates` are the renames found below the confidence to apply."""

    def __init__(self, message: str, *, candidates: list[HeaderRename]):
        super().__init__(message)
        self.candidates = candidates


@dataclass(frozen=True)
class KnownHeaders:
    """What a run knows of the file before reading it: confirmed mappings and the last good run's profile."""

    confirmed: dict[str, str] = dataclasses.field(default_factory=dict)
    baseline: dict | None = None
    # The renames the baseline run applied without a confirmation: applied again, with their warning.
    baseline_renames: list[dict] = dataclasses.field(default_factory=list)
    threshold: float = 0.8


def header_renames(*, header: tuple[str, ...], profile: dict, known: KnownHeaders) -> list[HeaderRename]:
    """Each header no alias and no earlier run knows, matched one to one to a field no header carries.

    Applied (`applied`) when confirmed or at least `known.threshold` sure; the rest are candidates.
    """
    kept = [HeaderRename(h, f, 1.0, confirmed=True) for h, f in known.confirmed.items() if h in header]
    kept += [
        HeaderRename(r["header"], r["field"], r["confidence"])
        for r in known.baseline_renames
        if r["applied"] and not r["confirmed"] and r["header"] in header and r["header"] not in known.confirmed
    ]
    columns = column_map(header, tuple((r.header, r.field) for r in kept))
    before = known.baseline or {}
    carried = column_map(
        tuple(before.get("header", ())), tuple((r["header"], r["field"]) for r in known.baseline_renames)
    )
    new = [
        h
        for h in header
        if h not in columns.values() and fold_header(h) not in ALIASES and h not in before.get("fields", {})
    ]
    scored = sorted(
        (
            (
                rename_confidence(
                    old_names=_names_of(f, carried),
                    old=_baseline_of(f, carried, before),
                    new_name=h,
                    new=profile["fields"][h],
                ),
                h,
                f,
            )
            for h in new
            for f in HEADER_ALIASES
            if f not in columns
        ),
        reverse=True,
    )
    found, taken = [], set()
    for confidence, header_name, unified in scored:
        if header_name in taken or unified in taken:
            continue
        taken.update((header_name, unified))
        found.append(HeaderRename(header_name, unified, confidence, applied=confidence >= known.threshold))
    # Candidates worth naming: those alike enough, and for each required field still missing (the source fails
    # with them) its best unapplied header, whatever else that header was paired with.
    missing = missing_columns(header, applied_renames(kept + found))
    named = [r for r in found if r.applied or r.confidence >= RENAME_REPORT_FLOOR]
    used = {r.header for r in named if r.applied}
    for unified in missing:
        best = next(((c, h) for c, h, f in scored if f == unified and h not in used), None)
        if best is not None and not any(r.header == best[1] and r.field == unified for r in named):
            named.append(HeaderRename(best[1], unified, best[0], applied=False))
    return kept + named


def _names_of(unified: str, carried: dict[str, str]) -> list[str]:
    return [*HEADER_ALIASES[unified], *([carried[unified]] if unified in carried else [])]


def _baseline_of(unified: str, carried: dict[str, str], before: dict) -> dict | None:
    """The field's column as the last good run profiled it, or what such a column holds."""
    if unified in carried and carried[unified] in before.get("fields", {}):
        return before["fields"][carried[unified]]
    share = _NUMERIC_SHARE.get(unified, 1.0)
    if share is None:
        return None
    return {"type": "string", "null_rate": 0.0, "numeric": share, "min": None, "max": None}


def applied_renames(renames: list[HeaderRename]) -> tuple[tuple[str, str], ...]:
    return tuple((r.header, r.field) for r in renames if r.applied)
