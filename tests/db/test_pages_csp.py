"""The pages people open (admin, browsable API, Swagger UI) under the Content-Security-Policy: the header
is sent, every script, style and image they reference is one of our own static files, and nothing on
them runs inline script (which script-src 'self' would block)."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client

from coins.models import Coin
from etl.models import EtlRun, Trigger

pytestmark = pytest.mark.django_db

ANONYMOUS_PAGES = ["/docs", "/admin/login/", "/api-auth/login/"]
STAFF_PAGES = [
    "/data",
    "/coins",
    "/coins/bitcoin",
    "/runs",
    "/stats",
    "/run-etl",
    "/admin/",
    "/admin/coins/coin/",
    "/admin/etl/etlrun/",
    "/admin/django_celery_beat/periodictask/add/",
    "/admin/rest_framework_api_key/apikey/add/",
    "/admin/axes/accessattempt/",
]


class PageRefs(HTMLParser):
    """What a page asks the browser to load or run."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.handlers: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [f"<{tag} {name}>" for name in attrs if name.startswith("on")]
        self.handlers += [f"<{tag} {v}>" for v in attrs.values() if v and v.strip().lower().startswith("javascript:")]
        if tag == "script":
            if attrs.get("src"):
                self.urls.append(attrs["src"])
            else:
                self._in_inline_script = attrs.get("type") != "application/json"  # data, never run
        elif tag == "link" and attrs.get("href") and set(attrs.get("rel", "").split()) & {"stylesheet", "icon"}:
            self.urls.append(attrs["href"])
        elif tag == "img" and attrs.get("src"):
            self.urls.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.inline_scripts.append(data.strip()[:80])


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


@pytest.fixture
def staff_client(db):
    Coin.objects.create(slug="bitcoin", symbol="BTC", name="Bitcoin", name_key="bitcoin", rank=1)
    EtlRun.objects.create(trigger=Trigger.CLI, sources=["legacy_csv"])
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def test_the_policy_allows_scripts_only_from_our_origin(client):
    directives = policy(client.get("/docs"))
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]


@pytest.mark.parametrize("url", ANONYMOUS_PAGES + STAFF_PAGES)
def test_every_page_loads_only_our_own_files_and_runs_no_inline_script(url, staff_client):
    client = staff_client if url in STAFF_PAGES else Client()
    response = client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code in (200, 405), url  # /run-etl answers GET with its form and a 405
    assert "script-src 'self'" in response["Content-Security-Policy"]
    refs = PageRefs()
    refs.feed(response.content.decode())

    assert refs.inline_scripts == [], "inline script is blocked by script-src 'self'"
    assert refs.handlers == [], "inline event handlers are blocked by script-src 'self'"
    assert refs.urls, "the page loads its scripts and styles"
    for ref in refs.urls:
        parts = urlsplit(ref)
        assert not parts.scheme and not parts.netloc, f"{ref} is not same-origin"
        if ref.startswith((settings.STATIC_URL, "/" + settings.STATIC_URL)):
            path = parts.path.split(settings.STATIC_URL, 1)[1]
            assert finders.find(path), f"{ref} is not one of our static files"
        else:
            assert client.get(ref).status_code == 200, ref


def test_swagger_ui_comes_from_the_sidecar_and_starts_from_its_own_script(client):
    page = client.get("/docs").content.decode()
    assert "cdn" not in page.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    script = client.get("/docs?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_browsable_apis_log_out_works_without_script(staff_client):
    page = staff_client.get("/stats", HTTP_ACCEPT="text/html").content.decode()
    assert '<form method="post" action="/api-auth/logout/?next=/stats">' in page
    response = staff_client.post("/api-auth/logout/?next=/stats")
    assert response.status_code == 302 and response["Location"] == "/stats"
    assert "_auth_user_id" not in staff_client.session
