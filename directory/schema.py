"""The directory's tables, created and upgraded through sqlite-utils migrations."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("cug-directory")

# Roles and districts are data: these rows seed a new directory, admins add more.
SEED_ROLES = [
    ("psw", "Para-social worker"),
    ("supervisor", "Supervisor"),
    ("police", "Police (child and family protection desk)"),
    ("health", "Health worker / health focal person"),
    ("probation", "Probation and social welfare officer"),
    ("dac", "District Action Centre officer"),
    ("cdo", "Community development officer"),
    ("helpline", "National Child Helpline"),
    ("admin", "Administrator"),
]
SEED_DISTRICTS = ["Apac", "Bugiri", "Jinja", "Mayuge", "Oyam", "Kampala", "Gulu", "Lira"]

# Short codes a member dials; resolved from the caller's place in the directory.
SEED_SHORT_CODES = [
    ("100", "supervisor", None, None, "My supervisor"),
    ("101", "role", "police", None, "Police desk of my district"),
    ("102", "role", "health", None, "Health focal person of my district"),
    ("103", "role", "probation", None, "Probation / welfare officer of my district"),
    ("104", "role", "dac", None, "District Action Centre of my district"),
    ("116", "outside", None, "116", "National Child Helpline"),
    ("999", "outside", None, "999", "Emergency (police)"),
    ("112", "outside", None, "112", "Emergency"),
]


@migrations(name="0001_directory")
def _m0001(db: sqlite_utils.Database) -> None:
    db["roles"].create({"code": str, "title": str}, pk="code")
    db["districts"].create({"name": str}, pk="name")
    db["members"].create(
        {
            "id": int,
            "name": str,
            "phone": str,
            "extension": str,
            "role": str,
            "district": str,
            "sub_county": str,
            "organisation": str,
            "supervisor_id": int,
            "language": str,
            "active": int,
            "sip_password": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "phone", "extension", "role", "district", "active", "sip_password"},
        defaults={"active": 1, "language": "en", "sub_county": "", "organisation": ""},
        foreign_keys=[
            ("role", "roles", "code"),
            ("district", "districts", "name"),
            ("supervisor_id", "members", "id"),
        ],
    )
    db["members"].create_index(["phone"], unique=True)
    db["members"].create_index(["extension"], unique=True)
    db["members"].create_index(["district", "role", "active"])
    db["members"].create_index(["supervisor_id"])
    db["short_codes"].create(
        {"code": str, "kind": str, "role": str, "number": str, "label": str},
        pk="code",
        not_null={"kind", "label"},
        foreign_keys=[("role", "roles", "code")],
    )
    db["audit"].create(
        {
            "id": int,
            "at": str,
            "actor": str,
            "action": str,
            "subject": str,
            "before": str,
            "after": str,
        },
        pk="id",
        not_null={"at", "actor", "action"},
    )
    db["roles"].insert_all([{"code": c, "title": t} for c, t in SEED_ROLES])
    db["districts"].insert_all([{"name": d} for d in SEED_DISTRICTS])
    db["short_codes"].insert_all(
        [
            {"code": c, "kind": k, "role": r, "number": n, "label": lab}
            for c, k, r, n, lab in SEED_SHORT_CODES
        ]
    )


SEED_CASE_CATEGORIES = [
    ("sexual_abuse", "Sexual abuse"),
    ("physical_violence", "Physical violence"),
    ("neglect", "Neglect"),
    ("child_labour", "Child labour"),
    ("child_marriage", "Child marriage"),
    ("hiv", "HIV-related (care, treatment, adherence)"),
    ("malnutrition", "Severe malnutrition"),
    ("other", "Other"),
]
SEED_REFERRAL_SERVICES = [
    ("health", "Health facility"),
    ("police", "Police (child and family protection)"),
    ("social_protection", "Social protection / probation"),
    ("legal_aid", "Legal aid"),
    ("education", "Education"),
    ("shelter", "Shelter / safe place"),
    ("livelihood", "Economic support"),
]


@migrations(name="0002_cases_and_contacts")
def _m0002(db: sqlite_utils.Database) -> None:
    db["case_categories"].create({"code": str, "title": str}, pk="code")
    db["referral_services"].create({"code": str, "title": str}, pk="code")
    db["cases"].create(
        {
            "id": int,  # the case number members key in: *<number>*<dialed>
            "reference": str,  # the Helpline's or DAC's reference, or CUG-<id>
            "district": str,
            "category": str,
            "urgency": str,  # normal | urgent
            "status": str,  # open | referred | closed
            "assigned_member_id": int,
            "reported_at": str,
            "opened_at": str,
            "closed_at": str,
            "close_reason": str,
            "follow_up_due": str,
            "summary": str,
            "created_by": str,
        },
        pk="id",
        not_null={"reference", "district", "category", "urgency", "status", "reported_at"},
        defaults={"urgency": "normal", "status": "open"},
        foreign_keys=[
            ("district", "districts", "name"),
            ("category", "case_categories", "code"),
            ("assigned_member_id", "members", "id"),
        ],
    )
    db["cases"].create_index(["reference"], unique=True)
    db["cases"].create_index(["district", "reported_at"])
    db["cases"].create_index(["assigned_member_id", "status"])
    db["case_events"].create(
        {"id": int, "case_id": int, "at": str, "actor": str, "action": str, "detail": str},
        pk="id",
        not_null={"case_id", "at", "actor", "action"},
        foreign_keys=[("case_id", "cases", "id")],
    )
    db["case_events"].create_index(["case_id"])
    db["referrals"].create(
        {
            "id": int,
            "case_id": int,
            "service": str,
            "to_member_id": int,
            "consent": int,  # 1 when consent was recorded
            "consent_by": str,  # who gave it (the carer may be the one reported)
            "status": str,  # made | accepted | declined | completed | failed
            "reason": str,  # why declined or failed
            "made_at": str,
            "made_by": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"case_id", "service", "status", "made_at", "made_by"},
        defaults={"consent": 0},
        foreign_keys=[
            ("case_id", "cases", "id"),
            ("service", "referral_services", "code"),
            ("to_member_id", "members", "id"),
        ],
    )
    db["referrals"].create_index(["case_id"])
    db["referral_events"].create(
        {"id": int, "referral_id": int, "at": str, "actor": str, "status": str, "reason": str},
        pk="id",
        not_null={"referral_id", "at", "actor", "status"},
        foreign_keys=[("referral_id", "referrals", "id")],
    )
    db["referral_events"].create_index(["referral_id"])
    db["contacts"].create(
        {
            "id": int,
            "kind": str,  # call | text | conference | reminder
            "source_key": str,  # Asterisk's ids for this record: idempotent writes
            "uniqueid": str,
            "linkedid": str,
            "caller_member_id": int,
            "caller_number": str,
            "callee_member_id": int,
            "callee_number": str,
            "dialed": str,
            "placed_at": str,
            "answered_at": str,
            "ended_at": str,
            "outcome": str,  # answered | no_answer | busy | unavailable | refused | failed
            "refusal": str,
            "case_id": int,
            "link": str,  # prefix | auto | manual, or empty when not linked
            "link_note": str,  # e.g. why a keyed-in case number was not linked
            "after_close": int,  # 1 when linked to a case that was already closed
            "recorded_at": str,
        },
        pk="id",
        not_null={"kind", "source_key", "recorded_at"},
        defaults={"after_close": 0, "link": "", "link_note": ""},
        foreign_keys=[
            ("caller_member_id", "members", "id"),
            ("callee_member_id", "members", "id"),
            ("case_id", "cases", "id"),
        ],
    )
    db["contacts"].create_index(["source_key"], unique=True)
    db["contacts"].create_index(["case_id", "placed_at", "caller_member_id", "callee_member_id"])
    db["contacts"].create_index(["placed_at"])
    db["contacts"].create_index(["linkedid"])
    db["contacts"].create_index(["caller_member_id", "placed_at"])
    # Where the service has read up to in sources it reconciles from (Asterisk's CDR file).
    db["service_state"].create({"key": str, "value": str}, pk="key")
    db["case_categories"].insert_all([{"code": c, "title": t} for c, t in SEED_CASE_CATEGORIES])
    db["referral_services"].insert_all([{"code": c, "title": t} for c, t in SEED_REFERRAL_SERVICES])


@migrations(name="0003_reminders")
def _m0003(db: sqlite_utils.Database) -> None:
    # One reminder call per case and follow-up date: placed when the date passed with no
    # contact on the case; its outcome is a contact of kind "reminder" too.
    db["reminders"].create(
        {
            "id": int,
            "case_id": int,
            "due": str,
            "member_id": int,
            "originated_at": str,
            "outcome": str,
        },
        pk="id",
        not_null={"case_id", "due", "member_id", "originated_at"},
        foreign_keys=[("case_id", "cases", "id"), ("member_id", "members", "id")],
    )
    db["reminders"].create_index(["case_id", "due"], unique=True)


@migrations(name="0004_api_tokens")
def _m0004(db: sqlite_utils.Database) -> None:
    # Tokens for the JSON API: only a hash is kept; a district token sees one district.
    db["api_tokens"].create(
        {
            "id": int,
            "name": str,
            "token_hash": str,
            "district": str,  # empty: every district
            "created_at": str,
            "created_by": str,
            "revoked_at": str,
            "last_used_at": str,
        },
        pk="id",
        not_null={"name", "token_hash", "created_at", "created_by"},
        foreign_keys=[("district", "districts", "name")],
    )
    db["api_tokens"].create_index(["name"], unique=True)
    db["api_tokens"].create_index(["token_hash"], unique=True)


@migrations(name="0005_escalation")
def _m0005(db: sqlite_utils.Database) -> None:
    # Escalation chains an admin set, per district and/or role ("" = any), normal or urgent;
    # the rules are text (routing/escalation.py parses them). No row: the default chain.
    db["escalation_chains"].create(
        {
            "id": int,
            "district": str,
            "role": str,
            "urgent": int,
            "rules": str,
            "updated_at": str,
            "updated_by": str,
        },
        pk="id",
        not_null={"district", "role", "urgent", "rules", "updated_at", "updated_by"},
        defaults={"district": "", "role": "", "urgent": 0},
    )
    db["escalation_chains"].create_index(["district", "role", "urgent"], unique=True)
    # Each contact of an escalated call is one step: which step, and whether a key was needed.
    db["contacts"].add_column("step", int)
    db["contacts"].add_column("confirm", int)
    # Missed-call notices: one per person rung who did not take an escalated call, and the
    # "nobody took it" notices when a chain ran out. Sent by text once the relay exists.
    db["call_notices"].create(
        {
            "id": int,
            "linkedid": str,
            "member_id": int,
            "kind": str,  # missed | taken_by_colleague | chain_exhausted
            "caller_member_id": int,
            "case_id": int,
            "taken_by_member_id": int,
            "text": str,
            "created_at": str,
            "sent_at": str,
        },
        pk="id",
        not_null={"linkedid", "member_id", "kind", "text", "created_at"},
        foreign_keys=[("member_id", "members", "id")],
    )
    db["call_notices"].create_index(["linkedid", "member_id", "kind"], unique=True)
    # One row per escalated call (a call planned with more than one step), from its CDRs;
    # who took it, at which step and after how long are filled in once the call is over.
    db["escalations"].create(
        {
            "linkedid": str,
            "caller_member_id": int,
            "callee_member_id": int,
            "case_id": int,
            "district": str,  # the caller's
            "urgent": int,
            "steps": int,
            "started_at": str,
            "exhausted": int,  # 1 when every step rang and nobody took the call
            "taken_by_member_id": int,
            "taken_step": int,
            "reached_step": int,  # the last step that rang: 1 when it never left the callee
            "waited_seconds": float,  # from the call's start until it was taken or given up
            "seen_at": str,  # when its last CDR was stored
            "settled_at": str,  # when the notices were made
        },
        pk="linkedid",
        not_null={"steps", "started_at", "seen_at"},
        defaults={"exhausted": 0, "urgent": 0},
    )
    db["escalations"].create_index(["settled_at", "seen_at"])
    db["escalations"].create_index(["started_at"])
    db["call_notices"].create_index(["member_id", "created_at"])


@migrations(name="0006_texts")
def _m0006(db: sqlite_utils.Database) -> None:
    # The SMS relay. A text is what one member sent (or a notice the system sends); each of
    # its recipients has a delivery, tracked on its own (a team text has several). The body
    # is kept until the retention period after the last delivery, then purged; the contact
    # rows (who texted whom, when, on which case) stay.
    db["texts"].create(
        {
            "id": int,
            "kind": str,  # text | notice (from the system: delivery, refusal, command answer)
            "sender_member_id": int,  # None for a notice
            "addressed": str,  # what the sender wrote in To (extension, number, short code)
            "team": str,  # the short code's label when the text went to a team
            "body": str,  # None once purged
            "case_id": int,
            "link": str,  # prefix (#<case> tag) | auto | empty
            "created_at": str,
            "purged_at": str,
        },
        pk="id",
        not_null={"kind", "addressed", "created_at"},
        defaults={"team": "", "link": ""},
        foreign_keys=[("sender_member_id", "members", "id"), ("case_id", "cases", "id")],
    )
    db["texts"].create_index(["sender_member_id", "created_at"])
    db["texts"].create_index(["purged_at", "created_at"])
    db["text_deliveries"].create(
        {
            "id": int,
            "text_id": int,
            "recipient_member_id": int,
            "status": str,  # queued | delivered | expired | failed
            "via": str,  # sip | sms, once delivered
            "attempts": int,
            "next_attempt_at": str,
            "expires_at": str,
            "delivered_at": str,
            "last_error": str,
            "notify": int,  # 1: tell the sender when it is delivered (it had to wait)
            "notified_at": str,
        },
        pk="id",
        not_null={"text_id", "recipient_member_id", "status", "expires_at"},
        defaults={"attempts": 0, "notify": 0, "last_error": ""},
        foreign_keys=[("text_id", "texts", "id"), ("recipient_member_id", "members", "id")],
    )
    db["text_deliveries"].create_index(["status", "recipient_member_id", "id"])
    db["text_deliveries"].create_index(["text_id"])
    db["contacts"].add_column("text_delivery_id", int)


@migrations(name="0007_text_contacts_index")
def _m0007(db: sqlite_utils.Database) -> None:
    # A delivered text updates its contact row by delivery id: without this index every
    # update scanned the whole contact log (bench/RESULTS.md, text relay).
    db["contacts"].create_index(["text_delivery_id"])


@migrations(name="0008_text_queue_indexes")
def _m0008(db: sqlite_utils.Database) -> None:
    # What the relay's worker looks up every few seconds stays cheap as the tables grow:
    # texts owing their sender a notice (few), missed-call notices not yet sent, a member's
    # recent deliveries; and a text the SMS gateway refused for good waits for a phone only.
    db["text_deliveries"].add_column("sms_refused", int, not_null_default=0)
    db.execute(
        "CREATE INDEX idx_text_deliveries_owed ON text_deliveries(text_id) "
        "WHERE notified_at IS NULL AND status != 'queued'"
    )
    db["text_deliveries"].create_index(["recipient_member_id", "delivered_at"])
    db["call_notices"].create_index(["sent_at", "created_at"])
    # Deliveries that ended before: those delivered at once owe no notice.
    db.execute(
        "UPDATE text_deliveries SET notified_at = delivered_at WHERE notified_at IS NULL "
        "AND status = 'delivered' AND notify = 0"
    )


def _version_counter(db: sqlite_utils.Database, key: str, tables: dict[str, str]) -> None:
    """A counter in service_state (`key`) that triggers move on every insert, update and
    delete in each of `tables` (table -> the triggers' name prefix)."""
    db.execute("INSERT OR IGNORE INTO service_state (key, value) VALUES (?, '0')", (key,))
    for table, prefix in tables.items():
        for event in ("INSERT", "UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER IF NOT EXISTS {prefix}_{event.lower()} AFTER {event} "
                f"ON {table} BEGIN UPDATE service_state SET value = CAST(value AS INTEGER) + 1 "
                f"WHERE key = '{key}'; END"
            )


_COUNTER_KEY = re.compile(r"WHERE key = '(\w+)'")


@contextmanager
def counters_moved_once(db: sqlite_utils.Database, table: str) -> Iterator[None]:
    """Within a write transaction: the version counters that `table`'s triggers move on
    every row are moved once for the whole block instead (an import of 100,000 members
    would otherwise run 200,000 counter updates, half its time). The triggers are dropped
    and made again inside the transaction: no other connection ever sees them missing."""
    if not db.conn.in_transaction:
        raise RuntimeError("counters_moved_once needs an open write transaction")
    triggers = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
        "AND sql LIKE '%UPDATE service_state SET value%'",
        (table,),
    ).fetchall()
    keys = sorted({k for _, sql in triggers for k in _COUNTER_KEY.findall(sql)})
    for name, _ in triggers:
        db.execute(f'DROP TRIGGER "{name}"')
    yield  # on an exception the caller's rollback brings the triggers back
    for _, sql in triggers:
        db.execute(sql)
    for key in keys:
        db.execute(
            "UPDATE service_state SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", (key,)
        )


@migrations(name="0009_members_version")
def _m0009(db: sqlite_utils.Database) -> None:
    # A counter every change to the members table moves (triggers), so the service can tell
    # a change of members from the constant writes of the contact log and the texts, and
    # compares the directory with Asterisk's endpoint rows only when members changed.
    _version_counter(db, "members_version", {"members": "members_version"})


@migrations(name="0010_spending")
def _m0010(db: sqlite_utils.Database) -> None:
    # What the system spends on members (directory/spending.py): SMS parts sent to their
    # mobiles and callbacks placed to them, each row with the member's district at the time
    # and the install's local day (the daily caps count per local day).
    db["spending"].create(
        {
            "id": int,
            "at": str,
            "day": str,  # YYYY-MM-DD in the install's time zone (Africa/Kampala)
            "member_id": int,
            "district": str,
            "kind": str,  # sms | callback
            "units": int,  # SMS parts, or 1 callback
            "reference": str,
        },
        pk="id",
        not_null={"at", "day", "member_id", "district", "kind", "units"},
        foreign_keys=[("member_id", "members", "id")],
    )
    db["spending"].create_index(["member_id", "kind", "day"])
    db["spending"].create_index(["day"])
    # A member and their supervisor are told once a day that a cap was reached.
    db["spending_caps_told"].create(
        {"member_id": int, "kind": str, "day": str, "told_at": str},
        pk=("member_id", "kind", "day"),
        foreign_keys=[("member_id", "members", "id")],
    )


SEED_SHORT_CODE_WORDS = [
    ("SUP", "100"),
    ("POLICE", "101"),
    ("HEALTH", "102"),
    ("PROBATION", "103"),
    ("DAC", "104"),
]


@migrations(name="0011_sms_texts")
def _m0011(db: sqlite_utils.Database) -> None:
    # Texts from basic phones through the SMS gateway: a delivery that goes by SMS at once
    # (the answer to a text that came by SMS), one exempt from the daily cap (the notice
    # that the cap was reached); each inbound text's gateway id, so a retried delivery is
    # taken once; and a word per short code for texting it (`SUP <text>`).
    db["text_deliveries"].add_column("by_sms", int, not_null_default=0)
    db["text_deliveries"].add_column("cost_exempt", int, not_null_default=0)
    db["text_deliveries"].create_index(["by_sms", "status"])
    db["inbound_sms"].create(
        {
            "gateway": str,
            "message_id": str,
            "received_at": str,
            "sender": str,
            "outcome": str,
        },
        pk=("gateway", "message_id"),
        not_null={"received_at"},
    )
    db["short_code_words"].create(
        {"word": str, "code": str},
        pk="word",
        not_null={"code"},
        foreign_keys=[("code", "short_codes", "code")],
    )
    db["short_code_words"].create_index(["code"], unique=True)
    present = {r[0] for r in db.execute("SELECT code FROM short_codes")}
    db["short_code_words"].insert_all(
        [{"word": w, "code": c} for w, c in SEED_SHORT_CODE_WORDS if c in present]
    )


@migrations(name="0012_flashes")
def _m0012(db: sqlite_utils.Database) -> None:
    # "Please call me": every flash the trunk brought, and the call back it earned
    # (directory/flashes.py). The rate limit reads by number, "already calling" and the daily
    # count by member.
    db["flashes"].create(
        {
            "id": int,
            "received_at": str,
            "caller_id": str,
            "e164": str,
            "member_id": int,
            "outcome": str,
            "called_at": str,
            "callback_outcome": str,
            "answered_at": str,
        },
        pk="id",
        foreign_keys=[("member_id", "members", "id")],
    )
    db["flashes"].create_index(["e164", "received_at"])
    db["flashes"].create_index(["caller_id", "received_at"])
    db["flashes"].create_index(["member_id", "outcome", "received_at"])


@migrations(name="0013_member_pins")
def _m0013(db: sqlite_utils.Database) -> None:
    # PINs for members calling in on the CUG's number where caller IDs may be spoofed
    # (directory/pins.py): only a salted scrypt hash, and the count of wrong tries.
    db["member_pins"].create(
        {
            "member_id": int,
            "pin_hash": str,
            "set_at": str,
            "failures": int,
            "locked_until": str,
        },
        pk="member_id",
        foreign_keys=[("member_id", "members", "id")],
        defaults={"failures": 0},
    )


@migrations(name="0014_conferences")
def _m0014(db: sqlite_utils.Database) -> None:
    # Conference bridges (directory/bridges.py): standing bridges per district or supervisor,
    # reached by a short code of kind `bridge` (short_code_bridges); a code of kind
    # `conference` starts a case conference (*<case>*<code>). Members of another district
    # need the bridge's PIN (a salted scrypt hash); wrong PINs are counted per caller.
    db["bridges"].create(
        {
            "id": int,
            "label": str,
            "district": str,
            "leader_member_id": int,  # the supervisor of a supervisor's bridge
            "pin_hash": str,
            "max_members": int,
            "ends_with_leader": int,  # 1: the bridge ends for all when the last leader leaves
            "created_at": str,
        },
        pk="id",
        not_null={"label", "district", "created_at"},
        defaults={"max_members": 20, "ends_with_leader": 1},
        foreign_keys=[("district", "districts", "name"), ("leader_member_id", "members", "id")],
    )
    # Which bridge a short code of kind `bridge` reaches (a table of its own: the columns of
    # short_codes stay as they were).
    db["short_code_bridges"].create(
        {"code": str, "bridge_id": int},
        pk="code",
        not_null={"bridge_id"},
        foreign_keys=[("code", "short_codes", "code"), ("bridge_id", "bridges", "id")],
    )
    db["bridge_pin_failures"].create(
        {"member_id": int, "failures": int, "locked_until": str},
        pk="member_id",
        defaults={"failures": 0},
        foreign_keys=[("member_id", "members", "id")],
    )
    # Conferences the system calls people into: a case conference (one running per case:
    # the partial unique index), or a standing bridge a leader invited someone to (no case);
    # and each person called into one (invited by whom, tries, how it went).
    db["conferences"].create(
        {
            "id": int,
            "case_id": int,
            "bridge": str,  # the ConfBridge conference name, cug-case-<case> or cug-bridge-<id>
            "started_by": str,
            "leader_member_id": int,
            "started_at": str,
            "ended_at": str,
        },
        pk="id",
        not_null={"bridge", "started_by", "started_at"},
        foreign_keys=[("case_id", "cases", "id"), ("leader_member_id", "members", "id")],
    )
    db.execute(
        "CREATE UNIQUE INDEX conferences_running ON conferences(bridge) WHERE ended_at IS NULL"
    )
    db["conference_calls"].create(
        {
            "id": int,
            "conference_id": int,
            "member_id": int,
            "invited_by": int,  # the member who called them in (none: the system, an admin)
            "leader": int,  # 1: joins as the leader (a case conference started from the CLI)
            # requested | calling | answered | left | no_answer | failed | not_called |
            # turned_away (directory/conferences.py)
            "status": str,
            "attempts": int,
            "outcome": str,  # the last try's: answered | no_answer | busy | unavailable | failed
            "requested_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"conference_id", "member_id", "status", "requested_at"},
        defaults={"attempts": 0, "leader": 0},
        foreign_keys=[
            ("conference_id", "conferences", "id"),
            ("member_id", "members", "id"),
            ("invited_by", "members", "id"),
        ],
    )
    db["conference_calls"].create_index(["status"])
    db["conference_calls"].create_index(["conference_id"])


@migrations(name="0015_admin_accounts")
def _m0015(db: sqlite_utils.Database) -> None:
    # Accounts of the admin site (directory/admin_accounts.py), separate from SIP credentials:
    # an argon2 hash, the role (national, district, supervisor), the districts a district
    # admin keeps, the member a supervisor is (their team: the members they supervise), and
    # the count of wrong passwords that locks the account for a while.
    db["admin_accounts"].create(
        {
            "id": int,
            "username": str,
            "role": str,
            "password_hash": str,
            "member_id": int,
            "created_at": str,
            "created_by": str,
            "password_set_at": str,
            "disabled_at": str,
            "failures": int,
            "locked_until": str,
            "last_login_at": str,
        },
        pk="id",
        not_null={"username", "role", "password_hash", "created_at", "password_set_at"},
        defaults={"failures": 0},
        foreign_keys=[("member_id", "members", "id")],
    )
    db["admin_accounts"].create_index(["username"], unique=True)
    db["admin_account_districts"].create(
        {"account_id": int, "district": str},
        pk=("account_id", "district"),
        foreign_keys=[("account_id", "admin_accounts", "id"), ("district", "districts", "name")],
    )
    # Each login's session: the cookie names it; logging out or disabling the account ends it
    # here, so a copied cookie is refused from then on.
    db["admin_sessions"].create(
        {
            "id": str,
            "account_id": int,
            "started_at": str,
            "remote_addr": str,
            "ended_at": str,
        },
        pk="id",
        not_null={"account_id", "started_at"},
        foreign_keys=[("account_id", "admin_accounts", "id")],
    )
    db["admin_sessions"].create_index(["account_id", "ended_at"])
    # The audit is append-only: what was recorded cannot be changed or removed.
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER audit_append_only_{verb.lower()} BEFORE {verb} ON audit "
            "BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END"
        )
    # An API token may act as an admin account (its scope and permissions).
    db["api_tokens"].add_column("account_id", int)
    # The admin site's member list filters and searches by these.
    db["members"].create_index(["active", "extension"])
    db["members"].create_index(["district", "extension"])
    db["members"].create_index(["name"])


# The contacts per calling member and month (UTC; '' when placed_at is unreadable), for the
# report (directory/report.py, which adds the contacts written since it last looked, by id,
# before it counts: CONTACTS_COUNTED_THROUGH in service_state). Inserting a contact costs
# nothing more; a counted contact that is changed or deleted is counted again by these
# triggers, whoever changes it.
CONTACTS_COUNTED_THROUGH = "contact_month_counts_through"
_COUNTED = (
    "{row}.id <= (SELECT CAST(value AS INTEGER) FROM service_state "
    f"WHERE key = '{CONTACTS_COUNTED_THROUGH}')"
)
_CONTACT_MONTH = "coalesce(strftime('%Y-%m', {row}.placed_at), '')"
_COUNT_CONTACT = (
    "INSERT INTO contact_month_counts (member_id, month, contacts, linked) "
    "SELECT {row}.caller_member_id, " + _CONTACT_MONTH + ", 1, {row}.case_id IS NOT NULL "
    "WHERE {row}.caller_member_id IS NOT NULL "
    "ON CONFLICT (member_id, month) DO UPDATE SET contacts = contacts + 1, "
    "linked = linked + excluded.linked;"
)
_UNCOUNT_CONTACT = (
    "UPDATE contact_month_counts SET contacts = contacts - 1, "
    "linked = linked - ({row}.case_id IS NOT NULL) "
    "WHERE member_id = {row}.caller_member_id AND month = " + _CONTACT_MONTH + ";"
    "DELETE FROM contact_month_counts WHERE member_id = {row}.caller_member_id "
    "AND month = " + _CONTACT_MONTH + " AND contacts <= 0;"
)


@migrations(name="0016_report_figures")
def _m0016(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE contact_month_counts (member_id INTEGER NOT NULL, month TEXT NOT NULL, "
        "contacts INTEGER NOT NULL, linked INTEGER NOT NULL, PRIMARY KEY (member_id, month)) "
        "WITHOUT ROWID"
    )
    # The contacts already logged are counted now, once.
    db.execute(
        "INSERT INTO contact_month_counts (member_id, month, contacts, linked) "
        "SELECT caller_member_id, coalesce(strftime('%Y-%m', placed_at), ''), count(*), "
        "count(case_id) FROM contacts WHERE caller_member_id IS NOT NULL GROUP BY 1, 2"
    )
    db.execute(
        "INSERT INTO service_state (key, value) "
        "SELECT ?, CAST(coalesce(max(id), 0) AS TEXT) FROM contacts",
        (CONTACTS_COUNTED_THROUGH,),
    )
    new, old = _COUNT_CONTACT.format(row="NEW"), _UNCOUNT_CONTACT.format(row="OLD")
    db.execute(
        "CREATE TRIGGER contact_month_counts_update "
        "AFTER UPDATE OF caller_member_id, placed_at, case_id ON contacts "
        f"WHEN {_COUNTED.format(row='OLD')} AND (OLD.caller_member_id IS NOT NEW.caller_member_id "
        "OR OLD.placed_at IS NOT NEW.placed_at OR (OLD.case_id IS NULL) != (NEW.case_id IS NULL)) "
        f"BEGIN {old} {new} END"
    )
    # A deleted contact that was the last counted: the next one given its id is new.
    db.execute(
        "CREATE TRIGGER contact_month_counts_delete AFTER DELETE ON contacts "
        f"WHEN {_COUNTED.format(row='OLD')} BEGIN {old} "
        "UPDATE service_state SET value = CAST(OLD.id - 1 AS TEXT) "
        f"WHERE key = '{CONTACTS_COUNTED_THROUGH}' AND CAST(value AS INTEGER) = OLD.id; END"
    )
    # placed_at as a Julian day number (parsed, whatever UTC offset the text carries), in an
    # index beside the case: each case's first contact and follow-up are sought in it.
    db.execute(
        "ALTER TABLE contacts ADD COLUMN placed_jd REAL "
        "GENERATED ALWAYS AS (julianday(placed_at)) VIRTUAL"
    )
    db.execute(
        "CREATE INDEX idx_contacts_case_placed_jd "
        "ON contacts(case_id, placed_jd, caller_member_id, callee_member_id)"
    )


@migrations(name="0017_routing_version")
def _m0017(db: sqlite_utils.Database) -> None:
    # A counter every change to what a call's escalation steps are made of (members and
    # stored chains) moves, so the routing service can keep the steps of calls alike and
    # know, with one read, when they may have changed (routing/versioned_cache.py).
    _version_counter(
        db,
        "routing_version",
        {t: f"routing_version_{t}" for t in ("members", "escalation_chains")},
    )


@migrations(name="0018_texts_handed_lately")
def _m0018(db: sqlite_utils.Database) -> None:
    # The texts handed to phones in the last minute or so, read when the service starts: a
    # phone that vanished meanwhile gets them again (agi/phone_presence.py).
    db["text_deliveries"].create_index(["delivered_at"], if_not_exists=True)


@migrations(name="0019_callback_tries")
def _m0019(db: sqlite_utils.Database) -> None:
    # How many times a call back was placed before its outcome: the trunk's faults are tried
    # again (routing/callbacks.py retry_after), and how often is the trunk's reliability.
    db["flashes"].add_column("callback_tries", int)


# "My district's bridge" and "my team's bridge": reached by every member without an admin
# making a bridge first (routing/bridges.py).
OWN_BRIDGE_CODES = [
    ("110", "district_bridge", "My district's bridge"),
    ("111", "team_bridge", "My team's bridge"),
]


@migrations(name="0020_own_bridges")
def _m0020(db: sqlite_utils.Database) -> None:
    # Every district and every supervisor has a bridge, made the first time it is dialed:
    # one per district (scope district) and one per supervisor (scope team), never two.
    db["bridges"].add_column("scope", str)
    db.execute(
        "CREATE UNIQUE INDEX bridges_one_per_district ON bridges(district) WHERE scope = 'district'"
    )
    db.execute(
        "CREATE UNIQUE INDEX bridges_one_per_team ON bridges(leader_member_id) WHERE scope = 'team'"
    )
    # Their codes, where an install has not used them for something else.
    taken = {r[0] for r in db.execute("SELECT code FROM short_codes")}
    db["short_codes"].insert_all(
        [
            {"code": code, "kind": kind, "role": None, "number": None, "label": label}
            for code, kind, label in OWN_BRIDGE_CODES
            if code not in taken
        ]
    )


@migrations(name="0021_text_queue_view")
def _m0021(db: sqlite_utils.Database) -> None:
    # The admin site's Texts page (directory/text_queue_view.py). The waiting deliveries
    # with what says why they wait, per recipient in order, in an index of their own (queued
    # rows only: it stays as small as the queue): a page and the counts of 100,000 waiting
    # deliveries are read from it, not from the rows scattered through the table. And the
    # ended ones (expired, failed) by their expiry, so the page's last days are not sought
    # among every delivery that ever ended.
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_text_deliveries_waiting ON text_deliveries("
        "recipient_member_id, id, text_id, by_sms, sms_refused, attempts, last_error, status) "
        "WHERE status = 'queued'"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_text_deliveries_ended ON text_deliveries(expires_at) "
        "WHERE status IN ('expired', 'failed')"
    )


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the directory at `path`, readable by its owner only."""
    path = Path(path)
    fresh = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fresh:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db)
    return db


def open_memory() -> sqlite_utils.Database:
    """An in-memory directory with the full schema, for tests and dry runs."""
    db = sqlite_utils.Database(memory=True)
    db.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db)
    return db
