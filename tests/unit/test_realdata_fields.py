"""Every symbol and name of CoinPaprika's real coin list (3,839 coins, 2019) passes the field rules as sent."""

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from etl.sources.types import Name, OptionalSymbol, Symbol
from tests.realdata import PAPRIKA_COINS

SYMBOL = TypeAdapter(Symbol)
NAME = TypeAdapter(Name)


def test_every_real_symbol_and_name_is_kept_in_its_own_spelling():
    coins = json.loads(PAPRIKA_COINS.read_text())
    assert len(coins) == 3839
    assert [SYMBOL.validate_python(c["symbol"]) for c in coins] == [c["symbol"].strip() for c in coins]
    assert [NAME.validate_python(c["name"]) for c in coins] == [c["name"].strip() for c in coins]
    kept = {SYMBOL.validate_python(c["symbol"]) for c in coins}
    assert {"$$$", "B@", "ΩPLN", "0xBTC", "PoS"} <= kept
    assert NAME.validate_python("King's Global Token ") == "King's Global Token"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("", "is required"), ("   ", "is required"), (None, "not text"), (42, "not text"), ("X" * 41, "longer than 40")],
)
def test_only_what_cannot_be_stored_is_refused_as_a_symbol(value, reason):
    with pytest.raises(ValidationError, match=reason):
        SYMBOL.validate_python(value)


def test_text_postgresql_cannot_store_is_refused_not_left_to_fail_the_batch():
    for bad in ("AB\x00C", "A\ud800"):
        with pytest.raises(ValidationError, match="cannot be stored"):
            SYMBOL.validate_python(bad)
        with pytest.raises(ValidationError, match="cannot be stored"):
            NAME.validate_python(bad)


def test_a_file_of_names_may_leave_the_symbol_out():
    assert TypeAdapter(OptionalSymbol).validate_python("") == ""
    assert TypeAdapter(OptionalSymbol).validate_python(" uTip ") == "uTip"


def test_a_circulating_supply_that_is_a_64_bit_limit_is_unknown_but_a_cap_of_one_is_kept():
    from etl.sources.types import CirculatingSupply, MaxSupply

    circulating, cap = TypeAdapter(CirculatingSupply), TypeAdapter(MaxSupply)
    assert circulating.validate_python("18446744.0737095500000000") is None  # CoinCap's Monero, 2**64 / 10**12
    assert circulating.validate_python("9223372036854775807") is None
    assert str(circulating.validate_python("18446700.5")) == "18446700.5"
    assert str(cap.validate_python(1844674407)) == "1844674407"  # GRAFT's real maximum: 2**64 atomic units
    assert cap.validate_python(0) is None and cap.validate_python("0.0000000000000000") is None
