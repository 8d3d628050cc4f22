"""One API: what every endpoint does alike with a parameter it does not know, a range that is no range,
a 404, the request id in the body, and its links behind a proxy."""

import pytest
from django.test.utils import override_script_prefix

from tests.factories import make_coin, make_quotes, staff_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/data?symbl=BTC", "symbl"),
        ("/data?page=2", "page"),  # /data pages with a cursor
        ("/coins?cursor=abc", "cursor"),  # /coins pages by number
        ("/coins/bitcoin?histroy=3", "histroy"),
        ("/runs?page=1", "page"),
        ("/runs/1?verbose=1", "verbose"),
        ("/stats?source=coincap", "source"),
    ],
)
def test_an_unknown_query_parameter_is_a_400_naming_it(api_client, url, name):
    make_coin("BTC", "Bitcoin", "bitcoin")
    response = api_client.get(url)
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == [name, "request_id"]
    assert body[name][0].startswith("Unknown parameter; this endpoint takes: ")


def test_the_known_parameters_are_listed_and_taken(api_client):
    message = api_client.get("/data?symbl=BTC").json()["symbl"][0]
    assert message.endswith(
        "as_of_after, as_of_before, coin, cursor, max_price, min_price, ordering, page_size, source, symbol."
    )
    for url in (
        "/data?symbol=BTC&source=coincap&page_size=5&ordering=price_usd&format=json",
        "/coins?search=bit&page=1&page_size=5",
        "/runs?status=failed&trigger=api&page_size=5",
        "/stats?format=json",
    ):
        assert api_client.get(url).status_code == 200, url


def test_a_price_range_upside_down_is_a_400(api_client):
    response = api_client.get("/data?min_price=10&max_price=1")
    assert response.status_code == 400
    assert response.json()["min_price"] == ["Must not be above max_price (1)."]
    assert api_client.get("/data?min_price=1&max_price=1").status_code == 200  # both bounds are inclusive


def test_a_time_window_upside_down_or_empty_is_a_400(api_client):
    later, earlier = "2024-11-22T00:00:00Z", "2024-11-21T00:00:00Z"
    response = api_client.get(f"/data?as_of_after={later}&as_of_before={earlier}")
    assert response.status_code == 400
    assert response.json()["as_of_after"][0].startswith("Must be before as_of_before")
    assert api_client.get(f"/data?as_of_after={later}&as_of_before={later}").status_code == 400
    assert api_client.get(f"/data?as_of_after={earlier}&as_of_before={later}").status_code == 200


def test_a_bad_source_lists_the_sources_as_a_bad_ordering_lists_the_orderings(api_client):
    source = api_client.get("/data?source=coinpaprica").json()["source"]
    assert source == ["Unknown source 'coinpaprica'; use one of: coinpaprika, coincap, legacy_csv."]
    ordering = api_client.get("/data?ordering=rank").json()["ordering"][0]
    assert ordering.startswith("Unknown ordering 'rank'; use one of: ")


@pytest.mark.parametrize("url", ["/runs/abc", "/runs/12345", "/coins/no-such-coin", "/datum", "/coins/a/b", "/"])
def test_every_404_is_json_with_a_detail_and_the_request_id(api_client, url):
    response = api_client.get(url, HTTP_X_REQUEST_ID="trace-404")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["detail"] and body["request_id"] == "trace-404"


def test_a_404_is_json_in_debug_mode_too(api_client, settings):
    settings.DEBUG = True
    response = api_client.get("/runs/abc")
    assert response.status_code == 404 and response.json()["detail"].startswith("Nothing at /runs/abc")


def test_the_admin_keeps_its_own_pages(client):
    assert client.get("/admin/").status_code == 302  # to the login page, not the API's 404


def test_every_answer_of_the_trigger_carries_the_request_id(celery_queue):
    client = staff_client()
    accepted = client.post("/run-etl", {}, format="json", HTTP_X_REQUEST_ID="trace-202")
    conflict = client.post("/run-etl", {}, format="json", HTTP_X_REQUEST_ID="trace-409")
    assert (accepted.status_code, accepted.json()["request_id"]) == (202, "trace-202")
    assert (conflict.status_code, conflict.json()["request_id"]) == (409, "trace-409")


def test_single_objects_carry_the_request_id_and_lists_carry_it_in_meta(api_client):
    make_coin("BTC", "Bitcoin", "bitcoin")
    for url in ("/coins/bitcoin", "/stats"):
        assert api_client.get(url, HTTP_X_REQUEST_ID="trace-1").json()["request_id"] == "trace-1"
    body = api_client.get("/coins", HTTP_X_REQUEST_ID="trace-2").json()
    assert body["meta"]["request_id"] == "trace-2" and "request_id" not in body


def test_links_behind_a_proxy_keep_its_host_and_path_prefix(api_client, settings):
    settings.USE_X_FORWARDED_HOST = True
    settings.FORCE_SCRIPT_NAME = "/kasparro"
    settings.ALLOWED_HOSTS = ["api.example.com"]
    btc = make_coin("BTC", "Bitcoin", "bitcoin")
    make_quotes(btc, 3)
    body = api_client.get("/data?page_size=1", HTTP_X_FORWARDED_HOST="api.example.com").json()
    assert body["next"].startswith("http://api.example.com/kasparro/data?")
    # The proxy takes its prefix off before passing the request on.
    forwarded = body["next"].removeprefix("http://api.example.com/kasparro")
    back = api_client.get(forwarded, HTTP_X_FORWARDED_HOST="api.example.com")
    assert back.json()["previous"].startswith("http://api.example.com/kasparro/data?")
    make_coin("ETH", "Ethereum", "ethereum")
    coins = api_client.get("/coins?page_size=1", HTTP_X_FORWARDED_HOST="api.example.com").json()
    assert coins["next"].startswith("http://api.example.com/kasparro/coins?")


def test_the_trigger_links_the_run_behind_a_proxy(settings, celery_queue):
    settings.USE_X_FORWARDED_HOST = True
    settings.FORCE_SCRIPT_NAME = "/kasparro"
    settings.ALLOWED_HOSTS = ["api.example.com"]
    # Django's WSGI handler sets the script prefix from FORCE_SCRIPT_NAME on every request; the test client does not.
    with override_script_prefix("/kasparro/"):
        body = staff_client().post("/run-etl", {}, format="json", HTTP_X_FORWARDED_HOST="api.example.com").json()
    assert body["url"] == f"http://api.example.com/kasparro/runs/{body['run_id']}"
