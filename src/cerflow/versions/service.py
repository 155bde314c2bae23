"""Report versions and the audit trail: number, record, review, approve, compare, list.

    next_version(session=, product_kind=, product_ref=) -> (number, previous snapshot | None)
    record_version(session=, ...) -> ReportVersion        (+ a "generated" audit row)
    review(session=, version=, actor=, comment=)           (+ a "reviewed" audit row)
    approve(session=, version=, actor=, facts_sha256=)     (+ an "approved" audit row)
    record_download(session=, report_id=, actor=, fmt=)    (+ a "downloaded" audit row)
    diff(session=, before=, after=) -> ChangesFacts
    audit_list(session=, ...) -> list[AuditEvent]

Versions are numbered per product (kind + reference) in the order they are recorded; the
unique (kind, ref, number) constraint makes two reports racing for the same number fail
the second (a report job is then retried and takes the next number). An approved version
cannot change: `approve` refuses a second approval, the service never writes an approved
row, and the database triggers of migration 0008_versions refuse any UPDATE/DELETE of it
and of any audit row.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cerflow.auth.models import Role, User
from cerflow.errors import ConflictError, ForbiddenError, NotFoundError
from cerflow.narrative.change_facts import ChangesFacts
from cerflow.narrative.changes import VersionSnapshot, compare, history_entry
from cerflow.products.service import resolve
from cerflow.versions.models import AuditAction, AuditEvent, ReportVersion, VersionState


@dataclass(frozen=True, slots=True)
class Actor:
    """Who does something: a user (id + e-mail and role) or the command line (`cli:<login>`)."""

    name: str
    user_id: int | None = None
    role: Role | None = None

    @classmethod
    def cli(cls) -> Actor:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):  # no user name in a bare container
            login = "unknown"
        return cls(name=f"cli:{login}")


def actor_for_user(
    *,
    session: Session,
    user_id: int | None,
    role: Role | None = None,
    api_key_id: int | None = None,
) -> Actor:
    """The audit actor of a user id (its e-mail); a missing user is named by its id."""
    if user_id is None:
        return Actor.cli()
    user = session.get(User, user_id)
    name = user.email if user is not None else f"user:{user_id}"
    if api_key_id is not None:
        name = f"{name} (API key {api_key_id})"
    if role is None and user is not None:
        role = Role(user.role)
    return Actor(name=name, user_id=user_id, role=role)


def actor_by_email(*, session: Session, email: str) -> Actor:
    """An active user named on the command line (`--as`), or a clear error."""
    user = session.scalars(select(User).where(User.email == email.strip().lower())).first()
    if user is None or not user.is_active:
        raise NotFoundError(
            f"no active user {email!r}; create one with "
            "`cerflow user create --role approver` or the admin API"
        )
    return Actor(name=user.email, user_id=user.id, role=Role(user.role))


def product_identity(drug: str | None, device_codes: Sequence[str] | None) -> tuple[str, str]:
    """(kind, ref) as the API's report jobs name a product, so CLI and API share versions."""
    if drug:
        return "drug", resolve(drug)[1]
    codes = sorted({c.strip().upper() for c in device_codes or [] if c.strip()})
    return "device", ",".join(codes)


# --- reading ---------------------------------------------------------------------------


def _versions(session: Session, kind: str, ref: str) -> list[ReportVersion]:
    return list(
        session.scalars(
            select(ReportVersion)
            .where(ReportVersion.product_kind == kind, ReportVersion.product_ref == ref)
            .order_by(ReportVersion.number)
        )
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes: they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def snapshot(row: ReportVersion, earlier: Sequence[ReportVersion] = ()) -> VersionSnapshot:
    def plain(r: ReportVersion) -> VersionSnapshot:
        return VersionSnapshot(
            number=r.number,
            report_id=r.report_id,
            facts=r.facts,
            narrative=r.narrative,
            facts_sha256=r.facts_sha256,
            state=r.state,
            generated_at=_utc(r.generated_at),
            generated_by=r.generated_by,
            approved_by=r.approved_by,
            approved_at=_utc(r.approved_at),
        )

    snap = plain(row)
    snap.history = [history_entry(plain(r)) for r in earlier if r.number < row.number]
    return snap


def next_version(
    *, session: Session, product_kind: str, product_ref: str
) -> tuple[int, VersionSnapshot | None]:
    """The number the next report of the product gets, and its previous version (if any)."""
    rows = _versions(session, product_kind, product_ref)
    if not rows:
        return 1, None
    return rows[-1].number + 1, snapshot(rows[-1], rows[:-1])


def get(*, session: Session, ref: str) -> ReportVersion:
    """A version by its id ("12") or by product and number ("DQA@2", "metformin@1")."""
    text = ref.strip()
    row: ReportVersion | None = None
    if text.isdigit():
        row = session.get(ReportVersion, int(text))
    elif "@" in text:
        product, _, number = text.rpartition("@")
        if not number.isdigit() or not product:
            raise NotFoundError(f"version {ref!r}: write PRODUCT@N (e.g. DQA@2) or the version id")
        kind, key = resolve(product)
        row = session.scalars(
            select(ReportVersion).where(
                ReportVersion.product_kind == kind,
                ReportVersion.product_ref == key,
                ReportVersion.number == int(number),
            )
        ).first()
    else:
        raise NotFoundError(f"version {ref!r}: write PRODUCT@N (e.g. DQA@2) or the version id")
    if row is None:
        raise NotFoundError(f"no report version {ref!r}")
    return row


def _previous_stmt(version: ReportVersion) -> Select[ReportVersion]:
    return (
        select(ReportVersion)
        .where(
            ReportVersion.product_kind == version.product_kind,
            ReportVersion.product_ref == version.product_ref,
            ReportVersion.number < version.number,
        )
        .order_by(ReportVersion.number.desc())
        .limit(1)
    )


def has_previous(*, session: Session, version: ReportVersion) -> bool:
    return session.scalars(_previous_stmt(version)).first() is not None


def previous_of(*, session: Session, version: ReportVersion) -> ReportVersion:
    """The version before `version` of the same product, or a clear 404."""
    row = session.scalars(_previous_stmt(version)).first()
    if row is None:
        raise NotFoundError(
            f"version {version.number} of {version.product_ref} has no previous version"
        )
    return row


def visible(*, session: Session, version_id: int, user_id: int, role: Role) -> ReportVersion:
    """Analysts, approvers and admins see every version; viewers only their own (404)."""
    row = session.get(ReportVersion, version_id)
    if row is None or (not role.allows(Role.ANALYST) and row.generated_by_id != user_id):
        raise NotFoundError(f"no report version with id {version_id}")
    return row


def for_report(*, session: Session, report_id: str) -> ReportVersion | None:
    return session.scalars(
        select(ReportVersion).where(ReportVersion.report_id == report_id)
    ).first()


def list_versions(
    *, session: Session, user_id: int, role: Role, product_ref: str | None = None, limit: int = 200
) -> list[ReportVersion]:
    stmt = select(ReportVersion).order_by(ReportVersion.id.desc()).limit(limit)
    if product_ref:
        kind, key = resolve(product_ref)
        stmt = stmt.where(ReportVersion.product_kind == kind, ReportVersion.product_ref == key)
    if not role.allows(Role.ANALYST):
        stmt = stmt.where(ReportVersion.generated_by_id == user_id)
    return list(session.scalars(stmt))


def diff(*, session: Session, before: ReportVersion, after: ReportVersion) -> ChangesFacts:
    """What changed from `before` to `after` (any two versions; usually of one product)."""
    earlier = _versions(session, before.product_kind, before.product_ref)
    return compare(snapshot(before, earlier), snapshot(after))


# --- writing ---------------------------------------------------------------------------


def _audit(
    session: Session,
    action: AuditAction,
    actor: Actor,
    version: ReportVersion | None = None,
    *,
    report_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        at=dt.datetime.now(dt.UTC),
        action=action.value,
        actor_id=actor.user_id,
        actor=actor.name,
        version_id=version.id if version is not None else None,
        report_id=version.report_id if version is not None else report_id,
        product_kind=version.product_kind if version is not None else None,
        product_ref=version.product_ref if version is not None else None,
        facts_sha256=version.facts_sha256 if version is not None else None,
        snapshots=list(version.snapshots) if version is not None else [],
        detail=detail or {},
    )
    session.add(event)
    return event


def snapshots_of(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The data snapshots behind a report (id, source, file name or query, sha256)."""
    return [
        {
            "snapshot_id": s.get("snapshot_id"),
            "source": s.get("source"),
            "sha256": s.get("sha256"),
            "retrieved_at": s.get("retrieved_at"),
            "role": s.get("role"),
        }
        for s in facts.get("provenance") or []
    ]


def record_version(
    *,
    session: Session,
    product_kind: str,
    product_ref: str,
    number: int,
    report_id: str,
    title: str,
    facts: dict[str, Any],
    facts_sha256: str,
    narrative: dict[str, Any],
    actor: Actor,
    files: Sequence[str] = (),
) -> ReportVersion:
    """Store a new draft version and its "generated" audit row (flushed, not committed)."""
    row = ReportVersion(
        product_kind=product_kind,
        product_ref=product_ref,
        number=number,
        report_id=report_id,
        state=VersionState.DRAFT.value,
        title=title[:300],
        facts=facts,
        facts_sha256=facts_sha256,
        narrative=narrative,
        snapshots=snapshots_of(facts),
        generated_by_id=actor.user_id,
        generated_by=actor.name,
        generated_at=dt.datetime.now(dt.UTC),
    )
    session.add(row)
    session.flush()
    _audit(session, AuditAction.GENERATED, actor, row, detail={"formats": sorted(files)})
    session.flush()
    return row


def review(*, session: Session, version: ReportVersion, actor: Actor, comment: str) -> AuditEvent:
    """Record a reviewer's comment on a version (its facts hash is in the audit row)."""
    event = _audit(session, AuditAction.REVIEWED, actor, version, detail={"comment": comment})
    session.flush()
    return event


def approve(
    *,
    session: Session,
    version: ReportVersion,
    actor: Actor,
    facts_sha256: str | None,
    note: str | None = None,
) -> ReportVersion:
    """Approve a draft: only an approver or an admin, only the facts hash they reviewed.

    `facts_sha256` (when given) must equal the version's, so an approval names exactly
    the content that was read; the approver, the time and the hash are recorded.
    """
    if actor.role is None or not actor.role.allows(Role.APPROVER):
        raise ForbiddenError(
            f"{actor.name} may not approve report versions: the role 'approver' or 'admin' "
            "is needed (an admin can change a user's role)"
        )
    if version.state == VersionState.APPROVED.value:
        raise ConflictError(
            f"version {version.number} of {version.product_ref} (id {version.id}) was already "
            f"approved by {version.approved_by} at {version.approved_at}; an approved version "
            "is immutable: generate a new version to change it"
        )
    if facts_sha256 is not None and facts_sha256.strip().lower() != version.facts_sha256:
        raise ConflictError(
            f"facts hash mismatch for version id {version.id}: you reviewed "
            f"{facts_sha256.strip()[:16]}..., the version has {version.facts_sha256[:16]}...; "
            "review the version again and approve with its facts_sha256"
        )
    version.state = VersionState.APPROVED.value
    version.approved_by_id = actor.user_id
    version.approved_by = actor.name
    version.approved_at = dt.datetime.now(dt.UTC)
    version.approval_note = note
    session.flush()
    _audit(session, AuditAction.APPROVED, actor, version, detail={"note": note} if note else {})
    session.flush()
    return version


def record_download(
    *, session: Session, report_id: str, actor: Actor, fmt: str, via: str = "api"
) -> None:
    """A "downloaded" audit row for the report's version (or the bare report id)."""
    version = for_report(session=session, report_id=report_id)
    _audit(
        session,
        AuditAction.DOWNLOADED,
        actor,
        version,
        report_id=report_id,
        detail={"format": fmt, "via": via},
    )
    session.flush()


def audit_list(
    *,
    session: Session,
    version_id: int | None = None,
    product_ref: str | None = None,
    action: str | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """Newest first."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if version_id is not None:
        stmt = stmt.where(AuditEvent.version_id == version_id)
    if product_ref:
        kind, key = resolve(product_ref)
        stmt = stmt.where(AuditEvent.product_kind == kind, AuditEvent.product_ref == key)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(session.scalars(stmt))
