"""Views of the pipeline's results for a person at a terminal or a browser, offline too:
``python -m benchmark compare`` (experiments x models from ``dvc exp show --json``),
``python -m benchmark plots`` (``dvc plots show`` rendered without a CDN). Command-line only: no
pipeline stage depends on these modules, so changing them re-runs nothing."""
