"""Every endpoint, fuzzed from its own OpenAPI document over a database a run has filled: no server error and
no answer the document does not describe (status code, content type, headers, body), whatever is sent.

Bounded: EXAMPLES cases per operation. Schemathesis's positive-data check is left out on purpose: some values
the document cannot bound are 400s by design (a page past the last, a cursor we did not mint, an offset past
±15:59, a lower bound above the upper), and each such 400 is itself documented and checked here.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.failures import FailureGroup

from kasparro.wsgi import application
from tests.factories import run_etl, write_csv

pytestmark = pytest.mark.django_db

EXAMPLES = 60


@pytest.fixture
def connection_kept():
    """As Django's test client does: the test's transaction must outlive each request."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_every_endpoint_answers_as_its_schema_says(csv_path, connection_kept, capsys):
    write_csv(
        csv_path,
        [f"{s},{p},{p * 1000},2024-11-21T0{h}:00:00Z,x" for s, p in (("BTC", 97000), ("ETH", 3400)) for h in range(3)],
    )
    run_etl()
    schema = schemathesis.openapi.from_wsgi("/schema", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures, calls = {}, 0
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            nonlocal calls
            calls += 1
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except FailureGroup as exc:  # what the checks found; anything else fails the test as it is
            failures[operation.label] = str(exc)[:3000]
    with capsys.disabled():
        print(f"\nschemathesis: {calls} requests over {len(operations)} operations, {len(failures)} failing")
    assert len(operations) >= 8
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
