"""STgram-MFN: spectral-temporal fusion with a MobileFaceNet and ArcFace.

Y. Liu, J. Guan, Q. Zhu and W. Wang, "Anomalous Sound Detection Using Spectral-Temporal
Information Fusion", ICASSP 2022 (official code: liuyoude/STgram-MFN).

Waveform ``(B, 160000)`` -> ``[log-Mel, Tgram]`` stacked ``(B, 2, 128, 313)`` ->
MobileFaceNet (the shallow table of the current official code, same as the proposed model)
``(B, 128)`` -> ArcFace(s = 30, m = 0.7) ``(B, 41)``.

Two registered variants:

- ``stgram_mfn`` (faithful): STgram-MFN's own log-Mel
  (:class:`benchmark.features.baselines.StgramLogMel`: torchaudio ``MelSpectrogram`` defaults,
  no Slaney norm, ``AmplitudeToDB``), trained with its own recipe (``params.yaml``: Adam without
  weight decay, no mixup, cosine schedule stepped from epoch 20);
- ``stgram_mfn_equal`` (equal terms): the proposed model's log-Mel and training recipe, to
  separate the architecture from its recipe.

Parameters: Tgram 280,406 + MobileFaceNet 870,336 + ArcFace 5,248 = 1,155,990, which is 5.1 %
above the paper's rounded "1.1 M" (the official code also builds an unused ``Linear(128, 41)``,
5,289, left out here as in :mod:`.proposed`). The 2022 paper-era table ([2,64,5,2], [4,128,1,2],
[2,128,6,1], [4,128,1,2], [2,128,2,1]) would give about 1.35 M; pass ``table=`` to build it.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmark.architectures.classifier import IDClassifier
from benchmark.architectures.frontends import make_frontend
from benchmark.architectures.heads import ArcFace
from benchmark.architectures.mobilefacenet import MOBILEFACENET_TABLE, MobileFaceNet
from benchmark.architectures.registry import ModelSpec, register_model

__all__ = ["build_stgram_mfn"]


def build_stgram_mfn(
    num_classes: int = 41,
    embedding_dim: int = 128,
    s: float = 30.0,
    m: float = 0.7,
    table: Sequence[Sequence[int]] = MOBILEFACENET_TABLE,
    logmel: str = "stgram_logmel",
) -> IDClassifier:
    """STgram-MFN: ``[log-Mel, Tgram]`` -> MobileFaceNet -> ArcFace.

    ``logmel``: ``stgram_logmel`` (its own front end) or ``logmel`` (the proposed model's).
    """
    frontend = make_frontend((logmel, "tgram"))
    backbone = MobileFaceNet(frontend.out_channels, embedding_dim, table)
    head = ArcFace(embedding_dim, num_classes, s=s, m=m)
    return IDClassifier(frontend, backbone, head, embedding_dim, num_classes)


register_model(ModelSpec(
    name="stgram_mfn", family="stgram_mfn", input_kind="waveform",
    objective="classification", input_shape=(160_000,), paper_params=1_100_000,
    description="STgram-MFN (Liu et al. 2022), faithful: its own log-Mel + Tgram, MobileFaceNet, "
    "ArcFace s=30",
))(build_stgram_mfn)


@register_model(ModelSpec(
    name="stgram_mfn_equal", family="stgram_mfn", input_kind="waveform",
    objective="classification", input_shape=(160_000,), paper_params=None,
    description="STgram-MFN on equal terms: the proposed model's log-Mel (and training recipe)",
))
def build_stgram_mfn_equal(**kwargs) -> IDClassifier:
    """STgram-MFN with the proposed model's log-Mel front end."""
    return build_stgram_mfn(**{"logmel": "logmel", **kwargs})
