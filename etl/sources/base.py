"""The small face every source module shows the pipeline."""

import json
from decimal import Decimal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from etl.normalize import QuoteRecord

if TYPE_CHECKING:
    from etl.http import SourceHttp


M = TypeVar("M", bound=BaseModel)


class SourceError(Exception):
    """The source as a whole failed (unreachable, wrong shape, missing columns); the message says why."""


class SourceNotConfigured(SourceError):
    """The source lacks a setting it needs (an API key, a file); reported, never a crash."""


class RecordRejected(ValueError):
    """One item failed validation; it is quarantined with this reason and the rest load."""


@dataclass(frozen=True, slots=True)
class RawItem:
    source_key: str
    position: int
    payload: str  # JSON text of the item as received


class Extraction:
    """A source's raw items; once iterated to the end, `checkpoint` holds the state to commit."""

    def __init__(self, items: Iterator[RawItem]):
        self._items = items
        self.checkpoint: dict | None = None

    def __iter__(self) -> Iterator[RawItem]:
        self.checkpoint = yield from self._items


class Source(Protocol):
    name: str
    http: "SourceHttp | None"  # the API sources' client, whose stats the run records
    # Each fetch sends every item once, keyed by source_key (the APIs); a file of rows is not a snapshot.
    snapshot: bool

    def extract(self, checkpoint: dict) -> Extraction: ...

    def to_quote(self, payload: str) -> QuoteRecord:
        """Validate one stored payload and map it to the unified record, or raise RecordRejected."""
        ...


def record_validate(model: type[M], payload: str, labels: Callable[[str], str] = str) -> M:
    """One stored payload through the source's pydantic model, or RecordRejected saying why not."""
    try:
        return model.model_validate(load_json_object(payload))
    except ValidationError as exc:
        raise RecordRejected(describe_validation_error(exc, labels)) from exc


def describe_validation_error(error: ValidationError, labels: Callable[[str], str] = str) -> str:
    """A pydantic error as one line a person can act on: "Price: not a number: 'abc'"."""
    parts = []
    for item in error.errors(include_url=False):
        field = ".".join(labels(str(part)) for part in item["loc"]) or "record"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def load_json_object(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise RecordRejected(f"stored payload is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RecordRejected(f"expected a JSON object, got {type(data).__name__}")
    return data


def json_dumps_exact(value: Any) -> str:
    """JSON text in which each Decimal is written as the number it is, every digit kept.

    json.dumps cannot write a Decimal as a number; the API sources parse floats
    as Decimal so that nothing is rounded between the wire and the database.
    """
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{json_dumps_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(json_dumps_exact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)
