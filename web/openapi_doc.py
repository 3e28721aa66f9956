"""The JSON API described as OpenAPI 3.1, served by the site at /admin/openapi.json (open, no
login: it holds no data). Made from the same names as the routes (web/api_cases.py,
web/api_members.py); a test checks that every route of the API is described."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web.api_cases import OPEN_FIELDS
from web.api_members import MEMBER_FIELDS, REQUIRED

STR = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}


def _q(name: str, schema: dict[str, Any], what: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": what}


def _p(name: str, what: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": STR, "description": what}


def _body(fields: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": fields,
        "required": required,
        "additionalProperties": False,
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    str(code): {"$ref": f"#/components/responses/{name}"}
    for code, name in ((400, "Bad"), (401, "Unauthorized"), (403, "Forbidden"), (404, "NotFound"))
}
OK = {"200": {"description": "the answer, JSON", "content": {"application/json": {}}}}
CHANGED = {**OK, "422": {"$ref": "#/components/responses/Refused"}}
CASE = _p("case", "a case number or reference (%2F for a / in a reference)")
PAGE = [_q("limit", INT, "at most this many (default 50, at most 200)"), _q("offset", INT, "")]


def _get(summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": params, "responses": {**OK, **ERRORS}}}


def _post(
    summary: str, params: list[dict[str, Any]], body: dict[str, Any] | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": params,
        "responses": {**CHANGED, **ERRORS},
    }
    if body is not None:
        operation["requestBody"] = body
    return {"post": operation}


def document() -> dict[str, Any]:
    referral_step = {
        "summary": "take a referral one step (decline and fail need a reason)",
        "parameters": [
            _p("referral", "the referral's id"),
            {
                "name": "step",
                "in": "path",
                "required": True,
                "schema": {"enum": ["accept", "decline", "complete", "fail"]},
            },
        ],
        "requestBody": _body({"reason": STR, "at": STR}, []),
        "responses": {**CHANGED, **ERRORS},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CUG JSON API",
            "version": "1",
            "description": "Cases, referrals, figures and members of the closed user group. "
            "Every request needs a token (`cug api token create`) or an admin site session "
            "(with X-CSRF-Token on changes); a district token or account sees its districts "
            "only (a case outside them is answered as unknown, 404; a member, 403).",
        },
        "servers": [{"url": "/api"}],
        "security": [{"token": []}, {"session": []}],
        "paths": {
            "/v1/cases": {
                **_get(
                    "cases, newest report first",
                    [
                        _q("district", STR, ""),
                        _q("status", {"enum": ["open", "referred", "closed"]}, ""),
                        _q("assigned", STR, "an extension or phone number"),
                        *PAGE,
                    ],
                ),
                **_post(
                    "open a case (201, Location)",
                    [],
                    _body(
                        {k: STR for k in OPEN_FIELDS},
                        ["category"],
                    ),
                ),
            },
            "/v1/cases/{case}": _get(
                "the case, response figures, referrals, history, contacts (audited)", [CASE]
            ),
            "/v1/cases/{case}/assign": _post(
                "assign a worker", [CASE], _body({"member": STR}, ["member"])
            ),
            "/v1/cases/{case}/follow-up": _post(
                "set or clear (null) the follow-up date",
                [CASE],
                _body({"follow_up_due": {"type": ["string", "null"]}}, ["follow_up_due"]),
            ),
            "/v1/cases/{case}/refer": _post(
                "refer the case to a service (201)",
                [CASE],
                _body(
                    {"service": STR, "consent": BOOL, "consent_by": STR, "to": STR, "at": STR},
                    ["service", "consent"],
                ),
            ),
            "/v1/cases/{case}/close": _post(
                "close the case", [CASE], _body({"reason": STR}, ["reason"])
            ),
            "/v1/cases/{case}/reopen": _post("reopen the case", [CASE], _body({}, [])),
            "/v1/referrals/{referral}/{step}": {"post": referral_step},
            "/v1/contacts/{contact}/link": _post(
                "link a logged call or text to a case",
                [_p("contact", "the contact's id")],
                _body({"case": STR, "force": BOOL}, ["case"]),
            ),
            "/v1/link-suggestions": _get(
                "answered calls between people on one open case, not linked",
                [_q("limit", INT, "")],
            ),
            "/v1/report": _get(
                "figures per district and month (or one case's response times)",
                [
                    _q("district", STR, ""),
                    _q("month", STR, "YYYY-MM"),
                    _q("case", STR, "one case alone"),
                    _q("as_of", STR, "now, for overdue follow-ups"),
                ],
            ),
            "/v1/members": {
                **_get(
                    "members (never their SIP passwords)",
                    [
                        _q("q", STR, "a name, extension or number"),
                        _q("district", STR, ""),
                        _q("role", STR, ""),
                        _q("active", {"enum": ["yes", "no", "all"]}, "default yes"),
                        *PAGE,
                    ],
                ),
                **_post(
                    "add a member (201, Location; the SIP user name and password, this once)",
                    [],
                    _body({k: STR for k in MEMBER_FIELDS}, list(REQUIRED)),
                ),
            },
            "/v1/members/{member}": _get(
                "one member", [_p("member", "an extension or phone number")]
            ),
        },
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cug_admin"},
            },
            "responses": {
                name: {
                    "description": what,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "error": STR,
                                    "reasons": {"type": "array", "items": STR},
                                },
                            }
                        }
                    },
                }
                for name, what in (
                    ("Bad", "the request is malformed (every reason)"),
                    ("Unauthorized", "no valid token or session"),
                    ("Forbidden", "outside the caller's districts or permissions"),
                    ("NotFound", "unknown (or not visible) case, referral, contact or member"),
                    ("Refused", "a change the directory refuses, nothing changed"),
                )
            },
        },
    }


routes = web.RouteTableDef()


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
