from rest_framework.exceptions import NotFound
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF's handler, with the request id in every error body so a report can be traced."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict):
        request = context.get("request")
        response.data.setdefault("request_id", getattr(request, "id", None))
    return response


class NotFoundView(APIView):
    """The last URL pattern: what no route serves is a JSON 404 with a `detail`, as every other 404 is,
    in debug mode too (where Django would answer its own HTML page)."""

    authentication_classes = []
    permission_classes = []
    schema = None

    def initial(self, request, *args, **kwargs):
        raise NotFound(f"Nothing at {request.path}; see /docs for the endpoints.")
