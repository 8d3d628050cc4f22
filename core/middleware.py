import re
import time
import uuid

from core.logging import log_context
from core.metrics import http_request_record

# A caller's id is echoed only when it is safe to put in a header and a log line.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Gives every request an id (the caller's X-Request-ID or a new one) and a start time.

    The id goes into every log record the request makes; the answered request is counted in the HTTP metrics.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.started_at = time.perf_counter()
        with log_context(request_id=request.id):
            response = self.get_response(request)
            response["X-Request-ID"] = request.id
            http_request_record(
                request=request, status=response.status_code, seconds=time.perf_counter() - request.started_at
            )
        return response


def request_meta(request) -> dict:
    """The `meta` block of list responses: who asked and how long we took."""
    started = getattr(request, "started_at", None)
    latency = (time.perf_counter() - started) * 1000 if started is not None else None
    return {
        "request_id": getattr(request, "id", None),
        "api_latency_ms": round(latency, 2) if latency is not None else None,
    }
