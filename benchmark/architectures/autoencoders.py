"""Frame-wise reconstruction baselines on 5-frame log-Mel context vectors.

* ``dcase2020_ae``: the DCASE 2020 Challenge Task 2 baseline (Y. Koizumi et al., "Description
  and discussion on DCASE2020 Challenge Task2", DCASE 2020 Workshop; code
  y-kawagu/dcase2020_task2_baseline). Dense autoencoder 640 -> 128 x 4 -> 8 -> 128 x 4 -> 640,
  every hidden layer Dense -> BatchNorm (Keras defaults: eps 1e-3, moving-average momentum 0.99)
  -> ReLU, linear output, Glorot-uniform weights; MSE to its input.
  267,928 trainable parameters (Keras reports 269,992, counting BN moving statistics).
* ``idnn``: Interpolation DNN (K. Suefusa et al., "Anomalous Sound Detection Based on
  Interpolation Deep Neural Network", ICASSP 2020): the 4 outer frames of the context
  (512 inputs) -> 64-32-16-32-64 (ReLU) -> the centre frame (128); MSE to the centre frame.
  46,416 parameters (paper: "46 k").

A context vector is frame-major: ``[frame t-2 | t-1 | t | t+1 | t+2]``, 128 Mels each, so a
10-s clip (313 frames) gives 309 vectors of 640 (:meth:`FrameModel.frames`). The models accept
any leading shape ``(..., 640)``.

Both read the DCASE 2020 baseline's own log-Mel by default
(:class:`~benchmark.features.baselines.DcaseLogMel`: librosa's Slaney Mel scale and norm,
``10 log10(x + float eps)``), of the whole clip (an 11-s ToyCar clip gives 340 vectors), as
that baseline did; ``frontend="paper"`` gives them the paper's log-Mel instead (equal terms).
Their recipe (``params.yaml``): one model per machine type (``scope: per_type``), Adam lr 1e-3,
batch 512 vectors, 100 epochs, the last 10 % of each type's vectors held out (Keras
``validation_split=0.1``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from benchmark.architectures.registry import ModelSpec, register_model
from benchmark.features.baselines import DcaseLogMel
from benchmark.features.logmel import LogMel

__all__ = ["context_frames", "FrameModel", "DenseAutoencoder", "IDNN", "FRAME_FRONTENDS"]

N_MELS, CONTEXT = 128, 5
INPUT_DIM = N_MELS * CONTEXT  # 640
CENTRE = slice(N_MELS * (CONTEXT // 2), N_MELS * (CONTEXT // 2 + 1))  # 256:384
AE_LAYERS = (128, 128, 128, 128, 8, 128, 128, 128, 128)
IDNN_LAYERS = (64, 32, 16, 32, 64)
FRAME_FRONTENDS = {"dcase": DcaseLogMel, "paper": LogMel}
"""``frontend`` argument of the frame models -> its log-Mel module (both 128 Mels, hop 512)."""


def context_frames(logmel: torch.Tensor, context: int = CONTEXT) -> torch.Tensor:
    """``(B, n_mels, T)`` -> ``(B, T - context + 1, context * n_mels)``, frame-major."""
    steps = logmel.shape[-1] - context + 1
    if steps < 1:
        raise ValueError(f"need at least {context} frames, got shape {tuple(logmel.shape)}")
    frames = logmel.transpose(-1, -2)  # (B, T, n_mels)
    return torch.cat([frames[..., i:i + steps, :] for i in range(context)], dim=-1)


def _mlp(sizes: Sequence[int], batch_norm: bool) -> nn.Sequential:
    """Dense [-> BN] -> ReLU for every hidden size, then a linear output layer."""
    layers: list[nn.Module] = []
    for in_dim, out_dim in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers.append(nn.Linear(in_dim, out_dim))
        if batch_norm:
            # Keras' BatchNormalization defaults (the baseline's framework): moving averages
            # with momentum 0.99 (torch: momentum 0.01) and epsilon 1e-3
            layers.append(nn.BatchNorm1d(out_dim, eps=1e-3, momentum=0.01))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def _bottleneck_end(hidden: Sequence[int], batch_norm: bool) -> int:
    """How many modules of :func:`_mlp` lead to the narrowest hidden layer's pre-activation
    (its Dense, and its BatchNorm when ``batch_norm``), the first one on a tie."""
    per_layer = 3 if batch_norm else 2  # Dense [-> BN] -> ReLU
    narrowest = min(range(len(hidden)), key=lambda i: hidden[i])
    return narrowest * per_layer + per_layer - 1


class FrameModel(nn.Module):
    """Base of the frame models: ``frontend`` (log-Mel), :meth:`frames`, :meth:`target`."""

    def __init__(self, frontend: str = "dcase") -> None:
        super().__init__()
        if frontend not in FRAME_FRONTENDS:
            raise ValueError(f"{type(self).__name__}: frontend must be one of "
                             f"{sorted(FRAME_FRONTENDS)}, got {frontend!r}")
        self.frontend = FRAME_FRONTENDS[frontend]()

    @staticmethod
    def frames(logmel: torch.Tensor) -> torch.Tensor:
        """Log-Mel ``(B, 128, T)`` -> context vectors ``(B, T - 4, 640)``."""
        return context_frames(logmel)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """What the prediction of ``x (..., 640)`` is compared with."""
        return x

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """What ``self.net`` reads of ``x (..., 640)``."""
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The bottleneck code of ``x (..., 640)``: ``(..., width)`` of the narrowest hidden
        layer, its pre-activation (after its BatchNorm for the AE, before the ReLU that zeroes
        about half of it). The embedding the scoring backends read of a frame model."""
        net_input = self.net_input(x)
        flat = net_input.reshape(-1, net_input.shape[-1])  # (N, in): BatchNorm1d over features
        code = self.net[:self.bottleneck_end](flat)  # (N, width)
        return code.reshape(*x.shape[:-1], code.shape[-1])


class DenseAutoencoder(FrameModel):
    """DCASE 2020 baseline autoencoder: ``(..., 640)`` -> reconstruction ``(..., 640)``."""

    def __init__(self, layers: Sequence[int] = AE_LAYERS, frontend: str = "dcase") -> None:
        super().__init__(frontend)
        self.net = _mlp((INPUT_DIM, *layers, INPUT_DIM), batch_norm=True)
        self.bottleneck_end = _bottleneck_end(layers, batch_norm=True)
        self.bottleneck_width = min(layers)
        for module in self.net:
            if isinstance(module, nn.Linear):  # Keras defaults: Glorot-uniform, zero bias
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])  # (N, 640): BatchNorm1d over the 640 features
        return self.net(flat).reshape(x.shape)


class IDNN(FrameModel):
    """Interpolation DNN: ``(..., 640)`` -> predicted centre frame ``(..., 128)``."""

    def __init__(self, layers: Sequence[int] = IDNN_LAYERS, frontend: str = "dcase") -> None:
        super().__init__(frontend)
        self.net = _mlp((INPUT_DIM - N_MELS, *layers, N_MELS), batch_norm=False)
        self.bottleneck_end = _bottleneck_end(layers, batch_norm=False)
        self.bottleneck_width = min(layers)

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """The 4 outer frames of ``x (..., 640)``: ``(..., 512)``."""
        return torch.cat([x[..., :CENTRE.start], x[..., CENTRE.stop:]], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.net_input(x))  # (..., 128)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., CENTRE]  # (..., 128)


def _spec(name: str, paper_params: int | None, description: str) -> ModelSpec:
    return ModelSpec(
        name=name, family=name, input_kind="logmel_frames", objective="reconstruction",
        input_shape=(313 - CONTEXT + 1, INPUT_DIM), paper_params=paper_params,
        description=description,
    )


# ``num_classes`` is accepted (and ignored) so that every model can be built with one call.


@register_model(_spec("idnn", 46_000, "IDNN (Suefusa et al. 2020): interpolate the centre frame"))
def idnn(num_classes: int | None = None, layers: Sequence[int] = IDNN_LAYERS,
         frontend: str = "dcase") -> IDNN:
    return IDNN(layers, frontend)


@register_model(_spec("dcase2020_ae", None, "DCASE 2020 Task 2 baseline dense autoencoder"))
def dcase2020_ae(num_classes: int | None = None, layers: Sequence[int] = AE_LAYERS,
                 frontend: str = "dcase") -> DenseAutoencoder:
    return DenseAutoencoder(layers, frontend)
