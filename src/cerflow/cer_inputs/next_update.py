"""The date of the next update of the clinical evaluation, and the rule that set it.

    next_update(inputs, *, report_date, default_months) -> NextUpdateFacts

MEDDEV 2.7/1 rev 4, section 6.2.3: the evaluation is updated at least annually when the
device carries significant risks or is not yet well established (cerflow also treats class
III and implantable devices so, as MDR Art. 61(11) and Annex XIV ask PMCF-driven yearly
updates for them), and every 2 to 5 years, with a justification, when it is well
established and carries no significant risk. A fixed date or interval from the inputs wins
(with its justification); otherwise the rule above picks 12 months for a high-risk device,
and `cer_update_interval_months` (a setting) in every other case, the stated rule is
printed with the date so a reviewer can check it.
"""

from __future__ import annotations

import calendar
import datetime as dt

from pydantic import BaseModel, ConfigDict

from cerflow.cer_inputs.schemas import CerInputs

RULE_SOURCE = "MEDDEV 2.7/1 rev 4, 6.2.3"


class NextUpdateFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date
    interval_months: int | None  # None when a fixed date was given
    from_date: dt.date  # the date the interval counts from (this version's date)
    rule: str  # one sentence: why this date


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole calendar months, clipped to the month end (Jan 31 + 1 = Feb 28/29)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def next_update(
    inputs: CerInputs | None, *, report_date: dt.date, default_months: int
) -> NextUpdateFacts:
    plan = inputs.next_update if inputs is not None else None
    if plan is not None and plan.date is not None:
        return NextUpdateFacts(
            date=plan.date,
            interval_months=None,
            from_date=report_date,
            rule=f"date set by the manufacturer: {plan.justification}",
        )
    if plan is not None and plan.interval_months is not None:
        return NextUpdateFacts(
            date=add_months(report_date, plan.interval_months),
            interval_months=plan.interval_months,
            from_date=report_date,
            rule=f"interval set by the manufacturer ({RULE_SOURCE}): {plan.justification}",
        )
    reasons: list[str] = []
    if plan is not None:
        if plan.device_class == "III":
            reasons.append("is class III")
        if plan.implantable:
            reasons.append("is implantable")
        if plan.significant_risk:
            reasons.append("carries significant risks")
        if plan.well_established is False:
            reasons.append("is not well established")
    if reasons:
        return NextUpdateFacts(
            date=add_months(report_date, 12),
            interval_months=12,
            from_date=report_date,
            rule=f"at least annually, as the device {_and(reasons)} ({RULE_SOURCE})",
        )
    stated = plan is not None and (plan.significant_risk is False and plan.well_established is True)
    if stated:
        why = (
            "the device is stated to be well established without significant risks, "
            f"for which {RULE_SOURCE} allows 2 to 5 years with a justification; "
            "cerflow's configured interval is used until the manufacturer sets one"
        )
    else:
        why = (
            "the inputs state neither the risk class nor whether the device carries "
            f"significant risks, so cerflow's configured interval is used ({RULE_SOURCE}: "
            "at least annually for significant risks or a technology not well established)"
        )
    return NextUpdateFacts(
        date=add_months(report_date, default_months),
        interval_months=default_months,
        from_date=report_date,
        rule=why,
    )
