"""Real captured payloads (tests/fixtures/realdata, provenance in its SOURCES.md) served to the real clients.

CoinPaprika's ticker list and CoinCap's daily top-100 pages are answered by `responses` at the URLs the
clients ask for; the CSVs are read by the real reader from their files.
"""

import json
import re
from pathlib import Path

import responses

from tests.factories import FIXTURES, run_etl

REALDATA = FIXTURES / "realdata"
PAPRIKA_TICKERS = REALDATA / "coinpaprika" / "maikelmclauflin_v1_tickers_usd_2019-09-06.json"
PAPRIKA_COINS = REALDATA / "coinpaprika" / "maikelmclauflin_v1_coins_2019-09-03.json"
COINCAP_DAYS = sorted((REALDATA / "coincap").glob("dadidelux_v3_assets_2025-05-*.json"))
KAGGLE_CLEAN = REALDATA / "csv" / "kaggle_sudalairajkumar_coin_Bitcoin_2013-04-29_to_2021-07-06.csv"
KAGGLE_MANGLED = REALDATA / "csv" / "kaggle_coin_Bitcoin_EXCEL_MANGLED_variant.csv"
MULTI_COIN = REALDATA / "csv" / "eileenwang_all_currencies_multi-coin_daily_ohlcv.csv"
PAPRIKA_URL = "http://coinpaprika.test/v1"
COINCAP_URL = "http://coincap.test/v3"


def sources_point(settings) -> None:
    """The API sources at the addresses `responses` answers, without rate limits."""
    settings.COINPAPRIKA_BASE_URL = PAPRIKA_URL
    settings.COINCAP_BASE_URL = COINCAP_URL
    settings.COINCAP_API_KEY = "test-key"
    settings.COINCAP_PAGE_SIZE = 100
    settings.COINPAPRIKA_RATE_LIMIT = settings.COINCAP_RATE_LIMIT = 0


def paprika_load(path: Path = PAPRIKA_TICKERS):
    """One run of the CoinPaprika source over a captured /v1/tickers body."""
    with responses.RequestsMock() as mocked:
        mocked.get(f"{PAPRIKA_URL}/tickers", body=path.read_bytes(), content_type="application/json")
        return run_etl("--source", "coinpaprika", check=False)


def coincap_load(path: Path):
    """One run of the CoinCap source over a captured /v3/assets page (the first; the next one is empty)."""
    page = json.loads(path.read_text())

    def answer(request):
        offset = int(re.search(r"offset=(\d+)", request.url).group(1))
        body = page if offset == 0 else {"data": [], "timestamp": page["timestamp"]}
        return 200, {}, json.dumps(body)

    with responses.RequestsMock() as mocked:
        mocked.add_callback(responses.GET, f"{COINCAP_URL}/assets", callback=answer, content_type="application/json")
        return run_etl("--source", "coincap", check=False)


def csv_load(settings, path: Path):
    settings.LEGACY_CSV_PATH = path
    return run_etl("--source", "legacy_csv", "--full", check=False)
