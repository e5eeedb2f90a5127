#!/usr/bin/env bash
# The one prepared GPU check of issue 12, for a session that is lent a device machine.
#
# It measures, on CUDA, per model: the pure training step, the real training stage (clips/s, GPU
# busy %, peak memory) and the paper profile's projected wall time, i.e. every figure of
# reports/performance.md, and writes them to $OUT/performance-gpu.{md,json} (+ a log).
#
#   Here, once (the device's python 3.12 lacks soundfile, which the perf run's clips need):
#     pip download --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#         -d .wheels soundfile cffi pycparser && echo /.wheels/ >> .git/info/exclude
#   Then one call (about 6-8 min on an H100):
#     run(command="bash bench/gpu_check.sh", carry=[".wheels"], timeout_s=560)
#   and commit $OUT/performance-gpu.md as reports/performance-gpu.md beside the CPU report.
#
# DEVICE=cpu MODELS="idnn mobilenetv2" bash bench/gpu_check.sh   tries the script on a CPU.
set -euo pipefail
OUT=${OUT:-/tmp/gpu-check}
DEVICE=${DEVICE:-cuda}
MODELS=${MODELS:-}
mkdir -p "$OUT"
log="$OUT/gpu_check.log"
if ! python -c "import soundfile" 2>/dev/null; then
    python -m pip install -q --no-index --find-links .wheels soundfile >>"$log" 2>&1
fi
{ nvidia-smi || true; python -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } >>"$log" 2>&1
OUT="$OUT" DEVICE="$DEVICE" python - <<'PY'
import os

import yaml

params = yaml.safe_load(open("params.yaml"))
out = os.environ["OUT"]
params["train"].update(mlflow=False, device=os.environ["DEVICE"])
params["perf"].update(device=os.environ["DEVICE"], out_json=f"{out}/performance-gpu.json",
                      out_md=f"{out}/performance-gpu.md")
with open(f"{out}/params-gpu.yaml", "w") as handle:
    yaml.safe_dump(params, handle, sort_keys=False)
PY
# shellcheck disable=SC2086  (MODELS is a list of names)
OMP_WAIT_POLICY=PASSIVE python -m benchmark.perf --params "$OUT/params-gpu.yaml" \
    --device "$DEVICE" ${MODELS:+--models $MODELS} >>"$log" 2>&1
tail -n 60 "$OUT/performance-gpu.md"
