"""Noisy-ArcMix: STgram-MFN with a temporal-attention channel, trained with a mixup ArcFace loss.

S. Choi and J.-W. Choi, "Noisy-ArcMix: Additive Noisy Angular Margin Loss Combined with Mixup
for Anomalous Sound Detection", ICASSP 2024 (official code: soonhyeon/Noisy-ArcMix,
``model/net.py``, class ``TASTgramMFN``).

Waveform ``(B, 160000)`` -> ``[Tgram, log-Mel, TAgram]`` stacked ``(B, 3, 128, 313)`` ->
MobileFaceNet (STgram-MFN's shallow table) ``(B, 128)`` -> ArcFace(s = 30, m = 0.7) ``(B, 41)``.

- **Tgram**: STgram-MFN's (:class:`.frontends.Tgram`), on the waveform.
- **TAgram** (:class:`TAgram`, no parameters): each frame of the log-Mel times
  ``sigmoid(max over Mel bins + mean over Mel bins)`` of that frame.
- **log-Mel**: Noisy-ArcMix's own (:class:`benchmark.features.baselines.NoisyArcMixLogMel`:
  n_fft 2048, Slaney scale and norm, ``10 log10(x + 2.2e-16)``).
- **Mixup**, as its code mixes (``utils.py``, ``mixup_data``): the waveform (for the Tgram) and
  the log-Mel in dB (for the log-Mel and TAgram channels) with the same lambda and permutation;
  the TAgram is computed from the mixed log-Mel. The loss (margin at the unmixed label only) is
  :func:`benchmark.training.losses.noisy_arcmix_loss`, selected by ``models.noisy_arcmix.loss``.

Two registered variants:

- ``noisy_arcmix`` (faithful): the above, trained with its own recipe (``params.yaml``);
- ``noisy_arcmix_equal`` (equal terms): the proposed model's log-Mel, waveform mixup and
  training recipe, to separate the architecture from its front end and recipe.

Parameters: Tgram 280,406 + MobileFaceNet on 3 channels 870,912 + ArcFace 5,248 = 1,156,566
(the code's count without its unused ``fc_out = Linear(128, 41)``, 5,289, as in :mod:`.stgram`);
the paper's Table 2 reports 1.1 M.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.architectures.classifier import IDClassifier
from benchmark.architectures.frontends import FRONTEND_BRANCHES, Tgram, mix_pairs
from benchmark.architectures.heads import ArcFace
from benchmark.architectures.mobilefacenet import MobileFaceNet
from benchmark.architectures.registry import ModelSpec, register_model

__all__ = ["TAgram", "TAStgramFrontend", "build_noisy_arcmix"]


class TAgram(nn.Module):
    """Temporal attention without parameters: log-Mel ``(B, F, T)`` -> ``(B, F, T)``.

    ``weight[t] = sigmoid(max_f x[f, t] + mean_f x[f, t])``; output ``x[f, t] * weight[t]``.
    """

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        pooled = logmel.amax(dim=-2, keepdim=True) + logmel.mean(dim=-2, keepdim=True)  # (B, 1, T)
        return torch.sigmoid(pooled) * logmel  # (B, F, T)


class TAStgramFrontend(nn.Module):
    """Waveform ``(B, L)`` -> ``[Tgram, log-Mel, TAgram]`` ``(B, 3, 128, T)``.

    ``mix_features``: under mixup the log-Mel is mixed in dB (Noisy-ArcMix's code) rather than
    computed from the mixed waveform (``False``: the proposed model's waveform mixup).
    """

    out_channels = 3

    def __init__(self, logmel: str = "noisy_arcmix_logmel", mix_features: bool = True) -> None:
        super().__init__()
        if logmel not in ("noisy_arcmix_logmel", "logmel", "stgram_logmel"):
            raise ValueError(f"TAStgramFrontend: unknown logmel {logmel!r}")
        self.tgram = Tgram()
        self.logmel = FRONTEND_BRANCHES[logmel](True)
        self.tagram = TAgram()
        self.mix_features = mix_features

    def forward(self, wave: torch.Tensor, perm: torch.Tensor | None = None,
                lam: float = 1.0) -> torch.Tensor:
        mixed = mix_pairs(wave, perm, lam)  # (B, L)
        # (B, 128, T): Noisy-ArcMix mixes the log-Mel in dB; else the log-Mel of the mixed wave
        mel = (mix_pairs(self.logmel(wave), perm, lam) if self.mix_features
               else self.logmel(mixed))
        return torch.stack([self.tgram(mixed), mel, self.tagram(mel)], dim=1)  # (B, 3, 128, T)

    def extra_repr(self) -> str:
        return f"mix_features={self.mix_features}"


def build_noisy_arcmix(
    num_classes: int = 41,
    embedding_dim: int = 128,
    s: float = 30.0,
    m: float = 0.7,
    logmel: str = "noisy_arcmix_logmel",
    mix_features: bool = True,
) -> IDClassifier:
    """Noisy-ArcMix's TASTgramMFN: ``[Tgram, log-Mel, TAgram]`` -> MobileFaceNet -> ArcFace."""
    frontend = TAStgramFrontend(logmel, mix_features)
    backbone = MobileFaceNet(frontend.out_channels, embedding_dim)
    head = ArcFace(embedding_dim, num_classes, s=s, m=m)
    return IDClassifier(frontend, backbone, head, embedding_dim, num_classes)


register_model(ModelSpec(
    name="noisy_arcmix", family="noisy_arcmix", input_kind="waveform",
    objective="classification", input_shape=(160_000,), paper_params=1_100_000,
    description="Noisy-ArcMix (Choi & Choi 2024), faithful: its own log-Mel + Tgram + TAgram, "
    "MobileFaceNet, ArcFace s=30, log-Mel mixed in dB",
))(build_noisy_arcmix)


@register_model(ModelSpec(
    name="noisy_arcmix_equal", family="noisy_arcmix", input_kind="waveform",
    objective="classification", input_shape=(160_000,), paper_params=None,
    description="Noisy-ArcMix on equal terms: the proposed model's log-Mel, waveform mixup "
    "(and training recipe)",
))
def build_noisy_arcmix_equal(**kwargs) -> IDClassifier:
    """Noisy-ArcMix with the proposed model's log-Mel and waveform mixup."""
    return build_noisy_arcmix(**{"logmel": "logmel", "mix_features": False, **kwargs})
