"""Read API keys: made and revoked by an operator (admin or `manage.py api_key`), listed for the same."""

from datetime import datetime

from django.db.models import QuerySet
from rest_framework_api_key.models import APIKey


def api_key_create(*, name: str, expiry_date: datetime | None = None) -> tuple[APIKey, str]:
    """A new read key: (its record, the key itself). Only the key's hash is stored: show it once."""
    if not name.strip():
        raise ValueError("an API key needs a name (whose key it is)")
    return APIKey.objects.create_key(name=name.strip(), expiry_date=expiry_date)


def api_key_revoke(*, prefix: str) -> APIKey:
    """Revoke the key with this prefix (the part before the dot); revoking cannot be undone."""
    try:
        api_key = APIKey.objects.get(prefix=prefix)
    except APIKey.DoesNotExist as exc:
        raise ValueError(f"no API key has the prefix {prefix!r}") from exc
    api_key.revoked = True
    api_key.save(update_fields=["revoked"])
    return api_key


def api_keys_list() -> QuerySet[APIKey]:
    """Every API key, newest first (only prefixes and hashes are stored, never a key)."""
    return APIKey.objects.order_by("-created")
