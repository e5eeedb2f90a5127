"""``python -m benchmark plots``: DVC's plots page, rendered without the internet.

``dvc plots show`` writes an HTML page whose ``<script>`` tags load Vega, Vega-Lite and
vega-embed from a CDN, so offline (cluster nodes, air-gapped machines) every Vega plot is blank.
DVC accepts its own page template (``--html-template``, or the ``plots.html_template`` config);
a template without DVC's ``{scripts}`` placeholder gets no CDN tags. This module writes such a
template carrying the three libraries inline, from the pip package ``vl-convert-python``
(:func:`vl_convert.javascript_bundle`: one self-contained script that sets ``window.vegaEmbed``,
which the per-plot ``<script>`` blocks of DVC call), and runs ``dvc plots show`` (or ``diff``)
with it. The template lives in ``.dvc/tmp/`` (git-ignored, about 0.9 MB, rewritten when the
package version changes); ``--set-config`` also records it in ``.dvc/config.local`` so that plain
``dvc plots show`` / ``dvc plots diff`` of this clone render offline too.
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from importlib.metadata import version
from pathlib import Path
from urllib.parse import unquote, urlparse

from benchmark.dvc_cli import DvcError, dvc_root, run_dvc
from benchmark.io import write_text_atomic

TEMPLATE = Path(".dvc") / "tmp" / "plots-offline.html"  # relative to the repository root
CONFIG_VALUE = "tmp/plots-offline.html"  # plots.html_template is resolved against .dvc/
VEGA_LITE_MAJOR = "5"  # the $schema of DVC's templates and of .dvc/plots/roc_by_type.json
DVC_PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")

PAGE = """<!DOCTYPE html>
{header}
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <script type="text/javascript">
(function () {{
{bundle}
}})();
    </script>
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def vega_lite_version() -> str | None:
    """The newest Vega-Lite 5.x that vl-convert bundles (``None``: its default)."""
    import vl_convert

    listed = getattr(vl_convert, "get_vegalite_versions", lambda: [])()
    fives = [v for v in listed if v.split(".")[0] == VEGA_LITE_MAJOR]
    return max(fives, key=lambda v: tuple(int(p) for p in v.split("."))) if fives else None


def template_header() -> str:
    """First line of the template: names the bundle's origin, so a new version rewrites it."""
    vl = vega_lite_version() or "default"
    return (f"<!-- offline template of `python -m benchmark plots`: vega-embed, Vega and "
            f"Vega-Lite {vl} inline from vl-convert-python {version('vl-convert-python')} -->")


def template_text() -> str:
    """The whole offline template: DVC's page layout with the libraries in one inline script."""
    import vl_convert

    vl = vega_lite_version()
    bundle = vl_convert.javascript_bundle(vl_version=f"v{vl}" if vl else None)
    # A literal "</script" would end the <script> element early; "<\/script" is the same JS.
    bundle = bundle.replace("</script", "<\\/script")
    clash = [p for p in DVC_PLACEHOLDERS if p in bundle]
    if clash:  # DVC replaces these strings wherever they occur, also inside the script
        raise DvcError(f"the vl-convert bundle contains DVC's placeholder {clash[0]}")
    return PAGE.format(header=template_header(), bundle=bundle)


def ensure_template(root: Path) -> Path:
    """Write ``.dvc/tmp/plots-offline.html`` unless it is there for this package version."""
    path = root / TEMPLATE
    if path.is_file():
        with path.open(encoding="utf8") as handle:
            handle.readline()  # <!DOCTYPE html>
            if handle.readline().rstrip("\n") == template_header():
                return path
    return write_text_atomic(path, template_text())


class _SourceFinder(HTMLParser):
    """Collects the ``src`` / ``href`` of the tags a browser loads (script, link, img, ...)."""

    LOADED = {"script", "link", "img", "iframe", "embed", "source", "object"}

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.LOADED:
            self.sources += [v for k, v in attrs if k in ("src", "href", "data") and v]


def external_sources(html: str) -> list[str]:
    """The URLs of ``html`` that a browser would fetch from another host (http, https, //)."""
    finder = _SourceFinder()
    finder.feed(html)
    return [s for s in finder.sources if re.match(r"\s*(https?:)?//", s, re.IGNORECASE)]


def render(root: Path, dvc_args: list[str], *, diff: bool = False,
           out: str | Path | None = None) -> Path:
    """Run ``dvc plots show|diff`` in ``root`` with the offline template; returns the page.

    DVC runs in the repository root (from a sub-folder it does not find the plot templates of
    ``dvc.yaml``), so targets in ``dvc_args`` are relative to the root; ``out`` is taken
    relative to the current folder, as a user typed it.
    """
    template = ensure_template(root)
    command = ["plots", "diff" if diff else "show", "--html-template", str(template)]
    command += ["--out", str(Path(out).resolve())] if out is not None else []
    stdout = run_dvc([*command, *dvc_args], root, echo_stderr=True)
    pages = [line.strip() for line in stdout.splitlines() if line.strip().startswith("file:")]
    if not pages:
        raise DvcError(f"dvc {' '.join(command[:2])} wrote no page: no plots were loaded")
    return Path(unquote(urlparse(pages[-1]).path))


def set_config(root: Path) -> None:
    """Record the template as ``plots.html_template`` in ``.dvc/config.local`` (this clone)."""
    run_dvc(["config", "--local", "plots.html_template", CONFIG_VALUE], root)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``plots`` command to the sub-commands ``sub``."""
    parser = sub.add_parser(
        "plots",
        help="dvc plots show/diff as a page that renders offline",
        description="Run `dvc plots show` (or `dvc plots diff`) with an HTML template that "
        "carries Vega, Vega-Lite and vega-embed inline (from vl-convert-python) instead of "
        "loading them from a CDN, and print the page's path. dvc runs in the repository root; "
        "arguments after `--` go to it, e.g. python -m benchmark plots -- "
        "reports/roc/idnn-seed0.csv",
    )
    parser.add_argument("--out", default=None,
                        help="folder of the page (dvc's -o; default: dvc_plots/ in the "
                        "repository root)")
    parser.add_argument("--diff", action="store_true",
                        help="run `dvc plots diff` (DVC_ARGS: revisions, --targets ...)")
    parser.add_argument("--set-config", action="store_true",
                        help="also set plots.html_template in .dvc/config.local, so that plain "
                        "`dvc plots show` of this clone renders offline")
    parser.add_argument("dvc_args", nargs="*", metavar="DVC_ARGS",
                        help="arguments of dvc plots show/diff (targets relative to the "
                        "repository root, --title, ...)")
    parser.set_defaults(run=run_plots)


def run_plots(args: argparse.Namespace) -> int:
    """``plots`` command; returns the exit code."""
    try:
        root = dvc_root()
        page = render(root, args.dvc_args, diff=args.diff, out=args.out)
        if args.set_config:
            set_config(root)
    except (DvcError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    remote = external_sources(page.read_text(encoding="utf8"))
    if remote:  # cannot happen with our template; a guard against a changed dvc-render
        print(f"error: {page} still loads {remote[0]}", file=sys.stderr)
        return 1
    print(page)
    return 0
