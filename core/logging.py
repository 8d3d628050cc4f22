"""Log records that say which request, run, source and task they belong to, as JSON lines or readable text.

The context lives in a contextvar, so whoever knows it (the request-id
middleware, the ETL services) sets it once and every record emitted beneath,
in any module, carries it; ContextFilter copies it onto each record. Celery's
current task gives the task id. Settings pick the formatter with LOG_FORMAT.
"""

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from celery import current_task

CONTEXT_FIELDS = ("request_id", "run_id", "source", "task_id")

# Read-only default: every change sets a new mapping, so no two contexts share one.
_context: ContextVar[Mapping[str, Any]] = ContextVar("kasparro_log_context", default=MappingProxyType({}))


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add these fields to every record logged inside the block (None leaves a field as it was)."""
    token = _context.set({**_context.get(), **{key: value for key, value in fields.items() if value is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def logged_with(*names: str) -> Callable:
    """Run a keyword-only function inside log_context of the named keyword arguments."""

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(**kwargs: Any) -> Any:
            with log_context(**{name: kwargs.get(name) for name in names}):
                return function(**kwargs)

        return wrapper

    return decorate


class ContextFilter(logging.Filter):
    """Copies the log context and Celery's task id onto the record, unless the call passed them in `extra`."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a 4xx/5xx answer after the middleware has returned, but hands over the request.
        request_id = getattr(getattr(record, "request", None), "id", None)
        task_id = getattr(getattr(current_task, "request", None), "id", None)
        found = {"request_id": request_id, "task_id": task_id, **_context.get()}
        for field in CONTEXT_FIELDS:
            if getattr(record, field, None) is None and found.get(field) is not None:
                setattr(record, field, found[field])
        return True


def _record_context(record: logging.LogRecord) -> dict[str, Any]:
    return {field: value for field in CONTEXT_FIELDS if (value := getattr(record, field, None)) is not None}


class _UtcFormatter(logging.Formatter):
    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class JsonFormatter(_UtcFormatter):
    """One JSON object per record, on one line: a log shipper needs no parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_record_context(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(_UtcFormatter):
    """Readable lines for a terminal, with the context in brackets after the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = " ".join(f"{key}={value}" for key, value in _record_context(record).items())
        return f"{line} [{context}]" if context else line
