"""Who may read the API: anyone, or (API_KEYS_REQUIRED) holders of an API key and staff.

A key is sent as `Authorization: Api-Key <key>` (djangorestframework-api-key keeps only its hash);
reads with a key are throttled per key, on its prefix.
"""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <key>`: the request is anonymous, and request.auth is the key.

    An unknown, revoked or expired key is a 401 even where reads are open, as a bad token is.
    """

    keyword = KeyParser.keyword

    def authenticate(self, request):
        key = KeyParser().get_from_authorization(request)
        if key is None:
            return None
        try:
            api_key = APIKey.objects.get_from_key(key)
        except APIKey.DoesNotExist:
            api_key = None
        if api_key is None or api_key.has_expired:
            raise AuthenticationFailed("Unknown, revoked or expired API key.")
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        return self.keyword


class ReadAccess(BasePermission):
    message = "Reads need an API key (Authorization: Api-Key <key>) or staff credentials."

    def has_permission(self, request, view):
        if not settings.API_KEYS_REQUIRED:
            return True
        return isinstance(request.auth, APIKey) or bool(request.user and request.user.is_staff)


class ApiKeyRateThrottle(SimpleRateThrottle):
    """API_KEY_THROTTLE per key; requests without a key are not counted here."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, APIKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}


class ReadApiMixin:
    """The read endpoints' authentication, permission and per-key throttle."""

    authentication_classes = [ApiKeyAuthentication, TokenAuthentication, SessionAuthentication]
    permission_classes = [ReadAccess]
    throttle_classes = [ApiKeyRateThrottle]


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_requirement(self, auto_schema):
        # {} is "no credentials": what the schema says while reads are open.
        requirement = {self.name: []}
        return requirement if settings.API_KEYS_REQUIRED else [requirement, {}]

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`. Required for reads when the server sets API_KEYS_REQUIRED; "
            "keys are made with `manage.py api_key create NAME` or in the admin.",
        }
