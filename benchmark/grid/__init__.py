"""The pipeline's train@NAME-K stages in parallel on a Dask cluster: ``python -m benchmark grid``.

DVC runs the stages of one pipeline one at a time. The grid takes the ``train@*`` stages that
DVC reports as changed or missing, runs each stage's own command (exactly the ``cmd`` DVC would
run) as one task on a Dask distributed cluster, and records every finished stage with
``dvc commit`` on the client, one at a time, so ``dvc.lock`` ends as if ``dvc repro`` had run
it; ``dvc repro`` then runs what is left (``complexity``, ``report``).

Modules, in the order a run uses them: :mod:`.params` (the ``grid:`` section of params.yaml),
:mod:`.stages` (what DVC says is pending, ``dvc commit``), :mod:`.cluster` (the engines:
``LocalCluster``, one worker per GPU, dask-jobqueue, a running scheduler), :mod:`.tasks` (what a
worker runs: the stage's command, logged, dying with its worker), :mod:`.run` (submission,
progress, faults) and :mod:`.cli` (the command line).
"""
