from decimal import Decimal

from django.db import models


class NumericField(models.DecimalField):
    """A decimal stored with every digit the source sent.

    PostgreSQL gets a bare NUMERIC (no precision, no scale), so 0.00000001234 and
    62596198052.8648707737382150 come back exactly as received. max_digits and
    decimal_places only bound what validation and the SQLite fallback accept.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 60)
        kwargs.setdefault("decimal_places", 30)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "numeric"
        return super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        # SQLite hands back the value padded to decimal_places; drop the padding.
        if connection.vendor == "sqlite" and isinstance(value, Decimal):
            return value.normalize()
        return value
