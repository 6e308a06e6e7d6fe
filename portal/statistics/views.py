"""The "Статистика" page: charts of the chosen period (each with its table), the ledger of the
last 12 months and the balance. The charts are drawn in the browser by Plotly (served by us,
static/vendor/plotly/plotly.min.js); the numbers come from `selectors.statistics`, the same
ones the API returns."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from portal.billing.selectors import customer_balance
from portal.statistics import selectors
from portal.statistics.forms import PeriodForm
from portal.web.access import customer_page


def _series(key: str, name: str, rows: list[dict], field: str) -> dict:
    return {"key": key, "name": name, "values": [row[field] for row in rows]}


def charts(data: dict) -> list[dict]:
    """What the page draws: one entry per chart (its title, unit, x labels and series). The
    table beside each chart is rendered from the same entry, so the two cannot disagree."""
    days = data["per_day"]
    hours = data["per_hour"]
    deps = data["departments"]
    top = data["top_numbers"]
    answered, missed = _("С ответом"), _("Без ответа")
    calls = _("звонков")
    directions = [(r["direction"], str(r["label"]).capitalize()) for r in data["by_direction"]]
    return [
        {
            "id": "per-day",
            "title": _("Звонки по дням"),
            "unit": calls,
            "stacked": True,
            "x_title": _("День"),
            "x": [d["day"].strftime("%d.%m") for d in days],
            "keys": [d["day"].isoformat() for d in days],
            "series": [
                _series("answered", answered, days, "answered"),
                _series("missed", missed, days, "missed"),
            ],
        },
        {
            "id": "per-day-direction",
            "title": _("Звонки по дням и направлениям"),
            "unit": calls,
            "stacked": True,
            "x_title": _("День"),
            "x": [d["day"].strftime("%d.%m") for d in days],
            "keys": [d["day"].isoformat() for d in days],
            "series": [_series(key, label, days, key) for key, label in directions],
        },
        {
            "id": "per-hour",
            "title": _("Звонки по часам суток"),
            "unit": calls,
            "stacked": True,
            "x_title": _("Час"),
            "x": [f"{h['hour']:02d}:00" for h in hours],
            "keys": [str(h["hour"]) for h in hours],
            "series": [
                _series("answered", answered, hours, "answered"),
                _series("missed", missed, hours, "missed"),
            ],
        },
        {
            "id": "departments",
            "title": _("Среднее ожидание и разговор по отделам"),
            "unit": _("секунд"),
            "stacked": False,
            "x_title": _("Отдел"),
            "x": [d["name"] for d in deps],
            "keys": [str(d["department"]) for d in deps],
            "series": [
                _series("avg_wait", _("Ожидание ответа"), deps, "avg_wait"),
                _series("avg_talk", _("Разговор"), deps, "avg_talk"),
            ],
        },
        {
            "id": "callbacks",
            "title": _("Заявки на обратный вызов"),
            "unit": _("заявок"),
            "stacked": False,
            "x_title": _("Итог"),
            "x": [r["label"] for r in data["callbacks"]],
            "keys": [r["status"] for r in data["callbacks"]],
            "series": [_series("count", _("Заявок"), data["callbacks"], "count")],
        },
        {
            "id": "redial",
            "title": _("Автодозвон"),
            "unit": _("заявок"),
            "stacked": False,
            "x_title": _("Итог"),
            "x": [r["label"] for r in data["redial"]],
            "keys": [r["outcome"] for r in data["redial"]],
            "series": [_series("count", _("Заявок"), data["redial"], "count")],
        },
        {
            "id": "fictive",
            "title": _("Звонки через фиктивные номера"),
            "unit": calls,
            "stacked": False,
            "x_title": _("Направление"),
            "x": [r["label"] for r in data["fictive"]],
            "keys": [r["direction"] for r in data["fictive"]],
            "series": [
                _series("total", _("Всего"), data["fictive"], "total"),
                _series("bridged", _("Соединены"), data["fictive"], "bridged"),
            ],
        },
        {
            "id": "top-numbers",
            "title": _("Частые номера"),
            "unit": calls,
            "stacked": False,
            "x_title": _("Номер"),
            "x": [r["number"] for r in top],
            "keys": [r["number"] for r in top],
            "series": [
                _series("total", _("Звонков"), top, "total"),
                _series("answered", answered, top, "answered"),
            ],
        },
    ]


def _table_rows(chart: dict) -> list[dict]:
    return [
        {
            "key": key,
            "label": label,
            "cells": [{"key": s["key"], "value": s["values"][n]} for s in chart["series"]],
        }
        for n, (key, label) in enumerate(zip(chart["keys"], chart["x"], strict=True))
    ]


@customer_page
@require_GET
def statistics(request: HttpRequest) -> HttpResponse:
    customer = request.customer
    form = PeriodForm(request.GET or None, customer=customer)
    valid = form.is_bound and form.is_valid()
    period = form.period() if valid else form.default_period()
    data = selectors.statistics(customer, period)
    chart_list = charts(data)
    for chart in chart_list:
        chart["rows"] = _table_rows(chart)
    callbacks = [(r["status"], r["label"], r["count"]) for r in data["callbacks"]]
    callbacks.append(("total", _("Всего"), sum(r["count"] for r in data["callbacks"])))
    context = {
        "form": form,
        "period": period,
        "presets": form.preset_links(),
        "charts": chart_list,
        "chart_data": [
            {k: c[k] for k in ("id", "unit", "stacked", "x", "series")} for c in chart_list
        ],
        "calls": data["by_direction"],
        "callbacks": callbacks,
        "video": selectors.video_summary(customer, period),
        "rows": selectors.ledger_by_month(customer),
        "categories": selectors.ledger_categories(),
        "balance": customer_balance(customer),
    }
    status = 400 if form.is_bound and not valid else 200
    return render(request, "statistics/page.html", context, status=status)
