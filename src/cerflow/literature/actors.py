"""Who stored a literature row, as the e-mail kept beside the user id.

The e-mail is copied into each row so the screening log and the CER still name the person
after the user is deleted (the id is then set NULL). One rule for protocols, searches,
screening decisions and appraisals, so the log names people the same way everywhere.
"""

from __future__ import annotations

from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

# The users table by name, not the auth model: the report reads appraisals through this
# package and may not import the auth layer (import-linter contract).
_USERS = table("users", column("id"), column("email"))


def actor_email(session: Session, user_id: int | None, by: str | None = None) -> str:
    """The user's e-mail; else `by` (the CLI's `--by`); else "user N", or "cli" without a
    user id (a command run on the server)."""
    if user_id is not None:
        email = session.scalar(select(_USERS.c.email).where(_USERS.c.id == user_id))
        if email:
            return str(email)
    if by:
        return by
    return f"user {user_id}" if user_id else "cli"
