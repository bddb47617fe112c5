"""Rendering a merge report for people (jinja2 text) or programs (JSON)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson


@lru_cache(maxsize=1)
def template_environment() -> Any:
    """The jinja2 environment for every human-facing document (templates/*.j2)."""
    import jinja2  # lazy: an import `mem-sync --help` need not pay for (bench/startup_bench.py)

    from memsync.safety.inert import log_text, markdown_code, markdown_text

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("memsync", "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    # input shown as text only: `log` on a console or CI log line, `md` in Markdown
    env.filters["log"] = log_text
    env.filters["md"] = markdown_text
    env.filters["code"] = markdown_code  # a name or path: `in a code span` when plain
    return env


def render_template(name: str, **context: Any) -> str:
    return template_environment().get_template(name).render(**context)


def render_report(report: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"
    return render_template("merge_report.txt.j2", r=report)
