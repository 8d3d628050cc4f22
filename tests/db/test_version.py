"""One version, from pyproject.toml, wherever a user reads it: /health, the OpenAPI info, the changelog."""

import re
import tomllib
from unittest import mock

import pytest
from django.db.utils import OperationalError

from core import health
from tests.factories import ROOT

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_version_is_a_release_number():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)


@pytest.mark.django_db
def test_health_names_the_running_version(api_client):
    assert api_client.get("/health").json()["version"] == VERSION


@pytest.mark.django_db
def test_an_unavailable_service_still_names_its_version(api_client):
    with mock.patch.object(health, "connection") as conn:
        conn.cursor.side_effect = OperationalError("could not connect to server")
        response = api_client.get("/health")
    assert response.status_code == 503
    assert response.json()["version"] == VERSION


def test_the_openapi_info_carries_the_version(api_client):
    schema = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["info"]["version"] == VERSION
    assert "version" in schema["components"]["schemas"]["Health"]["properties"]


def test_the_changelog_describes_the_current_version_first():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.MULTILINE)
    assert released and released[0] == VERSION
    assert re.search(r"^## \[Unreleased\]$", changelog, re.MULTILINE)
