"""Report versions on SQLite and the real PostgreSQL: numbering, approval, immutability,
the append-only audit trail (database triggers, not only the code path) and the diff."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from cerflow.auth.models import Role
from cerflow.auth.service import create_user
from cerflow.errors import ConflictError, ForbiddenError
from cerflow.versions import service
from cerflow.versions.diff_html import render_diff_html
from cerflow.versions.models import AuditEvent, ReportVersion


def _facts(total: int, signals: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "volumes": {"total_reports": total, "serious": 3},
        "signals": {"pairs_tested": 10, "signals": [{"event": e, "a": a} for e, a in signals]},
        "provenance": [
            {"snapshot_id": 4, "source": "faers", "sha256": "f" * 64, "role": "product"}
        ],
    }


def _record(session: Session, number: int, facts: dict[str, Any], text_: str) -> ReportVersion:
    return service.record_version(
        session=session,
        product_kind="device",
        product_ref="DQA",
        number=number,
        report_id=f"job-{number}",
        title="CER - DQA",
        facts=facts,
        facts_sha256=f"{number}" * 64,
        narrative={"summary": {"title": "1 Executive summary", "text": text_}},
        actor=service.Actor.cli(),
        files=["json", "pdf"],
    )


def test_draft_approved_immutable_and_audited(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        approver = create_user(
            session=session, email="ap@example.org", password="x" * 14, role=Role.APPROVER
        )
        analyst = create_user(
            session=session, email="an@example.org", password="x" * 14, role=Role.ANALYST
        )
        number, previous = service.next_version(
            session=session, product_kind="device", product_ref="DQA"
        )
        assert (number, previous) == (1, None)
        v1 = _record(session, 1, _facts(10, [("Hypoxia", 4), ("Occlusion", 3)]), "ten reports")
        session.commit()
        assert v1.state == "draft" and v1.approved_by is None
        assert v1.snapshots == [
            {
                "snapshot_id": 4,
                "source": "faers",
                "sha256": "f" * 64,
                "retrieved_at": None,
                "role": "product",
            }
        ]

        as_analyst = service.actor_for_user(session=session, user_id=analyst.id)
        with pytest.raises(ForbiddenError, match="approver"):
            service.approve(session=session, version=v1, actor=as_analyst, facts_sha256=None)
        as_approver = service.actor_for_user(session=session, user_id=approver.id)
        with pytest.raises(ConflictError, match="mismatch"):
            service.approve(session=session, version=v1, actor=as_approver, facts_sha256="0" * 64)
        service.review(session=session, version=v1, actor=as_analyst, comment="checked")
        service.approve(
            session=session, version=v1, actor=as_approver, facts_sha256="1" * 64, note="ok"
        )
        session.commit()
        assert v1.state == "approved"
        assert (v1.approved_by, v1.approved_by_id) == ("ap@example.org", approver.id)
        assert v1.approved_at is not None
        with pytest.raises(ConflictError, match="immutable"):
            service.approve(session=session, version=v1, actor=as_approver, facts_sha256=None)

        # The database itself refuses to change or delete the approved row.
        for stmt in (
            "UPDATE report_versions SET title = 'edited' WHERE number = 1",
            "DELETE FROM report_versions WHERE number = 1",
        ):
            with pytest.raises(DatabaseError, match="immutable"):
                session.execute(text(stmt))
            session.rollback()
        assert session.get(ReportVersion, v1.id).title == "CER - DQA"  # type: ignore[union-attr]

        # Version 2 carries the history and shows a planted new and a closed signal.
        number, previous = service.next_version(
            session=session, product_kind="device", product_ref="DQA"
        )
        assert number == 2 and previous is not None and previous.state == "approved"
        v2 = _record(session, 2, _facts(12, [("Hypoxia", 6), ("Air embolism", 3)]), "twelve")
        session.commit()
        changes = service.diff(session=session, before=v1, after=v2)
        assert changes.new_signals == ["Air embolism"]
        assert changes.closed_signals == ["Occlusion"]
        assert {(c.label, c.before, c.after) for c in changes.changed_counts} == {
            ("Reports of the product", 10, 12),
            ("Reports with Hypoxia", 4, 6),
        }
        assert changes.changed_text == ["1 Executive summary"]
        assert [(h.version, h.approved_by) for h in changes.history] == [(1, "ap@example.org")]
        page = render_diff_html(v1, v2, changes)
        assert "New: Air embolism" in page and "Closed: Occlusion" in page
        assert "<span class='del'>-ten reports</span>" in page
        assert "<span class='add'>+twelve</span>" in page
        assert service.get(session=session, ref="DQA@2").id == v2.id

        actions = [(e.action, e.actor, e.version_id) for e in service.audit_list(session=session)]
        assert actions == [
            ("generated", service.Actor.cli().name, v2.id),
            ("approved", "ap@example.org", v1.id),
            ("reviewed", "an@example.org", v1.id),
            ("generated", service.Actor.cli().name, v1.id),
        ]
        approved = service.audit_list(session=session, action="approved")[0]
        assert approved.facts_sha256 == "1" * 64 and approved.snapshots[0]["snapshot_id"] == 4


def test_audit_rows_are_append_only(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        v = _record(session, 1, _facts(1, []), "t")
        service.record_download(
            session=session,
            report_id=v.report_id,
            actor=service.Actor(name="x@example.org"),
            fmt="pdf",
        )
        session.commit()
        assert session.query(AuditEvent).count() == 2
        for stmt in (
            "UPDATE audit_events SET actor = 'someone else'",
            "DELETE FROM audit_events",
        ):
            with pytest.raises(DatabaseError, match="append-only"):
                session.execute(text(stmt))
            session.rollback()
        assert sorted(e.action for e in session.query(AuditEvent)) == ["downloaded", "generated"]
        # A draft is not frozen: the triggers only guard approved versions.
        session.execute(text("UPDATE report_versions SET title = 'renamed'"))
        session.commit()


def test_two_reports_cannot_take_the_same_number(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        _record(session, 1, _facts(1, []), "t")
        session.commit()
        with pytest.raises(DatabaseError):
            _record(session, 1, _facts(2, []), "u")
        session.rollback()
