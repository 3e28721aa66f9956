"""The SMS relay's decisions (issue 5, in progress): bodies, case tags, commands, recipients."""

from __future__ import annotations

import pytest

from directory.lookup import Directory
from routing.calls import Policy
from routing.texts import (
    MAX_BODY,
    Command,
    CommandKind,
    TextRefusal,
    check_body,
    parse_command,
    recipients,
    split_case_tag,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  call me about the child at Aboke  ", "call me about the child at Aboke"),
        ("Nakato Ñamukose 李\nline two", "Nakato Ñamukose 李\nline two"),
        ("", TextRefusal.EMPTY),
        ("   \n\t ", TextRefusal.EMPTY),
        ("x" * (MAX_BODY + 1), TextRefusal.TOO_LONG),
        ("x" * MAX_BODY, "x" * MAX_BODY),
        (b"\xff\xfe binary", TextRefusal.NOT_TEXT),
        ("nul\x00inside", TextRefusal.NOT_TEXT),
        ("escape \x1b[31m", TextRefusal.NOT_TEXT),
        ("Café".encode(), "Café"),
    ],
)
def test_bodies_are_checked(raw: str | bytes, expected: object) -> None:
    assert check_body(raw) == expected


@pytest.mark.parametrize(
    ("body", "case", "rest"),
    [
        ("#12 visited the home, child safe", 12, "visited the home, child safe"),
        ("#12: referred to health", 12, "referred to health"),
        ("#7", 7, ""),
        ("no tag #12 here", None, "no tag #12 here"),
        ("#abc not a case", None, "#abc not a case"),
        ("#1234567890 too long", None, "#1234567890 too long"),
    ],
)
def test_case_tags(body: str, case: int | None, rest: str) -> None:
    assert split_case_tag(body) == (case, rest)


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("HELP", Command(CommandKind.HELP)),
        (" help ", Command(CommandKind.HELP)),
        ("who 2004", Command(CommandKind.WHO, "2004")),
        ("WHO", Command(CommandKind.WHO, incomplete=True)),  # the answer says how
        ("who Okello", Command(CommandKind.WHO, incomplete=True)),
        ("DONE 12", Command(CommandKind.DONE, "12")),
        ("done #12", Command(CommandKind.DONE, "12")),
        ("DONE", Command(CommandKind.DONE, incomplete=True)),
        ("done the visit", Command(CommandKind.DONE, incomplete=True)),
        ("Cases", Command(CommandKind.CASES)),
        ("cases please", None),
        ("helpful note", None),
        ("call me", None),
    ],
)
def test_commands(body: str, command: Command | None) -> None:
    assert parse_command(body) == command


def test_recipients_follow_the_call_routing(directory: Directory) -> None:
    sender = directory.find("2002")
    trunk = Policy(trunk_available=True)
    assert [t.endpoint for t in recipients(directory, sender, "0772100003", trunk).recipients] == [
        "2003"
    ]
    assert [t.endpoint for t in recipients(directory, sender, "100", trunk).recipients] == ["2001"]
    outside = recipients(directory, sender, "116", trunk)
    assert outside.refusal is TextRefusal.OUTSIDE_NUMBER
    stranger = recipients(directory, sender, "0772999999", trunk)
    assert stranger.refusal is TextRefusal.NOT_A_MEMBER
    inactive_sender = recipients(directory, directory.find("2009"), "2003", trunk)
    assert inactive_sender.refusal is TextRefusal.SENDER_NOT_ALLOWED
    assert recipients(directory, None, "2003", trunk).refusal is TextRefusal.SENDER_NOT_ALLOWED
