"""The operator's dashboard in admin (issue 19): the home page's figures, charts and tables, the
"compute now" button, and a company's drill-down. The figures and their rules are
`feeds.dashboard`'s; here they are laid out, with every chart drawn on the server as SVG and
every figure in a table too (for screen readers, and for reading without JavaScript)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Company
from feeds import dashboard

# Chart geometry, in SVG units (the chart scales to its box's width).
WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 28


def can_see(request: HttpRequest) -> bool:
    return request.user.has_perm("feeds.view_feed")


def _number(value: int | float) -> str:
    return number_format(value, force_grouping=True)


def duration(seconds: float | None) -> str:
    """A duration as people read it: seconds, minutes, hours or days, in the active language."""
    if seconds is None:
        return "—"
    if seconds < 90:
        return _("%(n)s s") % {"n": _number(round(seconds))}
    if seconds < 90 * 60:
        return _("%(n)s min") % {"n": _number(round(seconds / 60))}
    if seconds < 48 * 3600:
        return _("%(n)s h") % {"n": number_format(round(seconds / 3600, 1), decimal_pos=1)}
    return _("%(n)s d") % {"n": number_format(round(seconds / 86400, 1), decimal_pos=1)}


def _short_day(day: dt.date) -> str:
    return date_format(day, "j M")


def _nice_max(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at least `value` (1 when all are zero)."""
    if value <= 0:
        return 1
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale  # pragma: no cover - the loop always returns


def _count_top(value: float) -> int:
    """A counts axis' top: 2, 4, 10, 20, 40, 100… (its half, the middle line, a whole number)."""
    steps, scale = (2, 4), 1
    while True:
        for step in steps:
            if step * scale >= value:
                return step * scale
        scale *= 10
        steps = (1, 2, 4)


@dataclass
class Series:
    label: str
    css: str  # the class that colours it (static/css/admin.css)
    values: Sequence[float | None]


def _frame(
    chart_id: str, title: str, summary: str, labels: Sequence[str], top: float, fmt: Any
) -> list[str]:
    """The SVG's opening, title and description, horizontal grid with its labels, and the
    x labels (every fifth day and the last)."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="dashboard-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        'preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(summary)}</desc>',
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(top * fraction))}</text>"
        )
    step = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for i, label in enumerate(labels):
        if i % 5 == 0 or i == len(labels) - 1:
            x = LEFT + step * (i + 0.5)
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    return parts


def bar_chart(
    chart_id: str, title: str, summary: str, labels: Sequence[str], series: Sequence[Series]
) -> SafeString:
    """Grouped bars, one group a day; every text escaped."""
    top = _count_top(max((v or 0 for s in series for v in s.values), default=0))
    parts = _frame(chart_id, title, summary, labels, top, lambda v: _number(round(v)))
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    bar = step * 0.8 / max(1, len(series))
    for s_index, s in enumerate(series):
        for i, value in enumerate(s.values):
            if not value:
                continue
            h = plot_h * value / top
            x = LEFT + step * i + step * 0.1 + bar * s_index
            parts.append(
                f'<rect class="{s.css}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"/>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text is escaped above


# A durations axis' possible tops, in seconds: from a minute to a week.
DURATION_TOPS = (60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)


def _duration_top(value: float) -> float:
    return next((top for top in DURATION_TOPS if top >= value), _nice_max(value))


def line_chart(
    chart_id: str, title: str, summary: str, labels: Sequence[str], series: Sequence[Series]
) -> SafeString:
    """Durations, a line a series, with a dot on each day that has a value (a gap where
    none)."""
    top = _duration_top(max((v or 0 for s in series for v in s.values), default=0))
    parts = _frame(chart_id, title, summary, labels, top, duration)  # 0, half, top
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for s in series:
        points = []
        for i, value in enumerate(s.values):
            if value is None:
                if len(points) > 1:
                    parts.append(f'<polyline class="{s.css}" points="{" ".join(points)}"/>')
                points = []
                continue
            x, y = LEFT + step * (i + 0.5), TOP + plot_h * (1 - value / top)
            points.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle class="{s.css}" cx="{x:.1f}" cy="{y:.1f}" r="3"/>')
        if len(points) > 1:
            parts.append(f'<polyline class="{s.css}" points="{" ".join(points)}"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text is escaped above


def funnel_chart(chart_id: str, title: str, steps: Sequence[tuple[str, int]]) -> SafeString:
    """Horizontal bars, one a step, each as long as its count against the first."""
    width, row, label_w = WIDTH, 34, 240
    height = row * len(steps) + 8
    first = max(1, steps[0][1]) if steps else 1
    parts = [
        f'<svg class="dashboard-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]
    for i, (label, count) in enumerate(steps):
        y = 4 + row * i
        length = (width - label_w - 80) * count / first
        parts.append(
            f'<text class="axis" x="{label_w - 8}" y="{y + 20}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="series-delivered" x="{label_w}" y="{y + 4}" width="{length:.1f}" '
            f'height="{row - 10}"/>'
            f'<text class="value" x="{label_w + length + 6:.1f}" y="{y + 20}">'
            f"{escape(_number(count))}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text is escaped above


def _admin_list(rule: dashboard.Rule) -> str:
    meta = rule.model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist") + (
        f"?attention={rule.key}"
    )


def home_context(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's part of admin's home page: about fifteen queries, whatever the size of
    the data (pinned by a test)."""
    if not can_see(request):
        return {}
    now = timezone.now()
    attention = [
        {
            "label": item.rule.label,
            "count": item.count,
            "url": _admin_list(item.rule)
            if request.user.has_perm(
                f"{item.rule.model._meta.app_label}.view_{item.rule.model._meta.model_name}"
            )
            else "",
        }
        for item in dashboard.attention(now)
    ]
    worker = dashboard.worker(now)
    days = dashboard.days(now)
    labels = [_short_day(d.day) for d in days]
    backlog = dashboard.backlog()
    funnel = dashboard.funnel(now)
    computed = [d.computed for d in days if d.computed]
    written = Series(_("Written"), "series-written", [d.written for d in days])
    delivered = Series(_("Delivered"), "series-delivered", [d.delivered for d in days])
    failures = Series(_("Failures"), "series-failures", [d.failures for d in days])
    p50 = Series(_("Median"), "series-p50", [d.latency_p50 for d in days])
    p95 = Series(_("95th percentile"), "series-p95", [d.latency_p95 for d in days])
    steps = [
        (_("Connections created"), funnel.created),
        (_("Credentials issued"), funnel.credentials),
        (_("Linked in QuickBooks"), funnel.linked),
        (_("First delivery"), funnel.delivered),
    ]
    totals = {
        "written": sum(written.values),
        "delivered": sum(delivered.values),
        "failures": sum(failures.values),
    }
    return {
        "dashboard": {
            "attention": attention,
            "worker": worker,
            "worker_url": reverse("admin:feeds_workerheartbeat_changelist"),
            "grace": dashboard.grace_feeds(now),
            "grace_days": settings.FEED_DISCONNECT_GRACE_DAYS,
            "days": [
                {
                    "day": d.day,
                    "written": d.written,
                    "delivered": d.delivered,
                    "failures": d.failures,
                    "p50": duration(d.latency_p50),
                    "p95": duration(d.latency_p95),
                }
                for d in reversed(days)
            ],
            "computed": max(computed) if computed else None,
            "backlog": backlog,
            "backlog_age": duration(backlog.age(now).total_seconds() if backlog.oldest else None),
            "totals": totals,
            "volume_chart": bar_chart(
                "chart-volume",
                _("Transactions written and delivered per day"),
                _("%(written)s written and %(delivered)s delivered over 30 days.")
                % {
                    "written": _number(totals["written"]),
                    "delivered": _number(totals["delivered"]),
                },
                labels,
                [written, delivered],
            ),
            "failures_chart": bar_chart(
                "chart-failures",
                _("Delivery failures per day"),
                _("%(n)s failures over 30 days.") % {"n": _number(totals["failures"])},
                labels,
                [failures],
            ),
            "latency_chart": line_chart(
                "chart-latency",
                _("Time from write to delivery per day"),
                _("The median and the 95th percentile, per day of delivery."),
                labels,
                [p50, p95],
            ),
            "funnel": funnel,
            "funnel_steps": steps,
            "funnel_chart": funnel_chart(
                "chart-funnel", _("From connection to first delivery, last 30 days"), steps
            ),
            "series": [written, delivered, failures],
            "latency_series": [p50, p95],
        }
    }


@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    """Compute the daily figures now rather than at the worker's next round."""
    if not can_see(request):
        raise PermissionDenied
    count = dashboard.refresh_days()
    messages.success(
        request,
        _("Delivery figures computed (%(n)s days).") % {"n": count}
        if count
        else _("Delivery figures are up to date."),
    )
    return redirect("admin:index")


def company(request: HttpRequest, pk: Any) -> HttpResponse:
    """One company: its connections, accounts, feeds, last deliveries and events."""
    if not (can_see(request) and request.user.has_perm("accounts.view_company")):
        raise PermissionDenied
    detail = dashboard.company_detail(get_object_or_404(Company, pk=pk))
    context = {
        **admin.site.each_context(request),
        "title": _("Company overview: %(name)s") % {"name": detail.company.name},
        "detail": detail,
    }
    return TemplateResponse(request, "admin/dashboard/company.html", context)
