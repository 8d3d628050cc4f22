"""API keys for reads (djangorestframework-api-key): open by default; with API_KEYS_REQUIRED every read
needs `Authorization: Api-Key <key>` or staff credentials; keys are made and revoked by a command or in
the admin, throttled per key, and described in the OpenAPI schema."""

import re
from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from coins.models import Coin
from core.access import ApiKeyRateThrottle
from etl.models import EtlRun, Trigger

pytestmark = pytest.mark.django_db


@pytest.fixture
def reads(db):
    """Every read endpoint, each with something to answer."""
    Coin.objects.create(slug="bitcoin", symbol="BTC", name="Bitcoin", name_key="bitcoin", rank=1)
    run = EtlRun.objects.create(trigger=Trigger.CLI, sources=["legacy_csv"])
    return ["/data", "/coins", "/coins/bitcoin", "/runs", f"/runs/{run.pk}", "/stats"]


@pytest.fixture
def keys_required(settings):
    settings.API_KEYS_REQUIRED = True


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def new_key(name: str = "acme", **fields) -> str:
    return APIKey.objects.create_key(name=name, **fields)[1]


def test_reads_are_open_by_default(reads):
    for url in reads:
        assert APIClient().get(url).status_code == 200, url


def test_with_keys_required_a_read_without_a_key_is_a_401_naming_the_scheme(reads, keys_required):
    for url in reads:
        response = APIClient().get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Api-Key"
        assert response.json()["detail"]


def test_with_keys_required_a_valid_key_reads_everything(reads, keys_required):
    client = key_client(new_key())
    for url in reads:
        assert client.get(url).status_code == 200, url


def test_health_metrics_schema_and_docs_stay_open(reads, keys_required):
    client = APIClient()
    assert client.get("/health").status_code in (200, 503)  # open: it answers its own checks, not a 401
    assert client.get("/metrics").status_code == 200
    assert client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_staff_token_and_session_still_read_but_a_non_staff_user_needs_a_key(reads, keys_required):
    staff = User.objects.create_user("ops", is_staff=True)
    token_client = APIClient()
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    session_client = APIClient()
    session_client.force_login(staff)
    viewer = APIClient()
    viewer.force_login(User.objects.create_user("viewer"))
    for url in reads:
        assert token_client.get(url).status_code == 200, url
        assert session_client.get(url).status_code == 200, url
        denied = viewer.get(url)
        assert denied.status_code == 403 and "API key" in denied.json()["detail"], url


@pytest.mark.parametrize(
    "make_bad_key",
    [
        lambda: "NoSuchPr.0123456789abcdef0123456789abcdef",
        lambda: new_key().split(".")[0] + ".not-the-secret",
        lambda: new_key(revoked=True),
        lambda: new_key(expiry_date=timezone.now() - timedelta(minutes=1)),
        lambda: "no-dot-at-all",
    ],
    ids=["unknown", "wrong-secret", "revoked", "expired", "malformed"],
)
def test_a_bad_key_is_a_401_even_where_reads_are_open(reads, make_bad_key):
    response = key_client(make_bad_key()).get("/data")
    assert response.status_code == 401
    assert response.json()["detail"] == "Unknown, revoked or expired API key."


def test_the_command_creates_a_working_key_and_revokes_it(reads, keys_required):
    out, err = StringIO(), StringIO()
    call_command("api_key", "create", "acme client", stdout=out, stderr=err)
    key = out.getvalue().strip()
    prefix = key.split(".")[0]
    assert re.fullmatch(r"\w{8}\.\w{32}", key) and prefix in err.getvalue()
    assert key_client(key).get("/data").status_code == 200
    assert APIKey.objects.get(prefix=prefix).hashed_key != key  # only a hash is kept

    listing = StringIO()
    call_command("api_key", "list", stdout=listing)
    assert f"{prefix}  active" in listing.getvalue() and "acme client" in listing.getvalue()

    call_command("api_key", "revoke", prefix, stdout=StringIO())
    assert key_client(key).get("/data").status_code == 401
    with pytest.raises(CommandError, match="no API key has the prefix"):
        call_command("api_key", "revoke", "NoSuchPr", stdout=StringIO())
    with pytest.raises(CommandError, match="needs a name"):
        call_command("api_key", "create", " ", stdout=StringIO(), stderr=StringIO())


def test_the_admin_creates_a_key_shown_once_and_revokes_it(reads, keys_required):
    admin = APIClient()
    admin.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    page = admin.post("/admin/rest_framework_api_key/apikey/add/", {"name": "partner"}, follow=True)
    messages = " ".join(str(m) for m in page.context["messages"])
    key = re.search(r"The API key for partner is: (\S+)\. ", messages).group(1)
    assert key_client(key).get("/stats").status_code == 200

    api_key = APIKey.objects.get(name="partner")
    admin.post(f"/admin/rest_framework_api_key/apikey/{api_key.pk}/change/", {"name": "partner", "revoked": "on"})
    assert key_client(key).get("/stats").status_code == 401


def test_reads_are_throttled_per_key(reads):
    first, second = key_client(new_key("first")), key_client(new_key("second"))
    with mock.patch.object(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/minute"}):
        codes = [first.get("/stats").status_code for _ in range(4)]
        other = second.get("/stats").status_code
        anonymous = [APIClient().get("/stats").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert other == 200  # its own budget
    assert anonymous == [200] * 4  # no key, not counted (reads are open by default)


@pytest.mark.parametrize("required", [False, True])
def test_the_schema_describes_the_api_key_scheme_on_every_read(api_client, settings, required):
    settings.API_KEYS_REQUIRED = required
    schema = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": mock.ANY,
    }
    for path in ("/data", "/coins", "/coins/{slug}", "/runs", "/runs/{run_id}", "/stats"):
        security = schema["paths"][path]["get"]["security"]
        assert {"ApiKeyAuth": []} in security, path
        assert ({} in security) is not required, path  # anonymous reads only while keys are not required
    assert "security" not in schema["paths"]["/health"]["get"]
    assert {"ApiKeyAuth": []} not in schema["paths"]["/run-etl"]["post"]["security"]
