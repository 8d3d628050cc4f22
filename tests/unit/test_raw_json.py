"""JSON a query already wrote (RawJSON) goes into a body as it is, and DRF's bytes stay DRF's."""

import json

from rest_framework.renderers import JSONRenderer

from core.renderers import FastJSONRenderer, RawJSON

CANDLES = '[{"starts_at":"2024-11-21T00:00:00Z","open":"0.000024661","market_cap_usd":null}]'


def test_raw_json_is_written_as_it_is_beside_what_orjson_writes():
    body = FastJSONRenderer().render(
        {"coin": "bitcoin", "series": [{"source": "coincap", "candles": RawJSON(CANDLES)}]}
    )
    assert body == b'{"coin":"bitcoin","series":[{"source":"coincap","candles":' + CANDLES.encode() + b"}]}"


def test_a_body_drf_must_write_still_holds_the_raw_json():
    # 1e-07 is a float orjson spells otherwise: the whole body goes through DRF's encoder, which reads the text.
    data = {"tiny": 1e-07, "candles": RawJSON(CANDLES)}
    expected = JSONRenderer().render({"tiny": 1e-07, "candles": json.loads(CANDLES)})
    assert FastJSONRenderer().render(data) == expected
