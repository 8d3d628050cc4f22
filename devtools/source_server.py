"""A local stand-in for the CoinPaprika and CoinCap APIs, with faults on demand: tests, demos and benchmarks
never need the internet. (About 300 lines: one server, its routes and its handler read best together;
the data is devtools.source_fakes, the faults devtools.faults.)

    with SourceServer(port=0, coins=200, seed=7) as server:
        server.set_fault("coincap", "status", times=2, code=503, retry_after=1)
        requests.get(f"{server.coincap_url}/assets", headers={"Authorization": "Bearer k"})

Routes: `GET /coinpaprika/v1/tickers`, `GET /coincap/v3/assets?limit=&offset=` (a bearer key or `?apiKey=`
required), `GET /coincap/v2/assets` (the retired v2's answer), and `/_control/faults` to list (`GET`), queue
(`POST` a JSON fault) and clear (`DELETE`, `?source=` optional) faults over HTTP, and `POST /_control/prices`
(`{"fraction": 0.01, "seed": 1}`) to change that fraction of prices, and `POST /_control/tick` (`{"minutes": 60}`)
to move the moment on. The data holds still at the server's `as_of` until `tick()` (or every request, with
`advance=True`), so two fetches match unless told otherwise.
"""

import functools
import json
import logging
import threading
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools.faults import SOURCES, Fault, fault_make
from devtools.market_universe import MARKET_MOMENT
from devtools.source_fakes import MarketCoin, coin_universe, coincap_asset, coinpaprika_ticker, coins_repriced

logger = logging.getLogger(__name__)

COINCAP_DEFAULT_LIMIT = 100
COINCAP_MAX_LIMIT = 2000
COINCAP_V2_MESSAGE = (
    "We are deprecating this version of the CoinCap API on March 31, 2025. "
    "Sign up for our new V3 API at https://pro.coincap.io/dashboard"
)
# What a CDN in front of an API answers when the API behind it is down: 200, HTML.
_HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service temporarily unavailable</title></head>"
    b"<body><h1>Service temporarily unavailable</h1><p>Please try again in a few minutes.</p></body></html>\n"
)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang_up: bool = False  # after the delay, close the connection without answering
    padding: int = 0  # spaces streamed after the body (still valid JSON), for a body too large to hold
    trickle: float = 0.0  # bytes per second, when the body is to arrive that slowly


_NO_FAULT = Fault(source="", kind="", params={})


class SourceServer:
    """Both APIs on one local port, in a background thread; `start()`/`stop()` or a `with` block."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        coins: int = 200,
        seed: int = 7,
        api_key: str | None = None,
        as_of: datetime = MARKET_MOMENT,
        advance: bool = False,
    ):
        self._address = (host, port)
        self._api_key = api_key  # the one CoinCap key accepted; None accepts any
        self._advance = advance
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._coins = coin_universe(coins=coins, seed=seed, as_of=as_of)
        self._as_of = as_of
        self._faults: list[Fault] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "SourceServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> "SourceServer":
        self._stopping.clear()
        self._httpd = _HttpServer(self._address, app=self)
        # A short poll so stop() returns within a blink, not serve_forever's default half second.
        serve = functools.partial(self._httpd.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, name="source-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests held by a latency or timeout fault hang up at once."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = self._thread = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the source server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def coinpaprika_url(self) -> str:
        return f"{self.url}/coinpaprika/v1"

    @property
    def coincap_url(self) -> str:
        return f"{self.url}/coincap/v3"

    @property
    def coins(self) -> list[MarketCoin]:
        return list(self._coins)

    @property
    def as_of(self) -> datetime:
        return self._as_of

    def tick(self, *, minutes: float = 1) -> datetime:
        """Move the data's moment forward; returns the new one."""
        with self._lock:
            self._as_of += timedelta(minutes=minutes)
            return self._as_of

    def change_prices(self, *, fraction: float = 0.01, seed: int) -> None:
        with self._lock:
            self._coins = coins_repriced(coins=self._coins, fraction=fraction, seed=seed)

    def set_fault(self, source: str, kind: str, /, *, times: int | None = None, **params: Any) -> Fault:
        """Queue a fault for `source`: each request takes the first one queued, for `times` requests (or all)."""
        fault = fault_make(source=source, kind=kind, times=times, **params)
        self.add_fault(fault)
        return fault

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self, source: str | None = None) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if source is not None and f.source != source]

    def requests(self, source: str, route: str | None = None) -> int:
        """Requests received for `source`, faulted ones included; `route` narrows it, e.g. "/v3/assets"."""
        with self._lock:
            return sum(n for (s, r), n in self._counts.items() if s == source and route in (None, r))

    def answer(self, *, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """The reply to one request; the handler thread sends it."""
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path.startswith("/_control/"):
            return self._control(method=method, path=parts.path, query=query, body=body)
        source, _, rest = parts.path.lstrip("/").partition("/")
        if source not in SOURCES:
            return _json_reply(404, {"error": f"no such path {parts.path}"})
        route = f"/{rest}"
        with self._lock:
            self._counts[(source, route)] += 1
            fault = self._fault_take(source)
            as_of, coins = self._as_of, self._coins
            if self._advance:
                self._as_of += timedelta(minutes=1)
        if fault.kind == "status":
            retry_after = fault.params["retry_after"]
            return _json_reply(
                fault.params["code"],
                {"error": f"injected status {fault.params['code']}"},
                headers={} if retry_after is None else {"Retry-After": str(retry_after)},
            )
        if fault.kind == "timeout":
            return Reply(status=0, delay=fault.params["seconds"], hang_up=True)
        if fault.kind == "not_json":
            return Reply(status=200, body=_HTML_ERROR_PAGE, content_type="text/html; charset=utf-8")
        if fault.kind == "skew":
            factor = Decimal(str(fault.params["factor"]))
            coins = [replace(coin, price=coin.price * factor) for coin in coins]
        status, payload = self._route(
            method=method, source=source, route=route, query=query, headers=headers, as_of=as_of, coins=coins
        )
        if fault.kind == "rename_field":
            payload = _renamed(payload, old=fault.params["field"], new=fault.params["to"])
        if fault.kind == "empty":
            payload = [] if isinstance(payload, list) else {**payload, "data": []}
        reply = _json_reply(status, payload)
        if fault.kind == "trickle":
            return replace(reply, trickle=fault.params["bytes_per_second"])
        if fault.kind == "oversize":
            return replace(reply, padding=max(0, int(fault.params["megabytes"] * 2**20) - len(reply.body)))
        if fault.kind == "gzip_bomb":
            inflated = int(fault.params["megabytes"] * 2**20)
            return replace(reply, body=_gzip_padded(reply.body, inflated), headers={"Content-Encoding": "gzip"})
        if fault.kind == "truncate":
            return replace(reply, body=reply.body[: len(reply.body) // 2])
        if fault.kind == "latency":
            return replace(reply, delay=fault.params["seconds"])
        return reply

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True when it did."""
        return self._stopping.wait(seconds)

    def _fault_take(self, source: str) -> Fault:
        fault = next((f for f in self._faults if f.source == source), _NO_FAULT)
        if fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                self._faults.remove(fault)
        return fault

    def _route(
        self, *, method: str, source: str, route: str, query: dict, headers: dict, as_of: datetime, coins: list
    ) -> tuple[int, Any]:
        if method != "GET":
            return 405, {"error": f"{method} is not allowed here"}
        if (source, route) == ("coinpaprika", "/v1/tickers"):
            return 200, [coinpaprika_ticker(coin=coin, as_of=as_of) for coin in coins]
        if (source, route) == ("coincap", "/v2/assets"):
            return 200, {"data": {"message": COINCAP_V2_MESSAGE}, "timestamp": _epoch_ms(as_of)}
        if (source, route) == ("coincap", "/v3/assets"):
            return self._coincap_page(query=query, headers=headers, as_of=as_of, coins=coins)
        return 404, {"error": f"no such path /{source}{route}"}

    def _coincap_page(self, *, query: dict, headers: dict, as_of: datetime, coins: list) -> tuple[int, Any]:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        key = key.strip() if scheme.lower() == "bearer" else query.get("apiKey", "")
        if not key or (self._api_key is not None and key != self._api_key):
            return 401, {"error": "Unauthorized: send Authorization: Bearer <your API key>"}
        try:
            limit = int(query.get("limit", COINCAP_DEFAULT_LIMIT))
            offset = int(query.get("offset", 0))
        except ValueError:
            return 400, {"error": "limit and offset must be whole numbers"}
        if not 1 <= limit <= COINCAP_MAX_LIMIT or offset < 0:
            return 400, {"error": f"limit must be 1 to {COINCAP_MAX_LIMIT} and offset 0 or more"}
        page = [coincap_asset(coin=coin) for coin in coins[offset : offset + limit]]
        return 200, {"data": page, "timestamp": _epoch_ms(as_of)}

    def _control(self, *, method: str, path: str, query: dict, body: bytes) -> Reply:
        if path == "/_control/prices" and method == "POST":
            # A benchmark in another process changes a fraction of prices between runs.
            try:
                spec = json.loads(body or b"{}")
                self.change_prices(fraction=float(spec.get("fraction", 0.01)), seed=int(spec.get("seed", 0)))
            except (ValueError, TypeError, AttributeError) as exc:
                return _json_reply(400, {"error": f'send {{"fraction": 0.01, "seed": 1}}: {exc}'})
            return _json_reply(200, {"changed_fraction": spec.get("fraction", 0.01)})
        if path == "/_control/tick" and method == "POST":
            # A demo in another process moves the data's moment on between runs (new quotes, not updates).
            try:
                moment = self.tick(minutes=float(json.loads(body or b"{}").get("minutes", 1)))
            except (ValueError, TypeError, AttributeError) as exc:
                return _json_reply(400, {"error": f'send {{"minutes": 60}}: {exc}'})
            return _json_reply(200, {"as_of": moment.isoformat()})
        if path != "/_control/faults":
            return _json_reply(404, {"error": f"no such path {path}"})
        if method == "DELETE":
            self.clear_faults(query.get("source"))
        elif method == "POST":
            try:
                spec = json.loads(body or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError('send a JSON object: {"source": ..., "kind": ..., "times": ..., ...}')
                self.add_fault(fault_make(**spec))
            except (ValueError, TypeError) as exc:  # bad JSON, or a fault that does not hold together
                return _json_reply(400, {"error": str(exc)})
        elif method != "GET":
            return _json_reply(405, {"error": f"{method} is not allowed here"})
        with self._lock:
            return _json_reply(200, {"faults": [asdict(f) for f in self._faults]})


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, app: SourceServer):
        super().__init__(address, _Handler)
        self.app = app


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        reply = self.server.app.answer(
            method=self.command,
            target=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length),
        )
        stopped = bool(reply.delay) and self.server.app.wait(reply.delay)
        if stopped or reply.hang_up:
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body) + reply.padding))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            if reply.trickle:
                for index in range(len(reply.body)):
                    if self.server.app.wait(1 / reply.trickle):
                        return
                    self.wfile.write(reply.body[index : index + 1])
                    self.wfile.flush()
                return
            self.wfile.write(reply.body)
            for start in range(0, reply.padding, _PADDING_CHUNK):
                self.wfile.write(b" " * min(_PADDING_CHUNK, reply.padding - start))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on the body, as it should

    do_POST = do_DELETE = do_PUT = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def _json_reply(status: int, payload: Any, *, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body=json.dumps(payload).encode(), headers=headers or {})


_PADDING_CHUNK = 1 << 20


def _gzip_padded(body: bytes, size: int) -> bytes:
    """`body` and then spaces up to `size` bytes, gzipped a megabyte at a time (1 GiB of spaces is 1 MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    spaces = max(0, size - len(body))
    parts = [packer.compress(body)]
    parts.extend(
        packer.compress(b" " * min(_PADDING_CHUNK, spaces - start)) for start in range(0, spaces, _PADDING_CHUNK)
    )
    return b"".join([*parts, packer.flush()])


def _renamed(payload: Any, *, old: str, new: str) -> Any:
    """The payload with key `old` renamed to `new` wherever it stands, at any depth."""
    if isinstance(payload, dict):
        return {(new if k == old else k): _renamed(v, old=old, new=new) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_renamed(item, old=old, new=new) for item in payload]
    return payload


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
