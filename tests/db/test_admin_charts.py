"""The admin coin page's price chart (server-drawn SVG) and the admin's disagreement list."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.factories import make_disputed_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_():
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def test_the_coin_page_draws_each_source_and_the_consensus_and_marks_the_disagreement(admin_client_):
    btc = make_disputed_market()
    page = admin_client_.get(f"/admin/coins/coin/{btc.pk}/change/").content.decode()
    svg = re.search(r"<svg [^>]*price-chart.*?</svg>", page, re.S).group(0)
    assert re.findall(r'data-series="([^"]+)"', svg) == ["coincap", "coinpaprika", "legacy_csv", "consensus"]
    marks = re.findall(r'class="disagreement" data-starts-at="([^"]+)"', svg)
    assert marks == ["2024-11-19T17:00:00Z", "2024-11-19T18:00:00Z"]
    assert "<script" not in svg and "Price, last 7 days" in page and '<a href="?days=30">30 days</a>' in page
    # 72 hourly points each: 7 days hold all three days of quotes.
    assert all(len(points.split()) == 72 for points in re.findall(r'<polyline [^>]*points="([^"]+)"', svg))


def test_thirty_days_and_a_coin_without_quotes(admin_client_):
    btc = make_disputed_market(hours=24 * 20, skewed_hours=())
    page = admin_client_.get(f"/admin/coins/coin/{btc.pk}/change/?days=30").content.decode()
    assert "Price, last 30 days" in page
    assert all(len(p.split()) == 480 for p in re.findall(r'<polyline [^>]*points="([^"]+)"', page))
    assert 'class="disagreement"' not in page


def test_the_disagreement_list_names_the_coin_and_its_outlier(admin_client_):
    make_disputed_market()
    page = admin_client_.get("/admin/coins/disagreement/").content.decode()
    assert page.count("Bitcoin (BTC)") == 2 and "legacy_csv (+" in page
