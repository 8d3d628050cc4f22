from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF's handler, with the request id in every error body so a report can be traced."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict):
        request = context.get("request")
        response.data.setdefault("request_id", getattr(request, "id", None))
    return response
