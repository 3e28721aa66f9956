"""The member directory: one SQLite file holding members, districts, roles and short codes."""
