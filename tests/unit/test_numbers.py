"""Phone numbers: every way a Ugandan writes a number gives the one E.164 form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.numbers import InvalidNumber, normalise, normalise_member_phone, try_normalise

SAME_NUMBER = ["0772 123456", "+256772123456", "256-772-123-456", "772123456", "00256772123456"]


@pytest.mark.parametrize("raw", SAME_NUMBER + ["(0772) 123-456", " +256 772 123 456 "])
def test_every_format_gives_e164(raw: str) -> None:
    assert normalise(raw) == "+256772123456"
    assert normalise_member_phone(raw) == "+256772123456"


def test_landline_is_a_number_but_not_a_member_mobile() -> None:
    assert normalise("0414123456") == "+256414123456"
    with pytest.raises(InvalidNumber, match="not a mobile number"):
        normalise_member_phone("0414123456")


def test_foreign_number_is_not_a_member_phone() -> None:
    assert normalise("+254712345678") == "+254712345678"
    with pytest.raises(InvalidNumber, match="not a number of UG"):
        normalise_member_phone("+254712345678")


@pytest.mark.parametrize(
    "raw",
    ["abc", "", "   ", "7" * 10_000, "0772\n123456", "1'; DROP TABLE members;--", "00", "+", "12"],
)
def test_garbage_is_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        normalise(raw)
    assert str(info.value)
    with pytest.raises(InvalidNumber):
        normalise_member_phone(raw)
    assert try_normalise(raw) is None


def test_long_input_reason_is_short() -> None:
    with pytest.raises(InvalidNumber) as info:
        normalise("x" * 10_000)
    assert "too long" in str(info.value)
    assert len(str(info.value)) < 200


@given(st.from_regex(r"7[0-9]{8}", fullmatch=True))
def test_formats_agree_for_any_mobile_digits(subscriber: str) -> None:
    e164 = try_normalise("0" + subscriber)
    if e164 is None:
        return  # not an allocated range
    spaced = f"0{subscriber[:3]} {subscriber[3:]}"
    for raw in (spaced, "+256" + subscriber, "00256" + subscriber, subscriber):
        assert normalise(raw) == e164 == "+256" + subscriber


@given(st.text(max_size=200))
def test_any_text_gives_e164_or_invalid_number(raw: str) -> None:
    try:
        e164 = normalise(raw)
    except InvalidNumber as exc:
        assert str(exc)
    else:
        assert e164.startswith("+")
        assert e164[1:].isdigit()
        assert normalise(e164) == e164
