"""The costs ledger: units per member and local day, figures per district for the report."""

from __future__ import annotations

import pytest

from directory.lookup import Directory
from directory.report import district_month_report
from directory.spending import Spending
from tests.unit.cli_runner import Cug


def member_id(directory: Directory, extension: str) -> int:
    member = directory.member_by_extension(extension)
    assert member is not None
    return member.id


def test_spending_is_counted_per_member_kind_and_day(directory: Directory) -> None:
    spending = Spending(directory.db)
    anna, waiswa = member_id(directory, "2002"), member_id(directory, "2012")
    spending.record(anna, "sms", 3, "delivery:1")
    spending.record(anna, "sms", 1, "delivery:2")
    spending.record(anna, "callback", 1, "call:9")
    spending.record(waiswa, "sms", 2, "delivery:3")
    assert spending.today(anna, "sms") == 4
    assert spending.today(anna, "callback") == 1
    assert spending.today(waiswa, "callback") == 0
    with pytest.raises(ValueError):
        spending.record(anna, "airtime", 1, "x")
    assert spending.first_telling_today(anna, "sms") is True
    assert spending.first_telling_today(anna, "sms") is False  # once a day
    assert spending.first_telling_today(anna, "callback") is True


def test_the_report_shows_spending_per_district(directory: Directory) -> None:
    spending = Spending(directory.db)
    spending.record(member_id(directory, "2002"), "sms", 3, "delivery:1")
    spending.record(member_id(directory, "2003"), "callback", 1, "call:1")
    spending.record(member_id(directory, "2012"), "sms", 2, "delivery:2")
    table = {r.district: (r.sms_parts, r.callbacks) for r in district_month_report(directory.db)}
    assert table == {"Oyam": (3, 1), "Jinja": (2, 0)}
    top = spending.top_members("0000", "9999")
    assert [(m.extension, m.sms_parts, m.callbacks) for m in top] == [
        ("2002", 3, 0),
        ("2012", 2, 0),
        ("2003", 0, 1),
    ]


def test_cug_texts_sms_service_prints_the_kannel_group(tmp_path) -> None:
    out = Cug(tmp_path)("texts", "sms-service").output
    assert "group = sms-service" in out and "max-messages = 0" in out
    again = Cug(tmp_path)("texts", "sms-service").output
    assert out == again  # the secret was saved: the same every time
    assert "http://sms:" in out and "/sms/kannel?from=%p&to=%P&id=%I" in out
