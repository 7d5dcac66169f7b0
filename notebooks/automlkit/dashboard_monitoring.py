"""The dashboard's Monitoring tab, rendered from one ``GET /monitoring?since=…&every=day|hour`` answer: pure
functions from that answer (a dict) to HTML and matplotlib PNGs; the widgets are in ``dashboard_app``.

The answer holds the model's versions (oldest first; a version's ``first_scored`` is its switch-over date),
its periods (oldest first: rows, score deciles, per-feature PSI, drifted features, realised metrics) and its
alerts. Every chart shares one time axis, with the switch-overs drawn on it as vertical lines; every text the
answer carries (feature names, versions, messages) is shown as text, never markup.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timedelta, timezone

import matplotlib.dates as mdates
import numpy as np

from .dashboard import METRIC_NAMES, _png, plt
from .drift import PSI_ALERT
from .problems import DECISION_METRIC, METRIC_DIRECTIONS

#: How far back the tab looks: (label, days).
WINDOWS = (("last 24 hours", 1), ("last 7 days", 7), ("last 30 days", 30), ("last 90 days", 90))

#: The periods ``GET /monitoring`` sums over: (label, ``every``).
EVERY = (("per day", "day"), ("per hour", "hour"))

#: Features the PSI chart names in its legend (the drifted ones, then the largest PSI); the rest are grey.
PSI_LEGEND_FEATURES = 10

#: Where every chart's plot area sits in its figure (the same for all: their time axes line up).
PLOT_AREA = {"left": 0.08, "right": 0.70, "bottom": 0.2, "top": 0.88}

#: One colour per version, in the versions' order (cycled).
VERSION_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3")


def since_for(days: int, every: str, now: datetime | None = None) -> datetime:
    """The start of a window of ``days`` ending now, at the start of its first hour or day (UTC)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    start = now - timedelta(days=days)
    start = start.replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=0) if every == "day" else start


def parse_time(text: str) -> datetime:
    """An ISO 8601 time of the answer as a naive UTC datetime (what the charts' axis plots)."""
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def time_text(text: str | None) -> str:
    """``2026-11-01 10:00 UTC`` from an ISO 8601 time (as given when it is not one)."""
    if not text:
        return ""
    try:
        return parse_time(text).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(text)


def decision_metric(problem: str) -> str:
    """The metric realised performance is shown in: the problem's decision metric (binary: AUC)."""
    return DECISION_METRIC.get(problem, DECISION_METRIC["binary"])


def total_rows(answer: dict) -> int:
    """Rows scored over the answer's periods."""
    return int(sum(int(p.get("rows") or 0) for p in answer.get("periods") or []))


def period_count(answer: dict) -> int:
    """How many days (or hours) the periods cover (a period per version: two versions can share one)."""
    return len({p["start"] for p in answer.get("periods") or []})


def drifted_features(answer: dict) -> list[str]:
    """Every feature past the PSI alert in a period or named by a drift alert, in first-seen order."""
    names = [f for p in answer.get("periods") or [] for f in p.get("drifted") or []]
    names += [a["feature"] for a in answer.get("alerts") or [] if a.get("kind") == "drift" and a.get("feature")]
    return list(dict.fromkeys(str(n) for n in names))


def psi_alert(answer: dict) -> float:
    """The PSI threshold the answer used (``drift.PSI_ALERT`` when it does not say)."""
    return float(answer.get("psi_alert") if answer.get("psi_alert") is not None else PSI_ALERT)


def _unit(every: str) -> str:
    return "hour" if every == "hour" else "day"


def _count(number: int, noun: str) -> str:
    """``1 day``, ``3 days``."""
    return f"{number:,} {noun}{'s' if number != 1 else ''}"


# ------------------------------------------------------------------------------------------ text


def alert_text(alert: dict, problem: str = "binary") -> str:
    """One alert as a sentence (its ``message`` when it has one; else built from its fields)."""
    if alert.get("message"):
        return str(alert["message"])
    version = f"v{alert.get('version')}" if alert.get("version") is not None else "the model"
    if alert.get("kind") == "drift":
        return f"{alert.get('feature')} drifts in {version} (PSI {float(alert.get('psi') or 0):.3f})."
    metric = METRIC_NAMES.get(str(alert.get("metric")), str(alert.get("metric") or decision_metric(problem)))
    return (f"Realised {metric} of {version} is {float(alert.get('realised') or 0):.4f} against "
            f"{float(alert.get('holdout') or 0):.4f} on the holdout.")


def alerts_html(answer: dict, problem: str = "binary") -> str:
    """A warning box listing the alerts (drift: the feature; performance: the metric), or nothing."""
    alerts = answer.get("alerts") or []
    if not alerts:
        return ""
    items = []
    for alert in alerts:
        kind = str(alert.get("kind") or "alert")
        subject = alert.get("feature") if kind == "drift" else alert.get("metric")
        title = {"drift": "Drift", "performance": "Performance"}.get(kind, kind.capitalize())
        named = METRIC_NAMES.get(str(subject), str(subject)) if kind == "performance" else str(subject)
        items.append(f"<li class='monitoring-alert' data-kind='{html.escape(kind)}' "
                     f"data-subject='{html.escape(str(subject or ''))}'><b>{html.escape(title)}"
                     f"{': ' + html.escape(named) if subject else ''}</b> "
                     f"{html.escape(alert_text(alert, problem))}</li>")
    noun = "alert" if len(alerts) == 1 else "alerts"
    return (f"<div class='monitoring-alerts' role='alert'><p><b>{len(alerts)} monitoring {noun}:</b> "
            "consider retraining the model on recent data.</p>"
            f"<ul>{''.join(items)}</ul></div>")


def drifted_html(answer: dict) -> str:
    """The features that drifted in the window, named one by one (or a calm line)."""
    names = drifted_features(answer)
    if not names:
        return (f"<p class='monitoring-drifted' data-count='0'>No feature passed the PSI alert "
                f"({psi_alert(answer):g}) in this window.</p>")
    shown = ", ".join(f"<b class='drifted-feature'>{html.escape(n)}</b>" for n in names)
    return (f"<p class='monitoring-drifted' data-count='{len(names)}'>Drifted features (PSI above "
            f"{psi_alert(answer):g}): {shown}</p>")


def recorder_html(recorder: dict | None) -> str:
    """What the API's recorder did: summaries written, waiting, dropped, failed; or that it is off."""
    if not recorder:
        return ""
    if not recorder.get("enabled", True):
        return ("<p class='monitoring-recorder monitoring-off'>The prediction service does not record its "
                "scorings (monitoring is off): nothing new will appear here.</p>")
    counts = {k: int(recorder.get(k) or 0) for k in ("written", "pending", "dropped", "errors")}
    text = (f"Recorder: {counts['written']:,} summaries written, {counts['pending']:,} waiting, "
            f"{counts['dropped']:,} dropped, {counts['errors']:,} failed.")
    trouble = counts["dropped"] or counts["errors"]
    warning = " Some scorings are missing from these charts." if trouble else ""
    return (f"<p class='monitoring-recorder{' monitoring-lossy' if trouble else ''}' "
            + " ".join(f"data-{k}='{v}'" for k, v in counts.items()) + f">{html.escape(text + warning)}</p>")


def summary_html(answer: dict) -> str:
    """Rows scored since when, in how many periods, by which versions."""
    rows, periods = total_rows(answer), period_count(answer)
    unit = _unit(answer.get("every", "day"))
    versions = ", ".join(f"v{html.escape(str(v['version']))}" for v in answer.get("versions") or [])
    by = f", by {versions}" if versions else ""
    return (f"<p class='monitoring-summary' data-rows='{rows}' data-periods='{periods}'>"
            f"<b>{rows:,} rows</b> scored by {html.escape(str(answer.get('model') or 'the model'))} since "
            f"{html.escape(time_text(answer.get('since')))} in {_count(periods, unit)}"
            f"{by}.</p>")


def versions_html(answer: dict, problem: str = "binary") -> str:
    """The versions that scored in the window: first and last scoring, rows, the holdout decision metric."""
    metric = decision_metric(problem)
    rows = "".join(
        f"<tr data-role='{html.escape(str(v.get('role') or 'live'))}'><td>v{html.escape(str(v['version']))}"
        f"{' <small>(serving)</small>' if v.get('serving') else ''}"
        f"{' <small>(challenger, in the shadow)</small>' if v.get('role') == 'shadow' else ''}</td>"
        f"<td>{html.escape(time_text(v.get('first_scored')))}</td><td>{html.escape(time_text(v.get('last_scored')))}"
        f"</td><td>{int(v.get('rows') or 0):,}</td><td>{_metric_cell((v.get('holdout_metrics') or {}).get(metric))}"
        "</td></tr>" for v in answer.get("versions") or [])
    if not rows:
        return ""
    return ("<table class='monitoring-versions'><thead><tr><th>version</th><th>first scored (switch-over)</th>"
            f"<th>last scored</th><th>rows</th><th>holdout {html.escape(METRIC_NAMES[metric])}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _metric_cell(value) -> str:
    return f"{float(value):.4f}" if value is not None else ""


def empty_html(answer: dict) -> str:
    """Nothing was scored in the window: say since when (and what the recorder is doing)."""
    since = time_text(answer.get("since")) or "the start of the window"
    return (f"<p class='monitoring-empty'>Nothing scored since {html.escape(since)}: the charts appear once the "
            "prediction service has scored rows (and recorded them).</p>")


def unavailable_html(error: Exception, status: int | None = None) -> str:
    """Why there is no monitoring: the API predates ``GET /monitoring`` (404), or it is down or failed."""
    if status == 404:
        return ("<div class='api-down monitoring-error' data-reason='missing'><b>This prediction service has no "
                "monitoring.</b> It does not answer <code>GET /monitoring</code> (404): it predates monitoring; "
                "update and restart the API.</div>")
    return (f"<div class='api-down monitoring-error' data-reason='unavailable'><b>The monitoring is unavailable."
            f"</b> {html.escape(str(error))}</div>")


# ------------------------------------------------------------------------------------------ charts


def _periods(answer: dict) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """The periods, their starts and their ends (naive UTC datetimes as matplotlib numbers)."""
    periods = answer.get("periods") or []
    starts = np.array([mdates.date2num(parse_time(p["start"])) for p in periods], dtype=float)
    ends = np.array([mdates.date2num(parse_time(p["end"])) for p in periods], dtype=float)
    return periods, starts, ends


def version_colour(answer: dict, version) -> str:
    """The colour of ``version`` (its place among the answer's versions)."""
    names = [str(v["version"]) for v in answer.get("versions") or []]
    index = names.index(str(version)) if str(version) in names else len(names)
    return VERSION_COLOURS[index % len(VERSION_COLOURS)]


def _switch_overs(ax, answer: dict) -> None:
    """Each version's switch-over (its first scoring) as a vertical line, named at the top of the chart."""
    for version in answer.get("versions") or []:
        if not version.get("first_scored"):
            continue
        x = mdates.date2num(parse_time(version["first_scored"]))
        ax.axvline(x, color=version_colour(answer, version["version"]), linestyle=":", linewidth=1.5)
        ax.annotate(f"v{version['version']}", (x, 1), xycoords=("data", "axes fraction"), xytext=(2, -10),
                    textcoords="offset points", fontsize=8, color=version_colour(answer, version["version"]))


def _time_axis(ax, answer: dict, starts: np.ndarray, ends: np.ndarray) -> None:
    """The shared time axis: from the first period (or switch-over) to the last period's end, in UTC."""
    switches = [mdates.date2num(parse_time(v["first_scored"])) for v in answer.get("versions") or []
                if v.get("first_scored")]
    low = min([*starts, *switches]) if len(starts) or switches else None
    high = max([*ends, *switches]) if len(ends) or switches else None
    if low is not None and high is not None:
        pad = max((high - low) * 0.02, 1 / 48)
        ax.set_xlim(low - pad, high + pad)
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def _figure(title: str, ylabel: str):
    """A chart's figure, its plot area at :data:`PLOT_AREA` (the legend goes to its right)."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    fig.subplots_adjust(**PLOT_AREA)
    ax.set(title=title, ylabel=ylabel)
    return fig, ax


def _chart_png(fig) -> bytes:
    return _png(fig, tight=False)


def _legend(ax, right: float = 1.01) -> None:
    """The legend beside the chart (``right``: where it starts, in axes widths; past a second axis' labels)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(right, 1), fontsize=8, frameon=False)


def rows_png(answer: dict) -> bytes:
    """Bars of the rows scored per period, coloured by the version that scored them."""
    periods, starts, ends = _periods(answer)
    unit = _unit(answer.get("every", "day"))
    fig, ax = _figure(f"Rows scored per {unit}", "rows")
    seen: set[str] = set()
    stacked: dict[float, int] = {}  # a period's bar sits on those of other versions in the same period
    for period, start, end in zip(periods, starts, ends):
        version, rows = str(period.get("version")), int(period.get("rows") or 0)
        ax.bar(start, rows, width=(end - start) * 0.9, align="edge", bottom=stacked.get(start, 0),
               color=version_colour(answer, version), label=None if version in seen else f"v{version}")
        stacked[start] = stacked.get(start, 0) + rows
        seen.add(version)
    _switch_overs(ax, answer)
    _time_axis(ax, answer, starts, ends)
    _legend(ax)
    return _chart_png(fig)


def _middles(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    return (starts + ends) / 2


def psi_png(answer: dict) -> bytes:
    """PSI per feature per period, one line each; drifted features drawn bold and named "(drifted)" in the
    legend; the PSI alert as a dashed line."""
    periods, starts, ends = _periods(answer)
    x = _middles(starts, ends)
    unit = _unit(answer.get("every", "day"))
    fig, ax = _figure(f"Population stability index per feature per {unit}", "PSI against training")
    drifted = set(drifted_features(answer))
    features = list(dict.fromkeys(f for p in periods for f in (p.get("psi") or {})))
    values = {f: np.array([(p.get("psi") or {}).get(f, np.nan) for p in periods], dtype=float) for f in features}
    largest = {f: float(np.nanmax(v)) if np.isfinite(v).any() else 0.0 for f, v in values.items()}
    features.sort(key=lambda f: (f not in drifted, -largest[f], f))  # drifted first, then the largest PSI
    named = set(features[:max(PSI_LEGEND_FEATURES, len(drifted & set(features)))])
    for feature in features:
        bold = feature in drifted
        style = {} if feature in named else {"color": "#bbbbbb"}
        label = f"{feature} (drifted)" if bold else feature if feature in named else "_nolegend_"
        ax.plot(x, values[feature], marker="o", markersize=5 if bold else 3, linewidth=2.5 if bold else 1,
                alpha=1 if bold else 0.6, label=label, zorder=3 if bold else 2, **style)
    if len(features) > len(named):
        ax.plot([], [], color="#bbbbbb", marker="o", markersize=3, label=f"{len(features) - len(named)} other features")
    ax.axhline(psi_alert(answer), color="#c44e52", linestyle="--", label=f"alert: PSI {psi_alert(answer):g}")
    ax.set_ylim(bottom=0)
    _switch_overs(ax, answer)
    _time_axis(ax, answer, starts, ends)
    _legend(ax)
    return _chart_png(fig)


def scores_png(answer: dict, problem: str = "binary") -> bytes:
    """The score distribution per period: a box from the 10th to the 90th percentile, the 20th–80th inside
    it, and the median (a line through the periods); for a binary model the share at or above the threshold
    on a second axis."""
    periods, starts, ends = _periods(answer)
    x = _middles(starts, ends)
    deciles = np.array([(p.get("score_deciles") or [np.nan] * 9)[:9] for p in periods], dtype=float).reshape(-1, 9)
    unit = _unit(answer.get("every", "day"))
    what = {"binary": "probability", "multiclass": "probability of the predicted class"}.get(problem, "prediction")
    fig, ax = _figure(f"Scores per {unit}", what)
    widths = (ends - starts) * 0.9  # a box per period: it shows with a single period too
    ax.bar(starts, deciles[:, 8] - deciles[:, 0], bottom=deciles[:, 0], width=widths, align="edge",
           color="#4c72b0", alpha=0.2, label="p10–p90")
    ax.bar(starts, deciles[:, 7] - deciles[:, 1], bottom=deciles[:, 1], width=widths, align="edge",
           color="#4c72b0", alpha=0.3, label="p20–p80")
    ax.plot(x, deciles[:, 4], color="#4c72b0", marker="o", markersize=4, label="median")
    shares = np.array([p.get("share_above_threshold") if p.get("share_above_threshold") is not None else np.nan
                       for p in periods], dtype=float)
    twin = problem == "binary" and bool(np.isfinite(shares).any())
    if twin:
        share_ax = ax.twinx()
        share_ax.plot(x, shares, color="#c44e52", linestyle="-.", marker="s", markersize=3)
        share_ax.set_ylabel("share above threshold", color="#c44e52")
        share_ax.set_ylim(0, max(1e-3, float(np.nanmax(shares))) * 1.15)
        ax.plot([], [], color="#c44e52", linestyle="-.", label="above threshold (right)")
    _switch_overs(ax, answer)
    _time_axis(ax, answer, starts, ends)
    _legend(ax, 1.14 if twin else 1.01)
    return _chart_png(fig)


def realised_points(answer: dict, metric: str) -> list[tuple[dict, float]]:
    """The periods with a realised ``metric`` and its value."""
    return [(p, float(p["realised"][metric])) for p in answer.get("periods") or []
            if isinstance(p.get("realised"), dict) and p["realised"].get(metric) is not None]


def margin_of(answer: dict, metric: str) -> float | None:
    """How far the realised ``metric`` may fall behind the holdout before an alert (``auc_margin`` for AUC,
    ``<metric>_margin`` for any other the answer names; None when it names none)."""
    value = answer.get(f"{metric}_margin")
    return float(value) if value is not None else None


def realised_png(answer: dict, problem: str = "binary") -> bytes:
    """The realised decision metric per period (line, one colour per version) against each version's holdout
    figure (a horizontal line over the time it served) and the alert margin (dashed)."""
    metric = decision_metric(problem)
    name = METRIC_NAMES[metric]
    periods, starts, ends = _periods(answer)
    unit = _unit(answer.get("every", "day"))
    fig, ax = _figure(f"Realised {name} per {unit} against the holdout", name)
    points = realised_points(answer, metric)
    times = {id(p): (s + e) / 2 for p, s, e in zip(periods, starts, ends)}
    if points:
        ax.plot([times[id(p)] for p, _ in points], [v for _, v in points], color="black", marker="o",
                label=f"realised {name}")
    higher_better = METRIC_DIRECTIONS.get(problem, {}).get(metric, True)
    margin = margin_of(answer, metric)
    versions = answer.get("versions") or []
    last = max(ends) if len(ends) else None
    for i, version in enumerate(versions):
        holdout = (version.get("holdout_metrics") or {}).get(metric)
        if holdout is None or not version.get("first_scored"):
            continue
        start = mdates.date2num(parse_time(version["first_scored"]))
        following = [mdates.date2num(parse_time(v["first_scored"])) for v in versions[i + 1:] if v.get("first_scored")]
        stop = following[0] if following else max(last or start, start + 1 / 24)
        colour = version_colour(answer, version["version"])
        ax.hlines(float(holdout), start, stop, colors=colour, linewidth=2,
                  label=f"v{version['version']} holdout {float(holdout):.4f}")
        if margin is not None:
            bound = float(holdout) - margin if higher_better else float(holdout) + margin
            ax.hlines(bound, start, stop, colors=colour, linestyles="--", linewidth=1,
                      label=f"v{version['version']} alert {'below' if higher_better else 'above'} {bound:.4f}")
    if not points:
        ax.text(0.5, 0.5, "no labelled rows yet", transform=ax.transAxes, ha="center", va="center", color="grey")
    _switch_overs(ax, answer)
    _time_axis(ax, answer, starts, ends)
    _legend(ax)
    return _chart_png(fig)


# ------------------------------------------------------------------------------------------ the tab


def chart_alts(answer: dict, problem: str = "binary") -> dict[str, str]:
    """What each chart shows, in words (its ``alt`` text and caption), by chart name."""
    unit = _unit(answer.get("every", "day"))
    switched = [v for v in answer.get("versions") or [] if v.get("first_scored")]
    switches = ("; switch-overs: " + ", ".join(f"v{v['version']} on {time_text(v['first_scored'])}" for v in switched)
                if switched else "")
    drifted = drifted_features(answer)
    metric = decision_metric(problem)
    name = METRIC_NAMES[metric]
    points = realised_points(answer, metric)
    holdouts = ", ".join(f"v{v['version']} {float(v['holdout_metrics'][metric]):.4f}" for v in answer.get("versions")
                         or [] if (v.get("holdout_metrics") or {}).get(metric) is not None)
    realised = (f"latest realised {name} {points[-1][1]:.4f} on {int(points[-1][0]['realised'].get('rows') or 0):,} "
                "labelled rows" if points else f"no realised {name} yet (no scored rows carried the target)")
    return {
        "rows": (f"Rows scored per {unit}: {total_rows(answer):,} rows in {_count(period_count(answer), unit)}"
                 f"{switches}"),
        "psi": (f"PSI per feature per {unit}, alert at {psi_alert(answer):g}; drifted: "
                f"{', '.join(drifted) if drifted else 'none'}"),
        "scores": (f"Score distribution per {unit}: a box from the 10th to 90th percentile (the 20th to 80th "
                   "inside it) and the median"),
        "realised": f"Realised {name} per {unit} against the holdout {name} ({holdouts or 'unknown'}); {realised}",
    }


def _figure_html(chart: str, png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode()
    return (f"<figure class='monitoring-chart' data-chart='{chart}'><img alt='{html.escape(alt)}' "
            f"src='data:image/png;base64,{encoded}'><figcaption>{html.escape(alt)}</figcaption></figure>")


def _percent(value) -> str:
    return f"{100 * float(value):.1f}%" if value is not None else ""


def shadow_html(answer: dict, problem: str = "binary") -> str:
    """Champion and challenger side by side, per period, on the rows both scored (``comparisons`` of the
    answer): rows, labels agreeing, decisions the challenger would change, Spearman of the scores, and each
    model's realised decision metric; with what shadow scoring did (share, rows scored and skipped)."""
    state = answer.get("shadow") or {}
    comparisons = answer.get("comparisons") or []
    if not comparisons and not state.get("challenger_version"):
        return ""
    metric = decision_metric(problem)
    name = html.escape(METRIC_NAMES[metric])
    lines = []
    for c in comparisons:
        realised = c.get("realised") or {}
        ours, theirs = (realised.get("champion") or {}).get(metric), (realised.get("challenger") or {}).get(metric)
        lines.append(
            f"<tr class='shadow-period' data-champion='{html.escape(str(c['champion_version']))}' "
            f"data-challenger='{html.escape(str(c['challenger_version']))}'>"
            f"<td>{html.escape(time_text(c.get('start')))}</td><td>v{html.escape(str(c['champion_version']))}</td>"
            f"<td>v{html.escape(str(c['challenger_version']))}</td><td>{int(c.get('rows') or 0):,}</td>"
            f"<td>{_percent(c.get('agreement'))}</td><td>{_percent(c.get('decisions_changed'))}</td>"
            f"<td>{_metric_cell(c.get('spearman'))}</td><td>{int(realised.get('rows') or 0):,}</td>"
            f"<td class='champion-metric'>{_metric_cell(ours)}</td>"
            f"<td class='challenger-metric'>{_metric_cell(theirs)}</td></tr>")
    status = ""
    if state:
        scored, skipped = int(state.get("scored_rows") or 0), int(state.get("skipped_rows") or 0)
        challenger = state.get("challenger_version")
        status = (f"<p class='shadow-state' data-scored='{scored}' data-skipped='{skipped}'>"
                  + (f"Challenger v{html.escape(str(challenger))} scores {_percent(state.get('share'))} of the rows "
                     f"in the champion's shadow (its answers are never served): {scored:,} rows scored, {skipped:,} "
                     "skipped (queue full) since the service started." if challenger and state.get("enabled")
                     else "No challenger is scoring in the shadow now.") + "</p>")
    table = ("<table class='shadow-comparison'><thead><tr><th>period</th><th>champion</th><th>challenger</th>"
             "<th>rows</th><th>labels agree</th><th>decisions changed</th><th>Spearman</th><th>labelled rows</th>"
             f"<th>champion {name}</th><th>challenger {name}</th></tr></thead><tbody>{''.join(lines)}</tbody></table>"
             if lines else "<p class='shadow-empty'>No comparison recorded in this window yet.</p>")
    return (f"<div class='monitoring-shadow'><h4>Champion and challenger, on the same rows</h4>{status}{table}"
            "</div>")


def monitoring_html(answer: dict, problem: str = "binary") -> str:
    """The whole tab from one answer: alerts first, the summary, the drifted features, the versions, champion
    and challenger side by side (:func:`shadow_html`), then the four charts on one time axis (rows, PSI, scores,
    realised metric) of the served answers; or the empty state."""
    head = alerts_html(answer, problem) + recorder_html(answer.get("recorder"))
    side_by_side = shadow_html(answer, problem)
    versions = versions_html(answer, problem)
    answer = {**answer, "periods": [p for p in answer.get("periods") or [] if p.get("role", "live") == "live"],
              "versions": [v for v in answer.get("versions") or [] if v.get("role", "live") == "live"]}
    if not answer.get("periods"):
        return f"<div class='monitoring' data-state='empty'>{head}{empty_html(answer)}{side_by_side}</div>"
    alts = chart_alts(answer, problem)
    charts = {"rows": rows_png(answer), "psi": psi_png(answer), "scores": scores_png(answer, problem),
              "realised": realised_png(answer, problem)}
    figures = "".join(_figure_html(name, png, alts[name]) for name, png in charts.items())
    return (f"<div class='monitoring' data-state='charts'>{head}{summary_html(answer)}{drifted_html(answer)}"
            f"{versions}{side_by_side}<div class='monitoring-charts'>{figures}</div></div>")
