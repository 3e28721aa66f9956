"""Reading what a client sends: a JSON object body checked against the fields a route takes,
query parameters, and identifiers in the path. Every problem is a reason; any reason is a 400.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from web.errors import ApiError

MAX_BODY = 64 * 1024
MAX_IDENT = 80
MAX_QUERY_VALUE = 200
SQLITE_MAX_INT = 2**63 - 1

_TYPE_WORDS = {str: "a string", bool: "true or false", int: "an integer"}


@dataclass(frozen=True)
class Field:
    """A body field: the JSON types it may have, whether it must be there, whether null is
    a value (else null is the same as leaving the field out)."""

    types: tuple[type, ...] = (str,)
    required: bool = False
    nullable: bool = False


def _bad(reasons: list[str]) -> ApiError:
    return ApiError(400, reasons)


def _shown(name: str) -> str:
    return repr(name[:40])


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


async def read_body(request: web.Request) -> bytes:
    """The raw body, refused past MAX_BODY bytes (whatever Content-Length claims)."""
    too_big = f"the body is larger than {MAX_BODY // 1024} kB"
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _bad([too_big])
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(16 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            raise _bad([too_big])
        chunks.append(chunk)
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"field {_shown(key)} is given twice")
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_object(raw: bytes) -> dict[str, Any]:
    """A JSON object from `raw` (empty: an empty object)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad([f"the body is not UTF-8 (byte {exc.start})"]) from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise _bad(
            [f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise _bad([f"the body is not acceptable JSON: {reason}"]) from None
    if not isinstance(data, dict):
        raise _bad([f"the body must be a JSON object, not {_json_type(data)}"])
    return data


def check_fields(data: dict[str, Any], fields: dict[str, Field]) -> dict[str, Any]:
    """The known fields of `data` with their values (null optional fields left out); every
    unknown field, missing field and wrong type is a reason."""
    errors: list[str] = []
    for name in data:
        if name not in fields:
            errors.append(
                f"unknown field {_shown(name)} (known: {', '.join(sorted(fields)) or 'none'})"
            )
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in data or (data[name] is None and not spec.nullable):
            if spec.required:
                errors.append(f"field {name!r} is missing")
            continue
        value = data[name]
        if value is None:
            values[name] = None
            continue
        wanted = spec.types
        fits = isinstance(value, wanted) and not (isinstance(value, bool) and bool not in wanted)
        if not fits:
            words = " or ".join(_TYPE_WORDS[t] for t in wanted)
            errors.append(f"field {name!r} must be {words}, not {_json_type(value)}")
            continue
        values[name] = value
    if errors:
        raise _bad(errors)
    return values


async def json_fields(request: web.Request, fields: dict[str, Field]) -> dict[str, Any]:
    """The request's JSON object body, checked against `fields`."""
    return check_fields(parse_object(await read_body(request)), fields)


def _control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def query(request: web.Request, allowed: set[str]) -> dict[str, str]:
    """The query parameters, each known, given once, one line, and not too long."""
    errors: list[str] = []
    values: dict[str, str] = {}
    for name in dict.fromkeys(request.query.keys()):
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            errors.append(f"unknown query parameter {_shown(name)} (known: {known})")
        elif len(request.query.getall(name)) > 1:
            errors.append(f"query parameter {name!r} is given more than once")
        else:
            value = request.query[name].strip()
            if _control(value):
                errors.append(f"query parameter {name!r} contains control characters")
            elif len(value) > MAX_QUERY_VALUE:
                errors.append(f"query parameter {name!r} is too long")
            elif value:
                values[name] = value
    if errors:
        raise _bad(errors)
    return values


def int_param(
    values: dict[str, str], name: str, default: int, minimum: int, maximum: int | None = None
) -> int:
    """An integer query parameter; above `maximum` it is capped, below `minimum` refused."""
    text = values.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise _bad([f"query parameter {name!r} must be a whole number, not {text[:20]!r}"])
    number = int(text)
    if number < minimum:
        raise _bad([f"query parameter {name!r} must be at least {minimum}"])
    return min(number, maximum) if maximum is not None else number


def path_ident(request: web.Request, name: str) -> str:
    """A case number or reference from the path: one line, not too long."""
    text = request.match_info[name]
    if not text.strip() or _control(text) or len(text) > MAX_IDENT:
        raise _bad([f"{name} in the path must be a case number or reference on one line"])
    return text.strip()


def path_id(request: web.Request, name: str) -> int | None:
    """A numeric id from the path (the route only matches digits); None when it is too large
    to be any row's id."""
    text = request.match_info[name]
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if number <= SQLITE_MAX_INT else None
