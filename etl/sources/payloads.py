"""Stored payloads as JSON text with every digit kept, and their validation into a source's model."""

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from types import NoneType, UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError
from pydantic_core import PydanticUndefined

from etl.pipeline.records import UNSTORABLE
from etl.sources.errors import RecordRejected

M = TypeVar("M", bound=BaseModel)
# The types whose instances (of exactly the type) pydantic's validation returns as they are.
_PASSED_AS_IS = frozenset({str, int, Decimal, datetime, NoneType})
# Model settings that change nothing of how a record is validated.
_PLAIN_CONFIG = frozenset({"frozen", "title"})


def record_validate(model: type[M], payload: str, labels: Callable[[str], str] = str) -> M:
    """One stored payload through the source's pydantic model, or RecordRejected saying why not."""
    try:
        return model.model_validate(load_json_object(payload))
    except ValidationError as exc:
        raise RecordRejected(describe_validation_error(exc, labels)) from exc


def fields_validator(model: type[BaseModel]) -> Callable[[Mapping[str, Any]], dict[str, Any] | None]:
    """The model's validation of a flat record as plain calls: each field's own validators, none of pydantic's
    machinery. Returns the fields' values, or None where the model might judge otherwise (a validator refused,
    a value would be coerced, a required field is absent): validate that record by the model, for its reasons.

    Pydantic runs a field's Before validators last-declared first, checks the type, then runs its After
    validators in order; so does this. A value of exactly an annotated type passes pydantic's type check
    unchanged (the same object), so both paths give the same values. Any other kind of constraint has no
    plain call here: a model with one fails at import, rather than being read otherwise than pydantic reads it.
    """
    decorators = model.__pydantic_decorators__
    if (
        decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
    ):
        raise TypeError(f"{model.__name__}: validators outside the fields' annotations have no plain path")
    if set(model.model_config) - _PLAIN_CONFIG:
        raise TypeError(f"{model.__name__}: {sorted(set(model.model_config) - _PLAIN_CONFIG)} have no plain path")
    fields = [(name, _field_steps(model, name, info), info.default) for name, info in model.model_fields.items()]

    def validate(values: Mapping[str, Any]) -> dict[str, Any] | None:
        out = {}
        # Blind on purpose: whatever a step raises, the model's own validation says it, or raises it.
        try:
            for name, steps, default in fields:
                if name in values:
                    value = values[name]
                    for step in steps:
                        value = step(value)
                    out[name] = value
                elif default is PydanticUndefined:
                    return None
                else:
                    out[name] = default
        except Exception:  # noqa: BLE001
            return None
        return out

    return validate


def _field_steps(model: type[BaseModel], name: str, info: Any) -> list[Callable[[Any], Any]]:
    """The Before validators last-declared first, the type check, the After validators in order."""
    if info.default_factory is not None or info.alias is not None:
        raise TypeError(f"{model.__name__}.{name}: a default factory or an alias has no plain path")
    befores, afters = [], []
    for step in info.metadata:
        if isinstance(step, BeforeValidator):
            befores.insert(0, step.func)
        elif isinstance(step, AfterValidator):
            afters.append(step.func)
        else:
            raise TypeError(f"{model.__name__}.{name}: {step!r} has no plain path")
    annotation = info.annotation
    types = frozenset(get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,))
    if not types <= _PASSED_AS_IS:
        raise TypeError(f"{model.__name__}.{name}: {annotation} has no plain path")
    return [*befores, partial(_typed, types), *afters]


def _typed(types: frozenset[type], value: Any) -> Any:
    if type(value) not in types:
        raise TypeError("pydantic would coerce it")
    return value


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
