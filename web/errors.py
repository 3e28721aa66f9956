"""JSON errors for the API: every refusal is `{"error": ..., "reasons": [...]}`.

400 malformed request (body, query, path), 401 no valid token, 403 outside the token's
district (for a district as such, never for a case), 404 unknown (or not visible) case,
referral or contact, 422 a change the directory refuses (CaseError, with every reason).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from directory.case_values import CaseError

log = logging.getLogger(__name__)

TITLES = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    422: "refused",
    500: "internal error",
}
# API answers carry child-protection data: never cached, never sniffed.
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

dumps = functools.partial(json.dumps, ensure_ascii=False)


class ApiError(Exception):
    """A refusal with an HTTP status, the reasons and any extra headers."""

    def __init__(
        self, status: int, reasons: list[str], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__("; ".join(reasons))
        self.status = status
        self.reasons = reasons
        self.headers = dict(headers or {})


def not_found(what: str) -> ApiError:
    return ApiError(404, [what])


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        data, status=status, headers={**NO_STORE, **(headers or {})}, dumps=dumps
    )


def error_response(
    status: int, reasons: list[str], headers: Mapping[str, str] | None = None
) -> web.Response:
    body = {"error": TITLES.get(status, "error"), "reasons": reasons}
    return json_response(body, status=status, headers=headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal (ours, the directory's, aiohttp's) into a JSON error; hide crashes."""
    try:
        response = await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.reasons, exc.headers)
    except CaseError as exc:
        return error_response(422, exc.reasons)
    except web.HTTPException as exc:
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        reason = exc.reason if exc.status != 404 else "no such API route"
        return error_response(exc.status, [reason], headers)
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return error_response(500, ["the request could not be completed; see the service log"])
    for key, value in NO_STORE.items():
        response.headers.setdefault(key, value)
    return response
