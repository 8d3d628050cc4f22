"""The local CoinPaprika/CoinCap server: the recorded shapes, paging, auth, determinism and every fault kind."""

import itertools
import json
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
import requests
from django.core.management import CommandError, call_command

from devtools.faults import fault_spec_parse
from devtools.source_fakes import coin_universe
from devtools.source_server import COINCAP_V2_MESSAGE, SourceServer
from tests.factories import FIXTURES

# Copies of the recorded samples in shared/samples, kept with the tests so a clone runs them.
SAMPLES = FIXTURES
KEY = {"Authorization": "Bearer test-key"}
COINS = 120  # past the 80 real coins, so invented ones (shared symbols, dust prices) are served too
FAST = 2  # seconds: every request here answers well within it unless a fault holds it


@pytest.fixture
def server():
    with SourceServer(port=0, coins=COINS, seed=7) as running:
        yield running


def paprika(server: SourceServer, **kwargs) -> requests.Response:
    return requests.get(f"{server.coinpaprika_url}/tickers", timeout=FAST, **kwargs)


def coincap(server: SourceServer, *, headers: dict = KEY, **params) -> requests.Response:
    return requests.get(f"{server.coincap_url}/assets", params=params, headers=headers, timeout=FAST)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def same_json_type(ours: object, recorded: object) -> bool:
    numbers = (int, float)
    if isinstance(recorded, numbers) and not isinstance(recorded, bool):
        return isinstance(ours, numbers) and not isinstance(ours, bool)
    return type(ours) is type(recorded)


# Shapes


def test_coinpaprika_tickers_have_the_recorded_shape(server):
    recorded = sample("ticker_btc-bitcoin_2022-04-19.json")
    tickers = paprika(server).json()
    assert len(tickers) == COINS
    btc = tickers[0]
    assert (btc["id"], btc["symbol"], btc["rank"]) == ("btc-bitcoin", "BTC", 1)
    for ticker in tickers:
        assert ticker.keys() == recorded.keys()
        assert ticker["quotes"].keys() == {"USD"}
        assert ticker["quotes"]["USD"].keys() == recorded["quotes"]["USD"].keys()
        for key, value in recorded.items():
            assert key == "quotes" or same_json_type(ticker[key], value), key
        for key, value in recorded["quotes"]["USD"].items():
            ours = ticker["quotes"]["USD"][key]
            assert (key.startswith(("ath_", "percent_from")) and ours is None) or same_json_type(ours, value), key
        assert ticker["last_updated"] == "2025-07-01T00:00:00Z"


def test_coinpaprika_says_zero_for_an_unlimited_max_supply(server):
    by_id = {t["id"]: t for t in paprika(server).json()}
    unlimited = [c for c in server.coins if c.max_supply is None]
    assert unlimited and all(by_id[c.coinpaprika_id]["max_supply"] == 0 for c in unlimited)
    assert by_id["btc-bitcoin"]["max_supply"] == 21_000_000


def test_coinpaprika_takes_an_authorization_header_without_needing_one(server):
    assert paprika(server, headers={"Authorization": "pro-key"}).json() == paprika(server).json()


def test_coincap_assets_have_the_recorded_shape_every_number_a_string(server):
    recorded = sample("v2_asset_bitcoin_2024-11-21.json")
    body = coincap(server, limit=COINS).json()
    assert body.keys() == {"data", "timestamp"}
    assert body["timestamp"] == int(server.as_of.timestamp() * 1000)
    assert len(body["data"]) == COINS
    for asset in body["data"]:
        assert recorded.keys() <= asset.keys()
        for key in ("rank", "supply", "marketCapUsd", "volumeUsd24Hr", "priceUsd", "vwap24Hr"):
            assert isinstance(asset[key], str) and Decimal(asset[key]) >= 0, key
        for key in ("maxSupply", "changePercent24Hr"):
            assert asset[key] is None or isinstance(Decimal(asset[key]), Decimal), key
    bitcoin = body["data"][0]
    assert (bitcoin["id"], bitcoin["rank"], bitcoin["symbol"]) == ("bitcoin", "1", "BTC")
    assert len(bitcoin["priceUsd"].split(".")[1]) >= 16
    assert any(a["maxSupply"] is None for a in body["data"])
    assert any(a["changePercent24Hr"] is None for a in body["data"])


def test_coincap_dust_prices_keep_their_digits(server):
    prices = [a["priceUsd"] for a in coincap(server, limit=COINS).json()["data"]]
    dust = [p for p in prices if Decimal(p) < Decimal("1e-5")]
    assert dust
    assert all("e" not in p.lower() and len(Decimal(p).normalize().as_tuple().digits) >= 10 for p in dust)


def test_coincap_v2_answers_the_recorded_deprecation(server):
    recorded = sample("v2_assets_deprecated_2025-04-16.json")
    body = requests.get(f"{server.url}/coincap/v2/assets", timeout=FAST).json()
    assert body.keys() == recorded.keys()
    assert body["data"] == recorded["data"] == {"message": COINCAP_V2_MESSAGE}
    assert isinstance(body["timestamp"], int)


# CoinCap paging and auth


def test_coincap_pages_cover_every_coin_exactly_once(server):
    seen, offset = [], 0
    while True:
        page = coincap(server, limit=7, offset=offset).json()["data"]
        seen += [a["id"] for a in page]
        offset += 7
        if len(page) < 7:
            break
    assert seen == [c.coincap_id for c in server.coins]
    assert len(set(seen)) == COINS
    assert coincap(server, limit=7, offset=COINS).json()["data"] == []


def test_coincap_limit_defaults_to_100_and_refuses_more_than_2000(server):
    assert len(coincap(server).json()["data"]) == 100
    assert coincap(server, limit=2000).status_code == 200
    for bad in ({"limit": 2001}, {"limit": 0}, {"limit": "ten"}, {"offset": -1}):
        answer = coincap(server, **bad)
        assert answer.status_code == 400 and answer.json()["error"], bad


def test_coincap_needs_a_bearer_key(server):
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "test-key"}):
        answer = coincap(server, headers=headers)
        assert answer.status_code == 401 and answer.json()["error"], headers
    assert coincap(server, headers={}, apiKey="query-key").status_code == 200


def test_coincap_with_a_set_key_refuses_any_other():
    with SourceServer(port=0, coins=5, seed=1, api_key="right") as server:
        assert coincap(server, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert coincap(server, headers={"Authorization": "Bearer right"}).status_code == 200


# The universe and determinism


def test_universe_shares_symbols_between_different_coins_and_keeps_ids_unique():
    coins = coin_universe(coins=200, seed=7)
    counts = Counter(c.symbol for c in coins)
    assert counts["META"] >= 2 and counts["UNI"] >= 3
    assert 3 <= max(counts.values()) <= 12
    sharing_uni = [c for c in coins if c.symbol == "UNI"]
    assert sharing_uni[0].name == "Uniswap" and len({c.name for c in sharing_uni}) == len(sharing_uni)
    assert len({c.coinpaprika_id for c in coins}) == len({c.coincap_id for c in coins}) == 200
    assert [c.rank for c in coins] == list(range(1, 201))
    assert any(Decimal("1e-9") <= c.price < Decimal("1e-5") for c in coins[80:])
    assert all(c.coinpaprika_id.startswith(f"{c.symbol.lower()}-") for c in coins)


def test_universe_is_the_same_for_a_seed_and_differs_across_seeds():
    assert coin_universe(coins=150, seed=3) == coin_universe(coins=150, seed=3)
    assert coin_universe(coins=150, seed=3) != coin_universe(coins=150, seed=4)
    assert coin_universe(coins=150, seed=3)[:40] == coin_universe(coins=40, seed=3)


def test_two_fetches_are_identical_until_ticked(server):
    first_paprika, first_coincap = paprika(server).json(), coincap(server).json()
    assert paprika(server).json() == first_paprika and coincap(server).json() == first_coincap
    moved_to = server.tick(minutes=60)
    assert moved_to == server.as_of
    ticked = coincap(server).json()
    assert ticked["timestamp"] == first_coincap["timestamp"] + 3_600_000
    assert ticked["data"] == first_coincap["data"]
    assert paprika(server).json()[0]["last_updated"] == "2025-07-01T01:00:00Z"


def test_the_moment_moves_on_over_http(server):
    before = coincap(server).json()["timestamp"]
    answer = requests.post(f"{server.url}/_control/tick", json={"minutes": 90}, timeout=FAST)
    assert answer.json() == {"as_of": "2025-07-01T01:30:00+00:00"}
    assert coincap(server).json()["timestamp"] == before + 90 * 60_000
    assert requests.post(f"{server.url}/_control/tick", json={"minutes": "soon"}, timeout=FAST).status_code == 400


def test_advance_moves_the_moment_on_every_request():
    with SourceServer(port=0, coins=3, seed=1, advance=True) as server:
        stamps = [coincap(server).json()["timestamp"] for _ in range(3)]
    assert [b - a for a, b in itertools.pairwise(stamps)] == [60_000, 60_000]


def test_change_prices_moves_that_fraction_of_coins(server):
    before = {a["id"]: a["priceUsd"] for a in coincap(server, limit=COINS).json()["data"]}
    server.change_prices(fraction=0.05, seed=1)
    after = {a["id"]: a["priceUsd"] for a in coincap(server, limit=COINS).json()["data"]}
    assert sum(before[k] != after[k] for k in before) == 6  # 5% of 120, rounded up


# Faults


def test_status_fault_with_retry_after_applies_times_then_stops(server):
    server.set_fault("coincap", "status", times=2, code=429, retry_after=3)
    for _ in range(2):
        answer = coincap(server)
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "3"
        assert answer.json()["error"]
    assert coincap(server).status_code == 200
    assert server.requests("coincap") == 3


def test_faults_touch_only_their_source(server):
    server.set_fault("coincap", "status", code=503)
    assert paprika(server).status_code == 200
    assert [coincap(server).status_code for _ in range(3)] == [503, 503, 503]  # no times: every request


def test_latency_fault_delays_then_answers(server):
    server.set_fault("coinpaprika", "latency", times=1, seconds=0.3)
    started = time.perf_counter()
    assert paprika(server).status_code == 200
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    paprika(server)
    assert time.perf_counter() - started < 0.3


def test_timeout_fault_outlasts_the_clients_read_timeout(server):
    server.set_fault("coincap", "timeout", times=1, seconds=1)
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{server.coincap_url}/assets", headers=KEY, timeout=(FAST, 0.2))
    assert coincap(server).status_code == 200


def test_timeout_fault_hangs_up_at_once_when_the_server_stops():
    server = SourceServer(port=0, coins=3, seed=1).start()
    server.set_fault("coincap", "timeout")  # 30 seconds by default
    errors = []

    def fetch():
        try:
            coincap(server)
        except requests.RequestException as exc:
            errors.append(exc)

    client = threading.Thread(target=fetch)
    client.start()
    time.sleep(0.1)
    started = time.perf_counter()
    server.stop()
    client.join(FAST)
    assert time.perf_counter() - started < 1
    assert not client.is_alive() and isinstance(errors[0], requests.ConnectionError)


def test_truncate_fault_sends_half_the_body_with_a_matching_length(server):
    whole = coincap(server, limit=10).content
    server.set_fault("coincap", "truncate", times=1)
    answer = coincap(server, limit=10)
    assert answer.status_code == 200
    assert answer.content == whole[: len(whole) // 2]
    assert answer.headers["Content-Length"] == str(len(answer.content))
    with pytest.raises(requests.JSONDecodeError):
        answer.json()


def test_not_json_fault_answers_an_html_page_with_200(server):
    server.set_fault("coinpaprika", "not_json", times=1)
    answer = paprika(server)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.text.startswith("<!DOCTYPE html>")


def test_rename_field_fault_renames_the_key_in_every_item(server):
    server.set_fault("coincap", "rename_field", field="priceUsd", to="price_usd")
    server.set_fault("coinpaprika", "rename_field", times=1, field="price", to="usd_price")
    assets = coincap(server, limit=COINS).json()["data"]
    assert all("price_usd" in a and "priceUsd" not in a for a in assets)
    assert all("usd_price" in t["quotes"]["USD"] for t in paprika(server).json())
    assert all("price" in t["quotes"]["USD"] for t in paprika(server).json())


def test_faults_queue_one_after_another(server):
    server.set_fault("coincap", "status", times=1, code=502)
    server.set_fault("coincap", "not_json", times=1)
    answers = [coincap(server) for _ in range(3)]
    assert [a.status_code for a in answers] == [502, 200, 200]
    assert answers[1].headers["Content-Type"].startswith("text/html")
    assert answers[2].json()["data"]


def test_clear_faults(server):
    server.set_fault("coincap", "status", code=500)
    server.set_fault("coinpaprika", "status", code=500)
    server.clear_faults("coincap")
    assert coincap(server).status_code == 200 and paprika(server).status_code == 500
    server.clear_faults()
    assert paprika(server).status_code == 200


def test_faults_over_http(server):
    control = f"{server.url}/_control/faults"
    answer = requests.post(control, json={"source": "coincap", "kind": "status", "code": 503, "times": 1}, timeout=FAST)
    assert answer.status_code == 200 and answer.json()["faults"][0]["params"] == {"code": 503, "retry_after": None}
    assert coincap(server).status_code == 503 and coincap(server).status_code == 200
    requests.post(control, json={"source": "coinpaprika", "kind": "not_json"}, timeout=FAST)
    assert requests.delete(control, timeout=FAST).json() == {"faults": []}
    assert paprika(server).headers["Content-Type"] == "application/json"
    for bad in ({"source": "coingecko", "kind": "latency"}, {"source": "coincap", "kind": "latency"}, [1]):
        refused = requests.post(control, json=bad, timeout=FAST)
        assert refused.status_code == 400 and refused.json()["error"], bad
    assert server.requests("coincap") == 2  # control requests are not counted


def test_bad_faults_are_refused_with_the_reason(server):
    for source, kind, params, reason in (
        ("coincap", "explode", {}, "unknown fault kind"),
        ("coincap", "status", {}, "needs code="),
        ("coincap", "status", {"code": 200}, "not an error status"),
        ("coincap", "latency", {"seconds": "soon"}, "not a float"),
        ("coincap", "truncate", {"percent": 50}, "takes no percent"),
        ("coincap", "truncate", {"times": 0}, "at least 1"),
    ):
        with pytest.raises(ValueError, match=reason):
            server.set_fault(source, kind, **params)


def test_fault_spec_from_the_command_line():
    fault = fault_spec_parse(spec="coincap:status:code=503,retry_after=2,times=3")
    assert (fault.source, fault.kind, fault.times) == ("coincap", "status", 3)
    assert fault.params == {"code": 503, "retry_after": 2}
    assert fault_spec_parse(spec="coinpaprika:truncate").params == {}
    with pytest.raises(ValueError, match="not name=value"):
        fault_spec_parse(spec="coincap:latency:seconds")
    with pytest.raises(CommandError, match="unknown source"):
        call_command("serve_sources", "--port", "0", "--fault", "coingecko:latency:seconds=1")


def test_requests_are_counted_per_source_and_route(server):
    server.set_fault("coincap", "status", times=1, code=500)
    coincap(server)
    coincap(server)
    requests.get(f"{server.url}/coincap/v2/assets", timeout=FAST)
    paprika(server)
    assert server.requests("coincap") == 3
    assert server.requests("coincap", "/v3/assets") == 2
    assert server.requests("coincap", "/v2/assets") == 1
    assert server.requests("coinpaprika") == 1


def test_url_before_start_is_an_error():
    with pytest.raises(RuntimeError):
        _ = SourceServer(port=0, coins=1, seed=1).url
