"""Complexity stage: fvcore counts vs hand-computed figures, the STFT handle, the reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.architectures import create_model
from benchmark.complexity import (
    ComplexityParams,
    count_flops,
    params_used,
    render_markdown,
    run,
    stft_flops,
)
from benchmark.config import ConfigError, from_dict, load_section
from benchmark.features.logmel import LogMel

ROOT = Path(__file__).resolve().parents[1]


def test_fvcore_counts_a_small_model_as_hand_computed():
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),  # 8 x 8 outputs x 4 channels x (2 x 3 x 3) MACs
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10),  # 256 x 10 MACs
    ).eval()
    flops, _ = count_flops(model, torch.randn(1, 2, 8, 8))
    assert flops == 8 * 8 * 4 * 2 * 9 + 256 * 10  # 4,608 + 2,560 (biases are not counted)


def test_idnn_backbone_flops_by_hand():
    model = create_model("idnn").eval()
    flops, skipped = count_flops(model, torch.randn(309, 640))
    macs_per_vector = 512 * 64 + 64 * 32 + 32 * 16 + 16 * 32 + 32 * 64 + 64 * 128  # 46,080
    assert flops == 309 * macs_per_vector
    assert "aten::linear" not in skipped and "aten::addmm" not in skipped


def test_stft_flops_analytic():
    # 313 frames x (1,024 window multiplies + 1.25 x 1,024 x log2 1,024 = 12,800)
    assert stft_flops(1024, 313) == 313 * 13_824 == 4_326_912
    assert stft_flops(1024, 313, window=False) == 313 * 12_800
    assert stft_flops(1024, 10, batch=3) == 3 * stft_flops(1024, 10)


def test_logmel_flops_include_the_stft_handle():
    flops, skipped = count_flops(LogMel().eval(), torch.randn(1, 16_000))
    frames = 1 + 16_000 // 512  # 32
    assert flops == stft_flops(1024, frames) + frames * 513 * 128  # STFT + Mel matmul
    assert "aten::stft" not in skipped
    assert "aten::log10" in skipped  # element-wise operators are reported, not counted


def test_params_used_ignores_unused_layers():
    class WithDeadLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(3, 2)  # 8
            self.unused = nn.Linear(2, 5)  # 15, never called

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    model = WithDeadLayer()
    assert params_used(model, lambda: model(torch.randn(1, 3))) == 8


def test_params_section_in_repo_parses():
    params = load_section("complexity", ComplexityParams, ROOT / "params.yaml")
    assert params.clip_samples == 160_000 and params.num_classes == 41


def test_unknown_model_in_params_is_an_error():
    data = {"models": ["idnn", "resnet"], "clip_samples": 160_000, "num_classes": 41,
            "out_json": "a.json", "out_md": "a.md"}
    with pytest.raises(ConfigError, match="resnet.*valid: proposed"):
        from_dict(ComplexityParams, data, "complexity")
    with pytest.raises(ConfigError, match="unknown key 'complexity.extra'"):
        from_dict(ComplexityParams, {**data, "models": [], "extra": 1}, "complexity")


def test_complexity_stage_on_two_models(tmp_path: Path):
    params = ComplexityParams(
        models=["idnn", "proposed"], clip_samples=160_000, num_classes=41,
        out_json=str(tmp_path / "reports" / "complexity.json"),
        out_md=str(tmp_path / "reports" / "complexity.md"),
    )
    run(params)
    payload = json.loads(Path(params.out_json).read_text())
    assert "multiply-add" in payload["flop_convention"]
    assert list(payload["models"]) == ["idnn", "proposed"]
    keys = {"params", "params_trainable", "params_inference", "paper_params", "flops",
            "flops_frontend", "flops_backbone", "unsupported_ops", "input"}
    for name, row in payload["models"].items():
        assert keys <= set(row), name
        assert row["flops"] == row["flops_frontend"] + row["flops_backbone"] > 0
        assert row["params"] == row["params_trainable"] == row["params_inference"]
        assert all(isinstance(n, int) and n > 0 for n in row["unsupported_ops"].values())
    idnn, proposed = payload["models"]["idnn"], payload["models"]["proposed"]
    assert idnn["params"] == 46_416 and idnn["paper_params"] == 46_000
    assert idnn["flops_backbone"] == 309 * 46_080
    assert idnn["flops_frontend"] == stft_flops(1024, 313) + 313 * 513 * 128
    assert proposed["params"] == 879_087 and proposed["paper_params"] == 884_000
    assert "aten::prelu" in proposed["unsupported_ops"]
    markdown = Path(params.out_md).read_text()
    assert markdown == render_markdown(payload)
    assert "| proposed | 879,087 | 884 k | -0.6 % |" in markdown
    assert "one multiply-add = one FLOP" in markdown
