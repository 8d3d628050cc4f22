"""JSON bodies by orjson, byte for byte what DRF's JSONRenderer writes.

DRF's renderer runs the stdlib encoder, in Python for every dict it meets; orjson
does the same work in native code, several times faster on a page of quotes.
What orjson would write differently goes through DRF's own path instead: an
indented body (the browsable API's, `; indent=`), a number orjson refuses
(an integer past 64 bits), and a float with a negative exponent (1e-07, which
orjson spells 1e-7). Types orjson does not know, and datetimes, go through DRF's
encoder, as they would in DRF.

A view may hand over JSON a query wrote (RawJSON): orjson writes its text as it is; DRF's path
decodes it first.
"""

import json

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_LINE_SEPARATORS = ("\u2028".encode(), "\u2029".encode())


class RawJSON:
    """A value's JSON text, already written (by PostgreSQL, say), holding no float and no line separator."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class RawJSONEncoder(JSONEncoder):
    def default(self, obj):
        if isinstance(obj, RawJSON):
            return json.loads(obj.text)
        return super().default(obj)


class FastJSONRenderer(JSONRenderer):
    """JSONRenderer's output (compact, UTF-8), rendered by orjson where that gives the same bytes."""

    encoder_class = RawJSONEncoder

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None or not self.compact or self.ensure_ascii:
            return super().render(data, accepted_media_type, renderer_context)
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        encoder, raw = self.encoder_class(), []

        def without_raw(obj):
            if isinstance(obj, RawJSON):
                raw.append(obj)
                return None
            return encoder.default(obj)

        # The checks read the body without its RawJSON parts (a year of candles is 290 KB to scan for nothing);
        # only a body that has some is written again, with them.
        try:
            body = orjson.dumps(data, default=without_raw, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if b"e-" in body or any(separator in body for separator in _LINE_SEPARATORS):
            return super().render(data, accepted_media_type, renderer_context)
        if raw:
            body = orjson.dumps(data, default=lambda obj: _with_raw(encoder, obj), option=_OPTIONS)
        return body


def _with_raw(encoder: JSONEncoder, obj):
    return orjson.Fragment(obj.text) if isinstance(obj, RawJSON) else encoder.default(obj)
