"""The README quotes no figure by hand: every run-time figure in it is one of a generated report,
and its paths are today's (issue 17, item 10)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FLAT = " ".join(README.split())  # line breaks folded
PIPELINE = json.loads((ROOT / "reports" / "pipeline.json").read_text())

# "585 s", "9.8 min", "267.4 d", "about 12 minutes", "28 s", "650 clips/s", "60-140x" ...
FIGURE = re.compile(r"(?<![\w.-])(\d[\d,]*(?:\.\d+)?)\s?(s|ms|min|minutes|h|hours|d|days|"
                    r"clips/s|x|MiB|GiB)(?![\w/-])")  # run-time and disk-use figures


def _reports_text() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "reports").glob("*.md")))


def test_every_run_time_figure_of_the_readme_is_in_a_generated_report():
    reports = _reports_text()
    missing = [match.group(0) for match in FIGURE.finditer(README)
               if match.group(0) not in reports and
               not _about_minutes(match.group(0), PIPELINE["repro"]["total_s"])]
    assert not missing, f"README figures found in no report of reports/*.md: {missing}"


def _about_minutes(figure: str, seconds: float) -> bool:
    return figure == f"{round(seconds / 60)} minutes"


def test_the_readme_quotes_the_measured_pipeline_and_queue_times():
    total = PIPELINE["repro"]["total_s"]
    assert f"about {round(total / 60)} minutes on a 2-core CPU" in FLAT
    assert f"{total:.0f} s on the" in FLAT
    assert f"finished in {PIPELINE['queue']['total_s']:.0f} s" in FLAT
    assert PIPELINE["queue"]["succeeded"] == len(PIPELINE["queue"]["experiments"])
    assert not PIPELINE["second_repro"]["stages"]  # a second dvc repro ran nothing
    disk = {k: f"{v / 2**20:.0f} MiB" for k, v in PIPELINE["disk_bytes"].items()}
    assert (f"`data/` holds {disk['data']}, `models/` {disk['models']} and `.dvc/cache` "
            f"{disk['.dvc/cache']}, and all three together {disk['together']}") in FLAT
    assert PIPELINE["disk_bytes"]["together"] < 1.1 * (PIPELINE["disk_bytes"]["data"]
                                                       + PIPELINE["disk_bytes"]["models"])


def test_the_pipeline_report_is_the_json_rendered():
    from benchmark.perf.pipeline import render

    assert (ROOT / "reports" / "pipeline.md").read_text() == render(PIPELINE)


def test_no_stale_paths_or_names():
    stale = [r"models/NAME/(?:last|final)\.pt", r"`train@NAME`", r"510 columns",
             r"a few minutes on a 2-core", r"PIPELINE_|QUEUE_SECONDS|DISK_"]
    found = [pattern for pattern in stale if re.search(pattern, README)]
    assert not found, f"stale text in README.md: {found}"
