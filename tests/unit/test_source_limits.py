"""Each source request is bounded: a deadline for the whole answer, a body size, and how far a body may inflate."""

import time
import tracemalloc

import pytest

from devtools.source_server import SourceServer
from etl.sources.errors import SourceError
from etl.sources.http import BodyLimits, RetryPolicy, SourceHttp

MIB = 2**20


class NoLimit:
    def acquire(self) -> None:
        pass


@pytest.fixture
def server():
    with SourceServer(port=0, coins=50, seed=3) as running:
        yield running


def tickers(server: SourceServer, **limits):
    http = SourceHttp(
        source="coinpaprika",
        rate_limiter=NoLimit(),
        policy=RetryPolicy(max_retries=0, backoff_seconds=0, backoff_max_seconds=0, retry_after_max_seconds=0),
        timeout=(10, 10),
        limits=BodyLimits(**{"deadline_seconds": 30, "max_bytes": 8 * MIB, "max_inflation": 100, **limits}),
    )
    return http.get_json(f"{server.coinpaprika_url}/tickers")


def test_a_body_trickling_in_is_cut_off_at_the_deadline_though_no_read_times_out(server):
    server.set_fault("coinpaprika", "trickle", bytes_per_second=50)  # 50 bytes a second: minutes for the body
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"^too slow after 1 attempts: the whole response took longer than 1 s"):
        tickers(server, deadline_seconds=1)
    assert time.monotonic() - started < 10


def test_a_body_declared_too_large_is_refused_before_it_is_read(server):
    server.set_fault("coinpaprika", "oversize", megabytes=200)
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match=r"declares 209,715,200 bytes, over the limit of 8,388,608"):
            tickers(server)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB  # not the 200 MiB body


@pytest.mark.parametrize(
    ("inflation", "refusal"),
    [(100, r"inflates more than 100 times its [\d,]+ bytes"), (1e9, r"is over 8,388,608 bytes, over the limit")],
)
def test_a_gzip_bomb_is_refused_holding_no_more_than_the_limit(server, inflation, refusal):
    server.set_fault("coinpaprika", "gzip_bomb", megabytes=64)
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match=refusal):
            tickers(server, max_inflation=inflation)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * 8 * MIB  # the limit and a piece, never the 64 MiB


def test_a_gzipped_answer_within_bounds_decodes(server):
    server.set_fault("coinpaprika", "gzip_bomb", megabytes=0)  # just the answer, gzipped
    assert len(tickers(server)) == 50
