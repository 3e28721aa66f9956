"""The JSON API as an aiohttp application, mounted under /api on the service's HTTP side.

Everything that reaches this application needs a live API token, or the session cookie of an
admin logged in to the site (web/auth.py), and the named permission of its route; answers are
JSON, never cached; refusals are JSON errors (web/errors.py).
"""

from __future__ import annotations

import sqlite_utils
from aiohttp import web

from web import api_cases, api_conferences, api_members
from web.auth import DB_KEY, FailureLog, auth_middleware
from web.errors import errors_middleware

PREFIX = "/api"


def api_app(db: sqlite_utils.Database, failures: FailureLog | None = None) -> web.Application:
    """The API's routes (/v1/...) over the directory `db`; mount it with `mount_api`."""
    app = web.Application(
        middlewares=[errors_middleware, auth_middleware(failures or FailureLog())]
    )
    app[DB_KEY] = db
    app.add_routes(api_cases.routes)
    app.add_routes(api_conferences.routes)
    app.add_routes(api_members.routes)
    return app


def mount_api(app: web.Application, db: sqlite_utils.Database) -> web.Application:
    """Serve the API under /api/v1 beside the app's own routes (which it leaves as they are:
    /health stays open). Returns the API application."""
    api = api_app(db)
    app.add_subapp(PREFIX, api)
    return api
