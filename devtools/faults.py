"""The faults the local source server injects, checked when they are made: each kind and its parameters."""

from dataclasses import dataclass
from typing import Any

from etl.sources import coincap, coinpaprika

# The APIs the server speaks, named as the registry names them.
SOURCES = (coinpaprika.NAME, coincap.NAME)
_REQUIRED = object()
# Each fault kind's parameters: (type, default); the type also reads them from the command line's text.
FAULT_PARAMS: dict[str, dict[str, tuple[type, Any]]] = {
    "latency": {"seconds": (float, _REQUIRED)},
    "status": {"code": (int, _REQUIRED), "retry_after": (int, None)},
    "timeout": {"seconds": (float, 30.0)},
    "truncate": {},
    "not_json": {},
    "rename_field": {"field": (str, _REQUIRED), "to": (str, _REQUIRED)},
    # Every price this source sends times `factor`: a source that disagrees with the others.
    "skew": {"factor": (float, _REQUIRED)},
    # The bounds a client needs: a body that never finishes, one too large, one that inflates past reason.
    "trickle": {"bytes_per_second": (float, 1.0)},
    "oversize": {"megabytes": (float, 200.0)},
    "gzip_bomb": {"megabytes": (float, 1024.0)},
    "empty": {},
}


@dataclass
class Fault:
    source: str
    kind: str
    params: dict[str, Any]
    times: int | None = None  # requests it still applies to; None: every request


def fault_make(*, source: str, kind: str, times: int | str | None = None, **params: Any) -> Fault:
    """A checked fault; raises ValueError naming what is wrong."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    if kind not in FAULT_PARAMS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_PARAMS)}")
    accepted = FAULT_PARAMS[kind]
    if unknown := set(params) - set(accepted):
        takes = ", ".join(accepted) or "nothing"
        raise ValueError(f"fault {kind!r} takes no {', '.join(sorted(unknown))}; it takes: {takes}")
    values = {}
    for name, (kind_of, default) in accepted.items():
        if name not in params and default is _REQUIRED:
            raise ValueError(f"fault {kind!r} needs {name}=")
        try:
            values[name] = kind_of(params[name]) if name in params else default
        except (TypeError, ValueError):
            raise ValueError(f"fault {kind!r}: {name}={params[name]!r} is not a {kind_of.__name__}") from None
    if kind == "status" and not 400 <= values["code"] <= 599:
        raise ValueError(f"fault 'status': code={values['code']} is not an error status (400-599)")
    if times is not None and (not str(times).isdigit() or int(times) < 1):
        raise ValueError(f"times={times!r} must be a whole number of requests, at least 1")
    return Fault(source=source, kind=kind, params=values, times=None if times is None else int(times))


def fault_spec_parse(*, spec: str) -> Fault:
    """`SOURCE:KIND[:k=v,...]`, as `serve_sources --fault` takes it: `coincap:status:code=503,times=2`."""
    source, _, rest = spec.partition(":")
    kind, _, pairs = rest.partition(":")
    params = {}
    for pair in filter(None, pairs.split(",")):
        name, equals, value = pair.partition("=")
        if not equals:
            raise ValueError(f"{pair!r} in {spec!r} is not name=value")
        params[name] = value
    return fault_make(source=source, kind=kind, **params)
