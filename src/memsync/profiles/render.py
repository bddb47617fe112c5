"""Markdown for people: ``profile.md`` and the team ``README.md``, rendered from templates.

The pages show mermaid diagrams (rendered by GitHub and GitLab) and, right under each, the same
numbers as a plain table, so a viewer without mermaid loses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

# Top-N cut-offs keep a page readable; the JSON beside it has every row.
TOP_CONCEPTS = 20
TOP_GAPS = 15
TOP_DIRECTORIES = 15
CHART_MONTHS = 24

_MERMAID_UNSAFE = re.compile(r"[\"`;:#<>{}\[\]\n\r\t]")


def md_cell(value: Any) -> str:
    """Text that cannot break a markdown table row or turn into markup, HTML, a link or a mention."""
    from memsync.safety.inert import markdown_text

    return markdown_text(value)


def mermaid_label(value: Any) -> str:
    """A label safe inside mermaid's double quotes (quotes, colons and brackets dropped)."""
    text = _MERMAID_UNSAFE.sub(" ", str(value))
    return " ".join(text.split())[:60] or "-"


def number(value: Any) -> str:
    """Floats as written in the JSON, without a trailing ``.0``: 40.0 -> 40, 33.3 -> 33.3."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def percent_of_rate(value: float) -> str:
    return number(round(value * 100, 1))


def month_series(monthly: Sequence[Mapping[str, Any]], limit: int = CHART_MONTHS) -> list[dict[str, Any]]:
    """The last ``limit`` calendar months up to the last active one, empty months as zero
    (the JSON lists active months only; a chart without the gaps would mislead)."""
    counts = {row["month"]: row["count"] for row in monthly}
    if not counts:
        return []
    first_year, first_month = (int(part) for part in min(counts).split("-"))
    year, month = (int(part) for part in max(counts).split("-"))
    series: list[dict[str, Any]] = []
    while len(series) < limit and (year, month) >= (first_year, first_month):
        label = f"{year:04d}-{month:02d}"
        series.append({"month": label, "count": counts.get(label, 0)})
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    series.reverse()
    return series


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    class DictsFirst(jinja2.Environment):
        """``row.count`` looks the key up first: the templates read plain dicts, and jinja2's
        default (the attribute first, a raised AttributeError, then the key) dominated a page's
        rendering time."""

        def getattr(self, obj: Any, attribute: str) -> Any:
            if type(obj) is dict and attribute in obj:
                return obj[attribute]
            return super().getattr(obj, attribute)

    env = DictsFirst(
        loader=jinja2.PackageLoader("memsync", "templates"),
        autoescape=False,  # markdown, not HTML: md_cell escapes what matters there
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = md_cell
    env.filters["label"] = mermaid_label
    env.filters["num"] = number
    env.filters["pct_of_rate"] = percent_of_rate
    return env


def render_profile(profile: Mapping[str, Any]) -> str:
    spectrum = profile["knowledgeSpectrum"]
    concepts = profile["conceptMap"]["concepts"]
    months = month_series(profile["temporalPattern"]["monthly"])
    return _environment().get_template("profile.md.j2").render(
        profile=profile,
        spectrum_rows=[row for row in spectrum["types"] if row["count"] or row["teamAverage"]],
        pie_rows=[row for row in spectrum["types"] if row["count"]],
        top_concepts=[row for row in concepts if row["devCount"]][:TOP_CONCEPTS],
        gaps=[row for row in concepts if row["isGap"]][:TOP_GAPS],
        gap_total=sum(1 for row in concepts if row["isGap"]),
        directories=profile["fileCoverage"]["directories"][:TOP_DIRECTORIES],
        months=months,
        month_max=max((row["count"] for row in months), default=0),
    )


def render_team_readme(
    overview: Mapping[str, Any],
    concepts: Mapping[str, Any],
    *,
    devs: Sequence[str],
    anonymize: bool,
    formats: Sequence[str],
) -> str:
    months = month_series(overview["monthly"])
    distribution = overview["typeDistribution"]
    return _environment().get_template("team_readme.md.j2").render(
        overview=overview,
        concepts=concepts,
        type_rows=[row for row in distribution if row["count"]],
        top_concepts=concepts["concepts"][:TOP_CONCEPTS],
        gaps=concepts["knowledgeGaps"][:TOP_GAPS],
        months=months,
        month_max=max((row["count"] for row in months), default=0),
        devs=list(devs),
        anonymize=anonymize,
        profile_file="profile.md" if "md" in formats else "profile.json",
    )
