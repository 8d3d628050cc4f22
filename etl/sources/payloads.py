"""Stored payloads as JSON text with every digit kept, and their validation into a source's model."""

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from etl.pipeline.records import UNSTORABLE
from etl.sources.errors import RecordRejected

M = TypeVar("M", bound=BaseModel)


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
    orjson writes the text ten times faster, and exactly as below whenever its
    output is ASCII; text with other characters (which json.dumps escapes in keys
    and around a lone surrogate) is written the slow way, so the stored text, and
    the hash that skips an unchanged item, never depend on the path.
    """
    try:
        text = orjson.dumps(value, default=_decimal_fragment).decode()
    except orjson.JSONEncodeError:  # a lone surrogate, an integer past 64 bits
        return _json_dumps_exact(value)
    return text if text.isascii() else _json_dumps_exact(value)


def _decimal_fragment(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json_dumps_exact(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_json_dumps_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_dumps_exact(v) for v in value) + "]"
    # Readable text, but a lone surrogate escaped: UTF-8 cannot encode it, so the raw row could not be staged.
    return json.dumps(value, ensure_ascii=isinstance(value, str) and UNSTORABLE.search(value) is not None)
