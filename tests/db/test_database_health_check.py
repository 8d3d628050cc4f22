"""The PostgreSQL connection's health check (core.postgresql): no query while the connection is quiet,
and a connection the server ended is found unusable before a request's query fails on it."""

import time

import psycopg2
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the embedded SQLite has no server to lose"),
]


def test_a_quiet_connection_is_usable_without_a_query():
    connection.ensure_connection()
    with CaptureQueriesContext(connection) as captured:
        assert connection.is_usable()
    assert captured.captured_queries == []


def test_a_connection_the_server_ended_is_unusable():
    connection.ensure_connection()
    backend_pid = connection.connection.info.backend_pid
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    )
    try:
        other.autocommit = True
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.05)  # the server's goodbye takes a moment to arrive
    assert not connection.is_usable()
    connection.close()
