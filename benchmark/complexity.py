"""Stage ``complexity``: parameters and FLOPs of every registered model, counted with fvcore.

``python -m benchmark.complexity [--params params.yaml]`` reads the ``complexity`` section only
and writes ``reports/complexity.json`` and ``reports/complexity.md`` (paths in the section).

Each model is counted on one 10-s clip (batch 1, eval mode), its front end and its backbone
separately:

* classification models: front end = waveform -> ``(1, C, 128, 313)`` (log-Mel and the
  Wavegram / Tgram branch); backbone = the rest up to the logits (attention, MobileFaceNet or
  MobileNetV2, and the head without its margin, which needs no target);
* frame models (IDNN, autoencoder): front end = log-Mel of the clip; backbone = the network
  on the clip's 309 context vectors ``(309, 640)``.

FLOPs follow fvcore: **one fused multiply-add counts as one FLOP** (convolutions, linear
layers and matrix products; batch norm as fvcore's handle counts it). Element-wise operators
(activations, additions, the attention product, the logarithm) are not counted; each model
lists them, with how often they occur, under ``unsupported_ops``. fvcore cannot see inside
``torch.stft``: :func:`stft_flops` counts it with the analytic figure of a real FFT.

Per model, ``complexity.json`` holds ``params`` (every learnable parameter, fvcore
``parameter_count``, the ArcFace weight included), ``params_trainable``, ``params_inference``
(parameters of the modules that run when one clip is scored: an unused layer, like the
official MobileFaceNet's ``fc_out``, would count in ``params`` only), ``paper_params`` (as
the paper reports it, rounded), ``params_frontend``, ``flops`` = ``flops_frontend`` +
``flops_backbone``, ``unsupported_ops`` ({operator: occurrences} fvcore skipped) and ``input``.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fvcore.nn import FlopCountAnalysis, parameter_count
from fvcore.nn.jit_handles import get_shape
from torch import nn

from benchmark.architectures import create_model, get_spec, list_models
from benchmark.architectures.registry import ModelSpec
from benchmark.cli import entry_point
from benchmark.config import ConfigError, stage_params

log = logging.getLogger(__name__)

__all__ = [
    "ComplexityParams", "FLOP_CONVENTION", "stft_flops", "count_flops", "params_used",
    "measure", "complexity", "render_markdown", "run", "main",
]

FLOP_CONVENTION = (
    "fvcore FlopCountAnalysis, batch 1, eval mode: one fused multiply-add (MAC) = one FLOP "
    "(conv, linear, matmul; batch norm as fvcore counts it). torch.stft counted by our handle as "
    "frames x (n_fft window multiplies + 1.25 n_fft log2 n_fft for a real FFT, i.e. half the "
    "5 N log2 N real operations of a complex radix-2 FFT, in multiply-adds). Element-wise "
    "operators are not counted and are listed per model in unsupported_ops."
)


@dataclass
class ComplexityParams:
    """The ``complexity:`` section of ``params.yaml``."""

    models: list[str]  # registered names; empty = every registered model
    clip_samples: int  # samples of the clip the FLOPs are counted on
    num_classes: int  # classes of the classification heads
    out_json: str
    out_md: str

    def validate(self) -> None:
        unknown = [name for name in self.models if name not in list_models()]
        if unknown:
            raise ConfigError(
                f"'complexity.models': unknown model {unknown[0]!r} "
                f"(valid: {', '.join(list_models())})"
            )
        for key in ("clip_samples", "num_classes"):
            if getattr(self, key) < 1:
                raise ConfigError(f"'complexity.{key}' must be >= 1, got {getattr(self, key)}")


# --- FLOP counting ----------------------------------------------------------------------

def stft_flops(n_fft: int, frames: int, batch: int = 1, window: bool = True) -> int:
    """Multiply-adds of an FFT-based STFT of ``frames`` frames (see ``FLOP_CONVENTION``)."""
    per_frame = (n_fft if window else 0) + 1.25 * n_fft * math.log2(n_fft)
    return int(round(batch * frames * per_frame))


def _stft_handle(inputs: list[Any], outputs: list[Any]) -> int:
    # aten::stft(input, n_fft, hop_length, win_length, window, ...) -> (..., n_fft//2+1, frames)
    n_fft = inputs[1].toIValue()
    out_shape = get_shape(outputs[0])
    window = get_shape(inputs[4]) is not None
    batch = math.prod(out_shape[:-2])
    return stft_flops(n_fft, out_shape[-1], batch, window)


EXTRA_HANDLES: dict[str, Callable[[list[Any], list[Any]], int]] = {"aten::stft": _stft_handle}


def count_flops(module: nn.Module, inputs: torch.Tensor | tuple[torch.Tensor, ...]
                ) -> tuple[int, dict[str, int]]:
    """fvcore FLOPs (one MAC = one FLOP) of ``module(*inputs)`` and the operators it skipped."""
    analysis = FlopCountAnalysis(module, inputs).set_op_handle(**EXTRA_HANDLES)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with warnings.catch_warnings():  # tracing notes about Python control flow, not errors
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        total = int(analysis.total())
    return total, dict(analysis.unsupported_ops())


class _Logits(nn.Module):
    """Front-end output -> logits of a classification model (head without margin)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.head(self.model.backbone(features))


# --- parameter counting -----------------------------------------------------------------

def params_used(model: nn.Module, run: Callable[[], object]) -> int:
    """Parameters of the modules that ``run()`` calls (an unused layer does not count)."""
    called: set[nn.Module] = set()
    hooks = [m.register_forward_hook(lambda mod, *_: called.add(mod)) for m in model.modules()]
    try:
        with torch.no_grad():
            run()
    finally:
        for hook in hooks:
            hook.remove()
    return sum(p.numel() for m in called for p in m.parameters(recurse=False))


def _inputs(spec: ModelSpec, model: nn.Module, clip_samples: int
            ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(waveform (1, L), backbone input, description) of one clip."""
    generator = torch.Generator().manual_seed(0)
    wave = torch.randn(1, clip_samples, generator=generator)
    with torch.no_grad():
        if spec.objective == "classification":
            features = model.features(wave)  # (1, C, 128, T)
            return wave, features, f"waveform (1, {clip_samples}) -> features " \
                                   f"{tuple(features.shape)} -> logits"
        frames = model.frames(model.frontend(wave))[0]  # (T - 4, 640)
    return wave, frames, f"waveform (1, {clip_samples}) -> log-Mel -> frames {tuple(frames.shape)}"


def measure(name: str, clip_samples: int = 160_000, num_classes: int = 41) -> dict[str, Any]:
    """Parameters and FLOPs of one registered model (one entry of ``complexity.json``)."""
    spec = get_spec(name)
    kwargs = {"num_classes": num_classes} if spec.objective == "classification" else {}
    model = create_model(name, **kwargs).eval()
    wave, backbone_input, description = _inputs(spec, model, clip_samples)
    if spec.objective == "classification":
        backbone: nn.Module = _Logits(model)
        used = params_used(model, lambda: model.head(model(wave)))
    else:
        backbone = model
        used = params_used(model, lambda: model(model.frames(model.frontend(wave))))
    flops_frontend, skipped_frontend = count_flops(model.frontend, wave)
    flops_backbone, skipped_backbone = count_flops(backbone, backbone_input)
    skipped = Counter(skipped_frontend) + Counter(skipped_backbone)
    return {
        "params": int(parameter_count(model)[""]),
        "params_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "params_inference": used,
        "paper_params": spec.paper_params,
        "params_frontend": sum(p.numel() for p in model.frontend.parameters()),
        "flops": flops_frontend + flops_backbone,
        "flops_frontend": flops_frontend,
        "flops_backbone": flops_backbone,
        "unsupported_ops": dict(sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))),
        "input": description,
    }


def complexity(names: Sequence[str], clip_samples: int = 160_000, num_classes: int = 41
               ) -> dict[str, Any]:
    """The whole ``complexity.json`` payload for ``names`` (in that order)."""
    models = {}
    for name in names:
        models[name] = measure(name, clip_samples, num_classes)
        log.info("%s: %d params, %.1f MFLOPs", name, models[name]["params"],
                 models[name]["flops"] / 1e6)
    return {"flop_convention": FLOP_CONVENTION, "clip_samples": clip_samples,
            "num_classes": num_classes, "models": models}


# --- report -----------------------------------------------------------------------------

def _paper(value: int | None) -> str:
    if value is None:
        return "-"
    if value >= 1_000_000:
        return f"{value / 1e6:g} M"
    return f"{value / 1e3:g} k"


def _delta(ours: int, paper: int | None) -> str:
    return "-" if paper is None else f"{100 * (ours - paper) / paper:+.1f} %"


def _skipped(ops: dict[str, int]) -> str:
    return ", ".join(f"{op.removeprefix('aten::')} {n}" for op, n in ops.items()) or "-"


NOTES = """\
## How we count

- **FLOPs**: {convention}
- **params**: every learnable parameter (fvcore `parameter_count`), the ArcFace weight
  included. **params used**: parameters of the modules that run when one clip is scored
  (forward + head); equal to params because no model here has unused layers.
- **Proposed model**: the official code has 884,376 parameters (Wavegram 1,539 + attention 1,964
  + MobileFaceNet 875,625 + ArcFace 5,248), but its MobileFaceNet builds an output layer
  `Linear(128, 41)` (5,289 parameters) that the ArcFace model never uses. We leave it out:
  879,087 = 884,376 - 5,289. The paper's "884 k" / "882 k" (without attention; 882,412 as coded)
  are therefore 5,289 above our counts. STgram-MFN's official code has the same unused layer,
  also left out (1,155,990 here).
- **Noisy-ArcMix**: STgram-MFN's network with a third, parameter-free input channel (the
  TAgram), so MobileFaceNet's first convolution has 576 more weights: 1,156,566. Its code builds
  the same unused `Linear(128, 41)` (5,289), left out; with it, 1,161,855 (about 1.16 M; the
  paper: 1.1 M).
- **SW-WaveNet**: counted from its published code (chen-hhaa/SW-WaveNet4ASD, `wavenet.py`):
  two WaveNet branches of 17,161,344 parameters each (a causal input convolution 128 -> 512;
  8 gated residual layers of 2,100,224: two 512 x 512 x 3 convolutions with BN, 1x1 residual
  and skip convolutions; the post-net with a depthwise kernel of 313 and a 1x1 to 128), the
  Wavegram's `Conv1d(1, 128, 1024)` (131,072) and the 256 x 41 ArcFace (10,496): 34,464,256.
  The code also builds an ArcFace inside the Wavegram branch that is never used (5,248), left
  out. The paper reports "27 M": no part of the published code accounts for the difference
  (7.46 M; one branch is 17.16 M, all the residual and skip 1x1 convolutions 8.40 M), so the
  gap is unreconciled and shown as it is.
- **Without separable convolutions**: every separable block (depthwise -> BN -> ReLU ->
  pointwise -> BN -> ReLU) becomes one ordinary convolution -> BN -> ReLU. The Wavegram's
  `Conv1d(1, 128, 1024)` (131,200 parameters instead of 1,281) is what takes the model to the
  paper's "1 M".
- **MobileNetV2**: the configuration behind the paper's "1.1 M" is not published. We use the
  standard MobileNetV2 (torchvision / Keras layout: ImageNet table, channels rounded to
  multiples of 8, 1280-channel last layer) on the 1-channel log-Mel with a linear 41-class head,
  at width multiplier 0.65, the width (in steps of 0.05) whose total is closest to 1.1 M.
- **Frame models** (IDNN, DCASE 2020 autoencoder): the backbone runs on the 309 five-frame
  context vectors (309 x 640) of one clip.
"""


def render_markdown(payload: dict[str, Any]) -> str:
    """``complexity.md``: one table row per model, then the counting notes."""
    lines = [
        "# Model complexity",
        "",
        f"One clip of {payload['clip_samples']:,} samples (10 s at 16 kHz), batch 1, "
        f"{payload['num_classes']} classes, eval mode. FLOPs in millions; **one multiply-add = "
        "one FLOP**. Front end: log-Mel (+ Wavegram / Tgram branch); backbone + head: the rest "
        "up to the logits (ArcFace without margin) or, for frame models, the network on the "
        "clip's 309 context vectors.",
        "",
        "| model | params | paper | ours vs paper | params used | MFLOPs | front end "
        "| backbone + head | ops not counted (occurrences) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in payload["models"].items():
        lines.append(
            f"| {name} | {row['params']:,} | {_paper(row['paper_params'])} "
            f"| {_delta(row['params'], row['paper_params'])} | {row['params_inference']:,} "
            f"| {row['flops'] / 1e6:,.1f} | {row['flops_frontend'] / 1e6:,.1f} "
            f"| {row['flops_backbone'] / 1e6:,.1f} | {_skipped(row['unsupported_ops'])} |"
        )
    lines += ["", NOTES.format(convention=payload["flop_convention"])]
    return "\n".join(lines)


def run(params: ComplexityParams) -> dict[str, Any]:
    """Count every model named by ``params`` and write the JSON and markdown reports."""
    payload = complexity(params.models or list_models(), params.clip_samples, params.num_classes)
    for path, text in ((params.out_json, json.dumps(payload, indent=2) + "\n"),
                       (params.out_md, render_markdown(payload))):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    return payload


@entry_point
def main(argv: list[str] | None = None) -> None:
    logging.getLogger("fvcore").setLevel(logging.ERROR)  # per-op skip notes; listed in the report
    params = stage_params("complexity", ComplexityParams, __doc__.splitlines()[0], argv)
    payload = run(params)
    log.info("wrote %s and %s (%d models)", params.out_json, params.out_md,
             len(payload["models"]))


if __name__ == "__main__":
    main()
