"""The daily digest as Slack shows it (and as `escalator digest --dry-run` prints it)."""

from __future__ import annotations

from datetime import timedelta

from escalator.domain.escalation import Escalation
from escalator.domain.handoffs import SUPERVISORS
from escalator.domain.metrics import Attainment
from escalator.domain.privacy import mask_account
from escalator.domain.sla import Target, humanize
from escalator.policy import Policy
from escalator.services.digest import Digest
from escalator.services.stats import WeekStats
from escalator.slack.rendering.engine import SlackMessage, message
from escalator.slack.text import mrkdwn_escape

_TARGET_LABELS = {
    Target.acknowledge: "acknowledge",
    Target.first_update: "first update",
    Target.resolve: "resolve",
}


def render_digest(digest: Digest, policy: Policy) -> SlackMessage:
    day = f"{digest.day:%A} {digest.day.day} {digest.day:%B %Y}"
    title = f"Escalations digest · {day}"
    sections = []
    if digest.quiet:
        sections.append(f":sunny: No escalations on {day}: none raised, resolved or closed.")
    else:
        sections += _day(digest, policy)
    sections.append(_open_queue(digest, policy))
    return message(
        "digest.json.j2",
        title=title,
        headline=f"{title}: {digest.raised} raised, {digest.resolved} resolved, {digest.closed} closed",
        sections=sections,
    )


def digest_as_text(rendered: SlackMessage) -> str:
    """The digest's words without Block Kit, for a terminal."""
    lines = []
    for block in rendered.blocks:
        lines.append(block["text"]["text"])
    return "\n\n".join(lines)


def _label(policy: Policy, path_key: str) -> str:
    path = policy.paths.get(path_key)
    return mrkdwn_escape(path.label if path else path_key)


def _holder_label(policy: Policy, holder: str) -> str:
    return "Supervisors" if holder == SUPERVISORS else _label(policy, holder)


def _counts(counts: dict[str, int], label=lambda key: key) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(f"{label(key)} {count}" for key, count in counts.items())


def _duration(value: timedelta | None) -> str:
    return humanize(value) if value is not None else "–"


def _share(part: Attainment) -> str:
    if part.share is None:
        return "–"
    return f"{part.share:.0%} ({part.met}/{part.met + part.missed})"


def _account(account: str, policy: Policy) -> str:
    return mask_account(account) if policy.privacy.mask_account_in_channel else account


def _ref(e: Escalation) -> str:
    if e.card_channel_id and e.card_ts:
        return f"<https://slack.com/archives/{e.card_channel_id}/p{e.card_ts.replace('.', '')}|{e.reference}>"
    return e.reference


def _day(d: Digest, policy: Policy) -> list[str]:
    parts = [
        f"*Raised:* {d.raised} — by path: {_counts(d.raised_by_path, lambda k: _label(policy, k))}; "
        f"by type: {_counts(d.raised_by_type)}; by priority: {_counts(d.raised_by_priority)}\n"
        f"*Resolved:* {d.resolved} · *Closed:* {d.closed}",
    ]
    lines = ["*SLA attainment* (cases raised that day; still running ones left out)"]
    for priority, targets in d.attainment.items():
        lines.append(
            f"{priority.value}: " + " · ".join(f"{_TARGET_LABELS[t]} {_share(a)}" for t, a in targets.items())
        )
    if d.breaches:
        lines.append(
            "*Breaches:* "
            + ", ".join(
                f"{_ref(e)} ({', '.join(_TARGET_LABELS[t] for t in targets)})" for e, targets in d.breaches
            )
        )
    parts.append("\n".join(lines))
    parts.append(
        f"*Time to acknowledge:* median {_duration(d.acknowledge_median)}, 90th percentile "
        f"{_duration(d.acknowledge_p90)}\n*Time to resolve:* median {_duration(d.resolve_median)}, "
        f"90th percentile {_duration(d.resolve_p90)}"
    )
    quality = []
    if d.csat_count:
        quality.append(f"*CSAT of escalated cases:* {d.csat_average:.1f}/5 from {d.csat_count} closed")
    if d.loops_resolved:
        quality.append(f"*Loops closed:* {d.loops_closed} of {d.loops_resolved} resolved that day")
    if d.repeat_contacts:
        quality.append(
            "*Repeat contacts* (escalated again within 30 days): "
            + ", ".join(
                f"account {mrkdwn_escape(_account(later.account_number, policy))} "
                f"({_ref(earlier)} → {_ref(later)})"
                for earlier, later in d.repeat_contacts
            )
        )
    else:
        quality.append("*Repeat contacts:* none")
    if d.missed_callbacks:
        quality.append(
            f"*Missed callbacks:* {len(d.missed_callbacks)} ("
            + ", ".join(_ref(e) for e in d.missed_callbacks)
            + ")"
        )
    if d.contacts is not None and d.contacts > 0:
        quality.append(
            f"*Escalation rate:* {d.escalation_rate:.1%} of {d.contacts} contacts · "
            f"*first-contact resolution:* {d.first_contact_resolution:.1%}"
        )
    parts.append("\n".join(quality))
    reasons = []
    if d.raised_by_path:
        top_path = next(iter(d.raised_by_path))
        reasons.append(f"*Top path:* {_label(policy, top_path)} ({d.raised_by_path[top_path]})")
    if d.top_triggers:
        reasons.append(
            "*Top trigger words:* " + ", ".join(f"{mrkdwn_escape(w)} ({n})" for w, n in d.top_triggers)
        )
    if d.slowest_path:
        path, slowest = d.slowest_path
        reasons.append(f"*Slowest path:* {_label(policy, path)} (median {humanize(slowest)} to resolve)")
    if reasons:
        parts.append("\n".join(reasons))
    if d.raised:
        handoffs = (
            f"*Handed off more than once:* {d.handed_off_repeatedly} of {d.raised} "
            f"({round(100 * d.handed_off_repeatedly / d.raised)} %)"
        )
        if d.passed_on:
            handoffs += "\n*Passed on most:* " + _counts(d.passed_on, lambda k: _holder_label(policy, k))
        parts.append(handoffs)
    if d.incidents:
        i = d.incidents
        declared = f"{len(i.declared)} declared" + (f" ({', '.join(i.declared)})" if i.declared else "")
        parts.append(
            f"*Incidents:* {declared}, {i.customers_affected} customer"
            f"{'s' if i.customers_affected != 1 else ''} affected · {i.resolved} resolved"
            + (f", median {humanize(i.resolve_median)} to resolve" if i.resolve_median else "")
        )
    if d.key_accounts:
        parts.append(_key_accounts(d))
    if d.specialists:
        parts.append(
            "*Per specialist* (claimed · resolved · median time to resolve)\n"
            + "\n".join(
                f"<@{s.user_id}>: {s.claimed} · {s.resolved} · {_duration(s.median_resolve)}"
                for s in d.specialists
            )
        )
    return parts


def _key_accounts(d: Digest) -> str:
    k = d.key_accounts
    assert k is not None
    if not k.raised:
        return ":star: *Key accounts:* none escalated"
    tiers = _counts(k.by_tier, mrkdwn_escape)
    breached = (
        f"{len(k.breaches)} missed a target ({', '.join(_ref(e) for e in k.breaches)})"
        if k.breaches
        else "no target missed"
    )
    return f":star: *Key accounts:* {k.raised} escalated — {tiers} · {breached}"


def _open_queue(d: Digest, policy: Policy) -> str:
    if not d.open_unclaimed_total:
        return ":white_check_mark: *Open and unclaimed now:* none."
    shown = ", ".join(
        f"{_ref(e)} ({_label(policy, e.path_key)}, {e.priority.value})" for e in d.open_unclaimed
    )
    more = d.open_unclaimed_total - len(d.open_unclaimed)
    return (
        f":hourglass_flowing_sand: *Open and unclaimed now:* {d.open_unclaimed_total}, oldest first: {shown}"
        + (f" and {more} more" if more else "")
    )


def render_week_stats(stats: WeekStats, policy: Policy) -> str:
    """`/escalate stats`, as one private message."""
    labels = ", ".join(_label(policy, key) for key in stats.paths)
    share = _share(stats.acknowledge)
    csat = f"{stats.csat_average:.1f}/5 from {stats.csat_count}" if stats.csat_average is not None else "–"
    return (
        f"*This week* (since {stats.since:%A %d %B}) · {labels}\n"
        f"Raised {stats.raised} · resolved {stats.resolved} · closed {stats.closed} · in progress now "
        f"{stats.in_progress}\n"
        f"Acknowledged within target: {share} · median time to acknowledge "
        f"{_duration(stats.acknowledge_median)} · to resolve {_duration(stats.resolve_median)}\n"
        f"CSAT: {csat}"
    )
