"""The answers an endpoint can give besides its own, written into the OpenAPI document from what the view is
(its path, authentication, permissions and throttles), so that no endpoint's document can forget one."""

from drf_spectacular.openapi import AutoSchema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, AllowAny

_REQUEST_ID = {"type": "string", "description": "The request's id, as in the X-Request-ID header and the logs."}
_ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "request_id": _REQUEST_ID},
    "required": ["detail"],
}
# {"min_price": ["A valid number is required."], "request_id": "..."}: each bad parameter with its problems.
_BAD_PARAMETERS = {
    "type": "object",
    "properties": {"request_id": _REQUEST_ID},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
# gunicorn's own limit (limit_request_line), answered before the application sees the request.
_URI_TOO_LONG = "The request line is over 4,094 bytes; the web server answers this itself, in plain text."


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class ErrorsDocumentedSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, response in self._error_responses().items():
            responses.setdefault(code, response)
        return responses

    def _error_responses(self) -> dict[str, dict]:
        view = self.view
        errors = {
            "400": _json(
                "A parameter this endpoint does not take, or a value it cannot use; each is named.", _BAD_PARAMETERS
            )
        }
        if view.get_authenticators():
            errors["401"] = _json(
                "Credentials that do not hold (an unknown key or token), or none where needed.", _ERROR
            )
        permissions = view.get_permissions()
        csrf = self.method not in SAFE_METHODS and any(
            isinstance(a, SessionAuthentication) for a in view.get_authenticators()
        )
        if csrf or any(not isinstance(p, AllowAny) for p in permissions):
            errors["403"] = _json("Not allowed with these credentials (or a session without its CSRF token).", _ERROR)
        if "{" in self.path:
            errors["404"] = _json("Nothing has that identifier.", _ERROR)
        errors["414"] = {"description": _URI_TOO_LONG}
        if view.get_throttles():
            errors["429"] = {
                **_json("Too many requests; try again after Retry-After seconds.", _ERROR),
                "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
            }
        return errors
