"""``python -m benchmark compare`` and ``python -m benchmark plots`` on a real DVC repository.

One tiny copy of the pipeline (:mod:`dvc_repo`) is reproduced and committed once per module, and
one real workspace experiment (``dvc exp run -n idnn-e2 -S models.idnn.epochs=2``) is run on it;
every test then calls the real command line (``python -m benchmark ...``, which calls the real
``dvc``) in it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dvc_repo import DVC, ROOT, reproduced_repo, run

from benchmark.views.compare import (
    compare,
    format_comparison,
    parse_exp_show,
    read_experiments,
)
from benchmark.views.offline_plots import TEMPLATE, ensure_template, external_sources

pytestmark = pytest.mark.slow

EXPERIMENT = "idnn-e2"
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = reproduced_repo(tmp_path_factory.mktemp("views") / "repo")
    run([DVC, "exp", "run", "-n", EXPERIMENT, "-S", "models.idnn.epochs=2"], path,
        env={"DVC_ROOT": ""})
    return path


def cli(repo: Path, *args: str, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m benchmark ARGS`` of this checkout, run in ``cwd`` (default: ``repo``)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    full = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1",
            **(env or {})}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=cwd or repo,
                          env=full, capture_output=True, text=True, timeout=300, check=False)


def _metrics(repo: Path, model: str, rev: str | None = None) -> float:
    """``mean.auc`` of the model's seed-0 metrics file, in the workspace or at ``rev``."""
    name = f"reports/metrics/{model}-seed0.json"
    if rev is None:
        return json.loads((repo / name).read_text())["mean"]["auc"]
    return json.loads(run(["git", "show", f"{rev}:{name}"], repo).stdout)["mean"]["auc"]


def test_compare_json_rows_hold_each_metrics_files_auc_and_the_changed_param(repo):
    done = cli(repo, "compare", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["kind"] if row["kind"] != "experiment" else row["experiment"]: row
            for row in json.loads(done.stdout)}
    assert set(rows) == {"workspace", "baseline", EXPERIMENT}
    assert rows["baseline"]["experiment"].startswith("main (")
    expected = {"workspace": None, "baseline": "HEAD", EXPERIMENT: None}  # results applied
    for name, rev in expected.items():
        for model in ("idnn", "dcase2020_ae"):
            assert rows[name]["auc"][model] == _metrics(repo, model, rev), (name, model)
            assert rows[name]["seeds"][model] == [0]
    assert rows["baseline"]["params"] == {"models.idnn.epochs": 1}
    assert rows[EXPERIMENT]["params"] == {"models.idnn.epochs": 2}


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and cells of tabulate's ``simple`` table in ``text`` (columns: 2+ spaces)."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) <= {"-", " "} and "--" in line)
    split = [re.split(r"\s{2,}", line.strip()) for line in lines[rule - 1:]]
    return split[0], [cells for cells in split[2:] if not cells[0].startswith("note:")]


def test_compare_table_names_the_experiment_its_auc_and_changed_param(repo):
    done = cli(repo, "compare", "--by", "experiment", "--precision", "4")
    assert done.returncode == 0, done.stderr
    header, cells = _table(done.stdout)
    assert header[:2] == ["experiment", "models.idnn.epochs"] and "idnn" in header
    rows = {cells[0]: dict(zip(header, cells, strict=True)) for cells in cells}
    assert rows[EXPERIMENT]["models.idnn.epochs"] == "2"
    baseline = next(label for label in rows if label.startswith("main ("))
    assert rows[baseline]["models.idnn.epochs"] == "1"
    assert rows[EXPERIMENT]["idnn"] == f"{_metrics(repo, 'idnn'):.4f}"
    assert rows[baseline]["idnn"] == f"{_metrics(repo, 'idnn', 'HEAD'):.4f}"
    assert rows["workspace"]["idnn"] == f"{_metrics(repo, 'idnn'):.4f}"


def _width(output: str) -> int:
    """Width of the table in ``compare``'s output (after its two title lines)."""
    return max(len(line) for line in output.split("\n\n", 1)[1].splitlines())


def test_compare_fits_the_terminal_by_turning_the_table(repo, monkeypatch):
    done = cli(repo, "compare", "--by", "model")
    header, cells = _table(done.stdout)  # one column per experiment
    assert header[0] == "param / model AUC" and EXPERIMENT in header
    assert [row[0] for row in cells] == ["models.idnn.epochs", "idnn", "dcase2020_ae"]
    monkeypatch.chdir(repo / "reports")  # found from a sub-folder too
    table = compare(read_experiments())
    layouts = {by: format_comparison(table, by=by) for by in ("experiment", "model")}
    assert layouts["model"] + "\n" == done.stdout
    fits = _width(layouts["experiment"])
    assert format_comparison(table, columns=fits) == layouts["experiment"]  # when it fits
    narrow = format_comparison(table, columns=fits - 1)
    assert narrow == min(layouts.values(), key=_width)  # else the narrower layout
    assert max(map(len, narrow.splitlines())) <= 80


def test_compare_averages_the_seeds_and_says_so(repo):
    records = json.loads(run([DVC, "exp", "show", "--json"], repo).stdout)
    metrics = records[0]["data"]["metrics"]  # the workspace: add a second idnn seed
    seed1 = json.loads(json.dumps(metrics["reports/metrics/idnn-seed0.json"]))
    seed1["data"]["mean"]["auc"] = 0.5
    metrics["reports/metrics/idnn-seed1.json"] = seed1
    rows = parse_exp_show(records)
    workspace = rows[0]
    assert workspace.auc["idnn"] == {0: _metrics(repo, "idnn"), 1: 0.5}
    assert workspace.mean_auc("idnn") == pytest.approx((_metrics(repo, "idnn") + 0.5) / 2)
    text = format_comparison(compare(rows), precision=3, by="experiment")
    assert f"{workspace.mean_auc('idnn'):.3f} (n=2)" in text  # other rows have one seed
    assert "(n=K): over K seeds" in text.splitlines()[1]


def test_compare_outside_a_dvc_repository_is_an_error_line(repo, tmp_path):
    done = cli(repo, "compare", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: not in a DVC repository"), done.stderr
    failed = cli(repo, "compare", "--", "--rev", "no-such-rev")
    assert failed.returncode == 1 and not failed.stdout
    assert failed.stderr.startswith("error: dvc exp show") and "no-such-rev" in failed.stderr


def _roc_data(page: str) -> set[str]:
    """The machine types in the ROC data points that the page embeds."""
    return set(re.findall(r'"machine_type":\s*"(\w+)"', page))


def test_plots_page_holds_the_roc_data_and_no_external_url(repo):
    done = cli(repo, "plots")
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip().splitlines()[-1])
    assert page == repo / "dvc_plots" / "index.html"
    html = page.read_text()
    assert html.count("vegaEmbed('#") == 2  # the ROC plots of idnn and dcase2020_ae
    assert "idnn seed 0 ROC per machine type" in html and _roc_data(html) == {"fan", "slider"}
    assert "window.vegaEmbed=" in html  # the libraries are inline
    assert not REMOTE.search(html) and not external_sources(html)
    for written in (page, repo / TEMPLATE):  # git-ignored (run raises when it is not)
        run(["git", "check-ignore", "-q", str(written)], repo)


def test_set_config_makes_plain_dvc_plots_show_offline(repo, tmp_path):
    run([DVC, "plots", "show", "-o", str(tmp_path / "cdn")], repo)
    cdn = (tmp_path / "cdn" / "index.html").read_text()
    assert REMOTE.search(cdn) and external_sources(cdn)  # DVC's own page: the checks can fail
    done = cli(repo, "plots", "--set-config", "--out", str(tmp_path / "ours"), "--",
               "reports/roc/idnn-seed0.csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "ours" / "index.html")
    try:
        run([DVC, "plots", "show", "-o", str(tmp_path / "plain")], repo)
        plain = (tmp_path / "plain" / "index.html").read_text()
        assert not REMOTE.search(plain) and _roc_data(plain) == {"fan", "slider"}
    finally:
        run([DVC, "config", "--local", "--unset", "plots.html_template"], repo)


def test_the_template_is_written_once_per_package_version(tmp_path):
    path = ensure_template(tmp_path)
    assert path == tmp_path / TEMPLATE and "{plot_divs}" in path.read_text()
    assert "{scripts}" not in path.read_text()  # DVC's CDN <script> tags have no place
    stamp = path.stat().st_mtime_ns
    assert ensure_template(tmp_path).stat().st_mtime_ns == stamp
    path.write_text("<!DOCTYPE html>\n<!-- an older bundle -->\n{plot_divs}\n")
    assert "window.vegaEmbed=" in ensure_template(tmp_path).read_text()


def _screenshot(page: Path, png: Path) -> None:
    """A headless Chromium screenshot of ``page`` with every network request refused."""
    subprocess.run([shutil.which("chromium") or "chromium", "--headless", "--no-sandbox",
                    "--disable-gpu", "--proxy-server=http://127.0.0.1:9",
                    "--host-resolver-rules=MAP * ~NOTFOUND", f"--screenshot={png}",
                    "--window-size=900,900", "--virtual-time-budget=10000", page.as_uri()],
                   capture_output=True, timeout=120, check=True)


def _coloured_pixels(png: Path) -> int:
    """Pixels that are clearly not grey (the ROC curves; axes and text are grey)."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    return int((rgb.max(axis=2) - rgb.min(axis=2) > 60).sum())


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_the_page_draws_the_curves_in_a_browser_without_network(repo, tmp_path):
    ours = cli(repo, "plots", "--out", str(tmp_path / "ours"), "--",
               "reports/roc/idnn-seed0.csv")
    assert ours.returncode == 0, ours.stderr
    run([DVC, "plots", "show", "-o", str(tmp_path / "cdn"), "reports/roc/idnn-seed0.csv"], repo)
    _screenshot(tmp_path / "ours" / "index.html", tmp_path / "ours.png")
    _screenshot(tmp_path / "cdn" / "index.html", tmp_path / "cdn.png")
    assert _coloured_pixels(tmp_path / "cdn.png") == 0  # DVC's page is blank offline
    assert _coloured_pixels(tmp_path / "ours.png") > 500  # ours draws the coloured curves
