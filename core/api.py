"""What every endpoint of the API shares, whatever it serves: a query parameter it does not know is a
400 naming it (a typo must not quietly widen the answer), and every JSON object it answers carries
the request's id, as lists carry it in `meta`."""

from rest_framework.exceptions import ValidationError
from rest_framework.serializers import Serializer

# DRF's own: `?format=json` or `?format=api` picks the renderer.
_ALWAYS_KNOWN = frozenset({"format"})
_KNOWN_BY_VIEW: dict[type, frozenset[str]] = {}


class ApiContract:
    """Mixed into an APIView: name the serializer of its own query parameters as `query_serializer`;
    those of its `filterset_class` and its paginator are found by themselves."""

    query_serializer: type[Serializer] | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        unknown = sorted(set(request.query_params) - self.query_params_known())
        if unknown:
            allowed = ", ".join(sorted(self.query_params_known() - _ALWAYS_KNOWN)) or "none"
            raise ValidationError({name: [f"Unknown parameter; this endpoint takes: {allowed}."] for name in unknown})

    def finalize_response(self, request, response, *args, **kwargs):
        data = getattr(response, "data", None)
        if isinstance(data, dict) and "meta" not in data:
            data.setdefault("request_id", getattr(request, "id", None))
        return super().finalize_response(request, response, *args, **kwargs)

    def query_params_known(self) -> frozenset[str]:
        # The same for every request of a view: worked out once (building the serializers' fields costs more
        # than a small page's SQL).
        known = _KNOWN_BY_VIEW.get(type(self))
        if known is None:
            known = _KNOWN_BY_VIEW[type(self)] = frozenset(self._query_params_declared())
        return known

    def _query_params_declared(self) -> set[str]:
        names = set(_ALWAYS_KNOWN)
        if self.query_serializer is not None:
            names.update(self.query_serializer().fields)
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None:
            names.update(filterset_class.base_filters)
        paginator = getattr(self, "paginator", None)
        if paginator is not None:
            names.update(p["name"] for p in paginator.get_schema_operation_parameters(self))
        return names
