"""The CX report: the served marts drawn as plotly charts in one self-contained HTML page.

Plain functions, no Dagster (`orchestration/report_assets.py` runs them each night). Every number
is a mart's own value: the report selects and draws, it never recomputes a metric (one metric, one
definition: docs/metrics.md). plotly.js is inlined, so the page opens from disk with no server and
no network. The same marts give the same bytes: the page carries the data's as-of date, never the
time it was written, and every chart has a fixed div id.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

SURVEY_TYPES = ("NPS", "CSAT", "CES")
SCORE_AXIS_TITLES = {"NPS": "NPS (-100 to 100)", "CSAT": "CSAT (% satisfied)", "CES": "CES (% agree)"}
CHURN_SEGMENT_TYPES = {"plan": "plan", "region": "region", "acquisition_channel": "acquisition channel"}
PRIORITIES = ("all", "urgent", "high", "normal", "low")
LOOP_STATUSES = ("overdue", "open", "contacted")
LOOP_COLOURS = {"overdue": "#d62728", "open": "#ff7f0e", "contacted": "#2ca02c"}
TOP_TOUCHPOINTS = 10
# One colour per line in both panels of a chart (plotly would give each trace the next colour).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
OVERALL_LINE = {"dash": "dash", "color": "black"}

# The rows each chart draws, straight from the marts.
QUERIES = {
    # Per month over every touchpoint, channel and segment.
    "scores": """
        select survey_type, month_start, responses, score, nps_margin_of_error
        from marts.mart_cx_scores
        where totals_over = 'touchpoint,channel,customer_segment'
        order by survey_type, month_start
    """,
    # A partial as-of month would show as a sudden drop in retention.
    "churn": """
        select month_start, segment_type, segment, customers_at_start, lost_customers,
            churn_rate_pct, retention_rate_pct
        from marts.mart_churn_monthly
        where not is_partial_month
        order by segment_type, segment, month_start
    """,
    "cohorts": """
        select cohort_month, months_since_start, cohort_customers, active_customers, retention_pct
        from marts.mart_cohort_retention
        order by cohort_month, months_since_start
    """,
    "clv": """
        select customer_id, historical_clv, predicted_clv_12m
        from marts.mart_customer_clv
        order by customer_id
    """,
    "sla": """
        select period_start, priority, first_reply_sla_achieved, first_reply_sla_breached,
            first_reply_sla_attainment_pct, resolution_sla_achieved, resolution_sla_breached,
            resolution_sla_attainment_pct
        from marts.mart_support_performance
        where period_type = 'month' and channel = 'all' and customer_segment = 'all'
        order by priority, period_start
    """,
    "touchpoints": f"""
        select touchpoint, customers_after_negative, churned_after_negative, churn_rate_after_negative_pct,
            customers_after_positive, churned_after_positive, churn_rate_after_positive_pct
        from marts.mart_touchpoint_impact
        where customers_after_negative > 0
        order by churn_rate_after_negative_pct desc, touchpoint
        limit {TOP_TOUCHPOINTS}
    """,
    # Counted, not measured: how many follow-ups each team has in each status.
    "loop": """
        select owning_team, status, count(*) as responses
        from marts.mart_close_the_loop
        group by owning_team, status
        order by owning_team, status
    """,
    # The served marts' as-of date; without follow-ups, the day before the as-of moment (midnight
    # after the as-of date, int_as_of_dates_derived) the current snapshots were taken at.
    "as_of": """
        select coalesce(
            (select max(as_of_date) from marts.mart_close_the_loop),
            (select max(snapshot_at - interval 1 day)::date from marts.fct_customer_snapshots where is_current)
        ) as as_of_date
    """,
}


@dataclass(frozen=True)
class Chart:
    """One chart of the page: its fixed div id, its heading, a sentence on how to read it, the figure."""

    div_id: str
    heading: str
    note: str
    figure: go.Figure


def read_marts(serving_db: Path) -> dict[str, pd.DataFrame]:
    """The rows every chart draws, read from the serving database (read-only: BI may be reading too)."""
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        return {name: con.execute(sql).df() for name, sql in QUERIES.items()}
    finally:
        con.close()


def as_of_date(marts: dict[str, pd.DataFrame]) -> date | None:
    value = marts["as_of"]["as_of_date"].iloc[0]
    return None if pd.isna(value) else pd.Timestamp(value).date()


def _values(series: pd.Series) -> list:
    """Plain JSON values (null for missing): the page shows readable numbers, not base64 arrays."""
    return [None if pd.isna(v) else v for v in series.astype(object).tolist()]


def _rows(frame: pd.DataFrame, *columns: str) -> list[list]:
    """Columns side by side per row (a trace's customdata), as plain JSON values."""
    return [list(values) for values in zip(*(_values(frame[c]) for c in columns), strict=True)]


def _months(series: pd.Series) -> list[str]:
    return [pd.Timestamp(v).strftime("%Y-%m") for v in series]


def _finish(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        margin={"l": 70, "r": 30, "t": 70, "b": 60},
        hovermode="closest",
    )
    return fig


def _add_line_pair(
    fig: go.Figure,
    *,
    name: str,
    group: str,
    x: list[str],
    panels: list[tuple[list, list[list]]],
    line: dict,
    hover: str,
) -> None:
    """One line in each of a two-panel figure's panels (left, right): its values and hover data per panel,
    one legend entry for both."""
    for col, (y, customdata) in enumerate(panels, start=1):
        fig.add_trace(
            go.Scatter(
                name=name,
                legendgroup=group,
                showlegend=col == 1,
                x=x,
                y=y,
                customdata=customdata,
                mode="lines+markers",
                line=line,
                hovertemplate=hover,
            ),
            row=1,
            col=col,
        )


def _no_data(fig: go.Figure) -> go.Figure:
    fig.add_annotation(text="No data yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def score_trend(scores: pd.DataFrame, survey_type: str) -> Chart:
    rows = scores[scores["survey_type"] == survey_type]
    months = _months(rows["month_start"])
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            name="responses",
            x=months,
            y=_values(rows["responses"]),
            text=_values(rows["responses"]),
            textposition="inside",
            marker_color="rgba(120, 120, 120, 0.35)",
            hovertemplate="%{x}: %{y} responses<extra></extra>",
        ),
        secondary_y=True,
    )
    score = go.Scatter(
        name=survey_type,
        x=months,
        y=_values(rows["score"]),
        mode="lines+markers+text",
        text=_values(rows["score"]),
        textposition="top center",
        line={"width": 3},
        hovertemplate=f"%{{x}}: {survey_type} %{{y}}<extra></extra>",
    )
    if survey_type == "NPS":
        score.error_y = {"type": "data", "array": _values(rows["nps_margin_of_error"]), "visible": True}
    fig.add_trace(score, secondary_y=False)
    fig.update_xaxes(title_text="Month responded", type="category")
    fig.update_yaxes(title_text=SCORE_AXIS_TITLES[survey_type], secondary_y=False)
    # The bars keep to the lower third, under the score line and its labels.
    most = max(_values(rows["responses"]), default=None) or 1
    fig.update_yaxes(title_text="Responses", secondary_y=True, showgrid=False, range=[0, most * 3])
    if rows.empty:
        _no_data(fig)
    note = (
        "Score per month over every touchpoint, channel and segment (mart_cx_scores); grey bars and their "
        "labels are the responses behind each score."
    )
    if survey_type == "NPS":
        note += " Error bars: the 95% margin of error."
    return Chart(
        f"{survey_type.lower()}-trend",
        f"{survey_type} by month",
        note,
        _finish(fig, f"{survey_type} by month, with its responses"),
    )


def churn_by_segment(churn: pd.DataFrame, segment_type: str) -> Chart:
    label = CHURN_SEGMENT_TYPES[segment_type]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Churn rate", "Retention rate"))
    overall = churn[churn["segment_type"] == "all"].assign(segment="all customers")
    rows = churn[churn["segment_type"] == segment_type]
    lines = [(OVERALL_LINE, "all customers", overall)]
    lines += [
        ({"color": PALETTE[i % len(PALETTE)]}, *group) for i, group in enumerate(rows.groupby("segment"))
    ]
    for line, segment, group in lines:
        _add_line_pair(
            fig,
            name=segment,
            group=segment,
            x=_months(group["month_start"]),
            panels=[
                (_values(group[measure]), _rows(group, "lost_customers", "customers_at_start"))
                for measure in ("churn_rate_pct", "retention_rate_pct")
            ],
            line=line,
            hover=f"{segment} %{{x}}: %{{y}}%<br>%{{customdata[0]}} lost of "
            "%{customdata[1]} at start<extra></extra>",
        )
    fig.update_xaxes(title_text="Month", type="category")
    fig.update_yaxes(title_text="% of customers at the month's start")
    if rows.empty:
        _no_data(fig)
    return Chart(
        f"churn-by-{segment_type.replace('_', '-')}",
        f"Churn and retention by {label}",
        f"Monthly churn and retention rate per {label} (mart_churn_monthly; dashed: all customers; the "
        "as-of month is left out while partial). Hover for customers lost and at the month's start.",
        _finish(fig, f"Monthly churn and retention rate by {label}"),
    )


def cohort_heatmap(cohorts: pd.DataFrame) -> Chart:
    cohort_months = sorted(cohorts["cohort_month"].unique())
    offsets = sorted(int(m) for m in cohorts["months_since_start"].unique())
    cells = cohorts.set_index(["cohort_month", "months_since_start"])
    z, text = [], []
    for cohort in cohort_months:
        z_row, text_row = [], []
        for offset in offsets:
            if (cohort, offset) in cells.index:
                cell = cells.loc[(cohort, offset)]
                z_row.append(float(cell["retention_pct"]))
                text_row.append(
                    f"{cell['retention_pct']}%: {cell['active_customers']} of {cell['cohort_customers']} active"
                )
            else:
                z_row.append(None)
                text_row.append("")
        z.append(z_row)
        text.append(text_row)
    fig = go.Figure(
        go.Heatmap(
            x=offsets,
            y=[pd.Timestamp(c).strftime("%Y-%m") for c in cohort_months],
            z=z,
            text=text,
            texttemplate="%{z:.0f}",
            hovertemplate="cohort %{y}, month %{x}: %{text}<extra></extra>",
            colorscale="Blues",
            zmin=0,
            zmax=100,
            colorbar={"title": {"text": "% active"}},
        )
    )
    fig.update_xaxes(title_text="Months since the cohort's first month", dtick=1)
    fig.update_yaxes(title_text="Cohort (month of first activity)", autorange="reversed", type="category")
    if cohorts.empty:
        _no_data(fig)
    return Chart(
        "cohort-retention",
        "Cohort retention",
        "Share of each first-activity-month cohort active at any time in each later month "
        "(mart_cohort_retention). Hover for the customers behind each cell.",
        _finish(fig, "Cohort retention (% of the cohort active)", height=560),
    )


def clv_distribution(clv: pd.DataFrame) -> Chart:
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Historical CLV (revenue to date)", "Predicted CLV, next 12 months")
    )
    for col, measure, name in ((1, "historical_clv", "historical"), (2, "predicted_clv_12m", "predicted")):
        values = clv[measure].dropna()
        fig.add_trace(
            go.Histogram(
                name=f"{name} ({len(values):,} customers)",
                x=_values(values),
                nbinsx=40,
                hovertemplate="CLV %{x}: %{y} customers<extra></extra>",
            ),
            row=1,
            col=col,
        )
        if values.empty:
            fig.add_annotation(
                text="none in mart_customer_clv<br>(did the model converge? mart_clv_model)",
                showarrow=False,
                x=0.5,
                y=0.5,
                xref="x domain",
                yref="y domain",
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="CLV (currency units)")
    fig.update_yaxes(title_text="Customers")
    return Chart(
        "clv-distribution",
        "Customer lifetime value",
        "How many customers have each CLV (mart_customer_clv): revenue to date, and BG/NBD x Gamma-Gamma "
        "predicted over the next 12 months, discounted.",
        _finish(fig, "CLV distribution"),
    )


def sla_attainment(sla: pd.DataFrame) -> Chart:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("First reply within SLA", "Resolution within SLA"))
    for i, priority in enumerate(PRIORITIES):
        rows = sla[sla["priority"] == priority]
        if rows.empty:
            continue
        _add_line_pair(
            fig,
            name=f"{priority} priorities" if priority == "all" else priority,
            group=priority,
            x=_months(rows["period_start"]),
            panels=[
                (
                    _values(rows[f"{measure}_sla_attainment_pct"]),
                    _rows(rows, f"{measure}_sla_achieved", f"{measure}_sla_breached"),
                )
                for measure in ("first_reply", "resolution")
            ],
            line=OVERALL_LINE if priority == "all" else {"color": PALETTE[i]},
            hover=f"{priority} %{{x}}: %{{y}}%<br>%{{customdata[0]}} within target, "
            "%{customdata[1]} late<extra></extra>",
        )
    fig.update_xaxes(title_text="Month", type="category")
    fig.update_yaxes(title_text="% within target")
    if sla.empty:
        _no_data(fig)
    return Chart(
        "sla-attainment",
        "Support SLA attainment",
        "Share of first replies and resolutions within their priority's target, per month and priority "
        "(mart_support_performance; dashed: every priority). Hover for the tickets within target and late.",
        _finish(fig, "Support SLA attainment by priority"),
    )


def touchpoints_before_churn(touchpoints: pd.DataFrame) -> Chart:
    # Highest churn at the top of a horizontal bar chart.
    rows = touchpoints.iloc[::-1]
    fig = go.Figure()
    for outcome, colour in (("negative", "#d62728"), ("positive", "#2ca02c")):
        fig.add_trace(
            go.Bar(
                name=f"after a {outcome} experience",
                orientation="h",
                y=_values(rows["touchpoint"]),
                x=_values(rows[f"churn_rate_after_{outcome}_pct"]),
                text=[
                    f"{rate}% ({churned} of {customers})"
                    for rate, churned, customers in zip(
                        rows[f"churn_rate_after_{outcome}_pct"],
                        rows[f"churned_after_{outcome}"],
                        rows[f"customers_after_{outcome}"],
                        strict=True,
                    )
                ],
                textposition="outside",
                marker_color=colour,
                hovertemplate="%{y}: %{text}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    rates = [*_values(rows["churn_rate_after_negative_pct"]), *_values(rows["churn_rate_after_positive_pct"])]
    # Room on the right for the labels of the longest bar.
    most = max((r for r in rates if r is not None), default=None) or 1
    fig.update_xaxes(title_text="% of customers churned within 90 days after", range=[0, most * 1.3])
    fig.update_yaxes(title_text="Touchpoint", automargin=True)
    if touchpoints.empty:
        _no_data(fig)
    return Chart(
        "touchpoints-before-churn",
        "Touchpoints that most precede churn",
        f"The {TOP_TOUCHPOINTS} touchpoints with the highest churn within 90 days after a customer's first "
        "negative experience there, next to the churn after a positive one (mart_touchpoint_impact); "
        "labels: churned of customers.",
        _finish(fig, "Churn within 90 days after a negative vs a positive experience", height=560),
    )


def close_the_loop_backlog(loop: pd.DataFrame) -> Chart:
    teams = sorted(loop["owning_team"].unique())
    counts = loop.set_index(["owning_team", "status"])["responses"]
    fig = go.Figure()
    for status in LOOP_STATUSES:
        values = [int(counts.get((team, status), 0)) for team in teams]
        fig.add_trace(
            go.Bar(
                name=f"{status} ({sum(values):,})",
                x=teams,
                y=values,
                text=values,
                textposition="inside",
                marker_color=LOOP_COLOURS[status],
                hovertemplate=f"%{{x}}: %{{y}} {status}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="Owning team")
    fig.update_yaxes(title_text="Responses to follow up")
    if loop.empty:
        _no_data(fig)
    return Chart(
        "close-the-loop",
        "Close-the-loop backlog",
        "Detractors, passives and low CSAT/CES responses per owning team and status at the as-of date "
        "(mart_close_the_loop): overdue is past the team's SLA without contact, open is still within it.",
        _finish(fig, "Close-the-loop follow-ups by team and status"),
    )


def build_charts(marts: dict[str, pd.DataFrame]) -> list[Chart]:
    return [
        *(score_trend(marts["scores"], survey_type) for survey_type in SURVEY_TYPES),
        *(churn_by_segment(marts["churn"], segment_type) for segment_type in CHURN_SEGMENT_TYPES),
        cohort_heatmap(marts["cohorts"]),
        clv_distribution(marts["clv"]),
        sla_attainment(marts["sla"]),
        touchpoints_before_churn(marts["touchpoints"]),
        close_the_loop_backlog(marts["loop"]),
    ]


STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1360px; padding: 0 20px; color: #222; }
header { border-bottom: 1px solid #ddd; margin-bottom: 12px; }
nav a { margin-right: 14px; }
section { margin: 28px 0; }
section p { color: #555; margin: 4px 0 8px; }
"""


def render_html(charts: list[Chart], as_of: date | None) -> str:
    """One HTML page holding plotly.js and every chart: it opens from disk, offline."""
    data_date = f"data as of {as_of.isoformat()}" if as_of else "no data yet"
    sections = []
    for chart in charts:
        div = chart.figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=chart.div_id,
            config={"displaylogo": False, "responsive": True},
        )
        sections.append(
            f'<section id="section-{chart.div_id}">\n<h2>{html.escape(chart.heading)}</h2>\n'
            f"<p>{html.escape(chart.note)}</p>\n{div}\n</section>"
        )
    nav = " ".join(f'<a href="#section-{c.div_id}">{html.escape(c.heading)}</a>' for c in charts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>CX report, {data_date}</title>\n<style>{STYLE}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n<body>\n<header>\n'
        f"<h1>Customer experience report</h1>\n<p>{data_date.capitalize()}. Every number is read from the "
        "marts of the serving database as they are; definitions: docs/metrics.md and the dbt docs site "
        '(<a href="../docs/index.html">../docs/index.html</a>).</p>\n'
        f"<nav>{nav}</nav>\n</header>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def write_atomically(path: Path, content: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.tmp")
    with staged.open("w", encoding="utf-8") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(staged, path)


def write_report(serving_db: Path, output: Path) -> list[Chart]:
    """Read the marts, draw them, write the page; the charts drawn."""
    marts = read_marts(serving_db)
    charts = build_charts(marts)
    write_atomically(output, render_html(charts, as_of_date(marts)))
    return charts
