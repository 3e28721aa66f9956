"""The `cug` command run in-process on a throw-away install, for the CLI tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from cug.cli import main


class Cug:
    """Runs `cug --home HOME ...` as the admin `tester`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(
        self,
        *args: str,
        ok: bool = True,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        result = self.runner.invoke(
            main,
            ["--home", str(self.home), *args],
            env={"CUG_ACTOR": "tester", **(env or {})},
            input=input,
        )
        assert (result.exit_code == 0) is ok, result.output or repr(result.exception)
        return result

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the install's database (committed) and return its rows."""
        with sqlite3.connect(self.home / "cug.db") as conn:
            rows = conn.execute(query, params).fetchall()
        conn.close()
        return rows


def with_members(home: Path) -> Cug:
    """An install at `home` with the test members (tests.unit.conftest.MEMBERS), one inactive."""
    from directory.schema import open_db
    from tests.unit.conftest import INACTIVE, MEMBERS, save

    runner = Cug(home)
    runner("init")
    db = open_db(home / "cug.db")
    assert save(db, MEMBERS).ok
    db.execute("UPDATE members SET active = 0 WHERE extension = ?", (INACTIVE,))
    db.conn.commit()
    db.close()
    return runner
