import pytest


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # The manifest storage needs collectstatic, which tests do not run.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture
def csv_path(tmp_path, settings):
    """Point the legacy CSV source at a file in tmp_path (write it with tests.factories.write_csv)."""
    path = tmp_path / "coins.csv"
    settings.LEGACY_CSV_PATH = path
    settings.ETL_SOURCES = ["legacy_csv"]
    return path


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


