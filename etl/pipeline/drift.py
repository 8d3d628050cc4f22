"""Schema drift, pure: what a source sent (a profile of its fields), how it differs from a baseline, and how
sure a rename is.

A profile holds, per field path, its dominant JSON type, how many values were null and, for numbers and
numeric strings, the range. A rename is a removed field and an added one whose names are alike (rapidfuzz)
and whose values are alike (type, null rate, share of numbers, range): the confidence is the names'
similarity scaled by the values', so a rename needs both.
"""

import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from rapidfuzz import fuzz

# Pairs below this are not reported as renames: they stay an added and a removed field.
RENAME_REPORT_FLOOR = 0.65
_NON_ALNUM = re.compile(r"[^0-9a-z]")
_NUMBER = re.compile(r"\s*[-+]?\$?\d[\d,]*(\.\d+)?([eE][-+]?\d+)?%?\s*")


def fold_name(name: str) -> str:
    """A field's name as compared: lower case, letters and digits only ("Prce (USD)" is "prceusd")."""
    return _NON_ALNUM.sub("", name.lower())


class SchemaProfiler:
    """Fed one item (a decoded JSON object) at a time; `profile()` is the JSON the run keeps."""

    def __init__(self) -> None:
        self.items = 0
        self._fields: dict[str, dict[str, Any]] = {}

    def feed(self, item: Mapping[str, Any]) -> None:
        self.items += 1
        for path, value in _leaves(item, ""):
            field = self._fields.setdefault(path, {"types": {}, "count": 0, "nulls": 0, "numbers": 0, "range": None})
            field["count"] += 1
            kind = _json_type(value)
            field["types"][kind] = field["types"].get(kind, 0) + 1
            if kind == "null" or (kind == "string" and not value.strip()):
                field["nulls"] += 1
                continue
            number = _as_number(value)
            if number is not None:
                field["numbers"] += 1
                low, high = field["range"] or (number, number)
                field["range"] = (min(low, number), max(high, number))

    def profile(self) -> dict:
        fields = {}
        for path, field in self._fields.items():
            present = [k for k in field["types"] if k != "null"]
            filled = field["count"] - field["nulls"]
            fields[path] = {
                "type": max(present, key=field["types"].get) if present else "null",
                # Absent from an item counts as null: an optional field's rate of being missing.
                "null_rate": round(1 - filled / self.items, 4) if self.items else 0.0,
                "numeric": round(field["numbers"] / filled, 4) if filled else 0.0,
                "min": field["range"][0] if field["range"] else None,
                "max": field["range"][1] if field["range"] else None,
            }
        return {"items": self.items, "fields": fields}


def header_profile(header: Iterable[str], rows: Iterable[Iterable[str]]) -> dict:
    """A CSV's profile: its header as read, each column profiled over the rows given (a sample)."""
    header = list(header)
    profiler = SchemaProfiler()
    for cells in rows:
        profiler.feed(dict(zip(header, cells, strict=False)))
    profile = profiler.profile()
    empty = {"type": "null", "null_rate": 1.0, "numeric": 0.0, "min": None, "max": None}
    profile["fields"] = {name: profile["fields"].get(name, empty) for name in header}
    profile["header"] = header
    return profile


def schema_compare(*, old: dict | None, new: dict | None) -> dict | None:
    """How `new` differs from `old`: added, removed, retyped and renamed fields; None without both."""
    if not old or not new:
        return None
    before, after = old["fields"], new["fields"]
    added = [path for path in after if path not in before]
    removed = [path for path in before if path not in after]
    renamed = []
    for old_path, new_path, confidence in _rename_pairs(removed, added, before, after):
        renamed.append({"from": old_path, "to": new_path, "confidence": confidence, "applied": False})
        removed.remove(old_path)
        added.remove(new_path)
    retyped = [
        {"field": path, "from": before[path]["type"], "to": after[path]["type"]}
        for path in after
        if path in before
        and "null" not in (before[path]["type"], after[path]["type"])
        and before[path]["type"] != after[path]["type"]
    ]
    return {"added": added, "removed": removed, "retyped": retyped, "renamed": renamed}


def drift_changes(drift: dict | None) -> int:
    """How many changes a drift holds (0 for none or no baseline)."""
    if not drift:
        return 0
    return sum(len(drift.get(part, ())) for part in ("added", "removed", "retyped", "renamed"))


def drift_summary(drift: dict) -> str:
    """One line: "renamed quotes.USD.price as quotes.USD.price_usd (0.93, not applied); added x"."""
    parts = [
        f"renamed {r['from']!r} as {r['to']!r} ({r['confidence']:.2f}, {'applied' if r['applied'] else 'not applied'})"
        for r in drift["renamed"]
    ]
    parts += [f"retyped {r['field']!r} {r['from']} -> {r['to']}" for r in drift["retyped"]]
    parts += [f"added {path!r}" for path in drift["added"]]
    parts += [f"removed {path!r}" for path in drift["removed"]]
    return "; ".join(parts)


def rename_confidence(
    *, old_names: Iterable[str], old: dict | None, new_name: str, new: dict, same_parent: bool = True
) -> float:
    """How sure it is that the field `new_name` (profiled `new`) is the field once called any of `old_names`.

    The names' best similarity, scaled by the values' (half weight): alike names with unlike values,
    or unlike names with alike values, stay below a confident match.
    """
    target = fold_name(new_name.rpartition(".")[2])
    name = max((name_similarity(fold_name(n.rpartition(".")[2]), target) for n in old_names), default=0.0)
    if not same_parent:
        name *= 0.8
    values = value_similarity(old, new) if old is not None else 1.0
    return round(name * (0.5 + 0.5 * values), 2)


def name_similarity(a: str, b: str) -> float:
    """0 to 1 for two folded names: their edit similarity, or 0.9 for one name spelled out inside the other
    ("price" in "priceusd"), where the shorter has at least 4 characters and half the longer's length: a
    short alias ("ts") inside any long header says nothing."""
    similarity = fuzz.ratio(a, b) / 100
    short, long = sorted((a, b), key=len)
    if len(short) >= 4 and 2 * len(short) >= len(long):
        similarity = max(similarity, 0.9 * fuzz.partial_ratio(short, long) / 100)
    return similarity


def value_similarity(old: dict, new: dict) -> float:
    """0 to 1: how alike two fields' values are, by dominant type, null rate, share of numbers and range.

    A side with no values at all (a run that read only its header) says nothing against the other: 1.
    """
    if "null" in (old["type"], new["type"]):
        return 1.0
    parts = [
        (0.4, 1.0 if old["type"] == new["type"] else 0.0),
        (0.2, 1 - abs(old["null_rate"] - new["null_rate"])),
        (0.2, 1 - abs(old["numeric"] - new["numeric"])),
    ]
    if old["min"] is not None and new["min"] is not None:
        parts.append((0.2, _range_overlap((old["min"], old["max"]), (new["min"], new["max"]))))
    return sum(w * v for w, v in parts) / sum(w for w, _ in parts)


def _rename_pairs(removed: list[str], added: list[str], before: dict, after: dict) -> list[tuple[str, str, float]]:
    """The best one-to-one pairs of removed and added fields, most confident first, above the report floor."""
    scored = sorted(
        (
            (
                rename_confidence(
                    old_names=[old],
                    old=before[old],
                    new_name=new,
                    new=after[new],
                    same_parent=_parent(old) == _parent(new),
                ),
                old,
                new,
            )
            for old in removed
            for new in added
        ),
        reverse=True,
    )
    pairs, taken = [], set()
    for confidence, old, new in scored:
        if confidence < RENAME_REPORT_FLOOR:
            break
        if old not in taken and new not in taken:
            pairs.append((old, new, confidence))
            taken.update((old, new))
    return pairs


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _leaves(value: Mapping[str, Any], prefix: str) -> Iterable[tuple[str, Any]]:
    for key, item in value.items():
        path = f"{prefix}{key}"
        # A map keyed by ids (CoinCap's `tokens`, by chain id) is one field, not a field per id: else every
        # chain an asset adds or drops would read as schema drift.
        if isinstance(item, dict) and item and not all(str(k).isdigit() for k in item):
            yield from _leaves(item, f"{path}.")
        else:
            yield path, item


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, str) and _NUMBER.fullmatch(value):
        try:
            number = float(Decimal(value.strip().lstrip("$").rstrip("%").replace(",", "")))
        except InvalidOperation:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _range_overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """1 when two ranges meet (on a log scale for positive figures), falling as the gap between them grows."""
    if min(a[0], b[0]) > 0:
        a, b = (math.log10(a[0]), math.log10(a[1])), (math.log10(b[0]), math.log10(b[1]))
    gap = max(a[0], b[0]) - min(a[1], b[1])
    if gap <= 0:
        return 1.0
    span = max(a[1], b[1]) - min(a[0], b[0])
    return max(0.0, 1 - gap / span) if span else 0.0
