"""Small building blocks shared by the model families.

``SeparableConv`` follows the block of the PyPI package ``separableconv-torch`` (defaults) that
the official code of Neri & Carli (2024) uses: depthwise conv -> BN -> ReLU -> pointwise 1x1
conv -> BN -> ReLU. ``PlainConv`` is its non-factorised counterpart (one ordinary conv -> BN ->
ReLU) used by the "without separable convolutions" ablation, so that only the factorisation
changes between the two.
"""

from __future__ import annotations

from torch import nn

__all__ = ["SeparableConv", "PlainConv", "conv_bn_relu"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}


def _check_dim(dim: int) -> None:
    if dim not in _CONV:
        raise ValueError(f"convolution dim must be 1 or 2, got {dim}")


class SeparableConv(nn.Sequential):
    """Depthwise (``groups=in_ch``) conv -> BN -> ReLU -> pointwise 1x1 conv -> BN -> ReLU."""

    def __init__(
        self,
        dim: int,
        in_ch: int,
        out_ch: int,
        kernel_size: int | tuple[int, ...],
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        _check_dim(dim)
        conv, norm = _CONV[dim], _NORM[dim]
        super().__init__()
        self.depthwise = conv(in_ch, in_ch, kernel_size, stride, padding, groups=in_ch, bias=bias)
        self.bn_dw = norm(in_ch)
        self.act_dw = nn.ReLU(inplace=True)
        self.pointwise = conv(in_ch, out_ch, 1, bias=bias)
        self.bn_pw = norm(out_ch)
        self.act_pw = nn.ReLU(inplace=True)


class PlainConv(nn.Sequential):
    """Ordinary conv -> BN -> ReLU (same interface as :class:`SeparableConv`)."""

    def __init__(
        self,
        dim: int,
        in_ch: int,
        out_ch: int,
        kernel_size: int | tuple[int, ...],
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        _check_dim(dim)
        super().__init__()
        self.conv = _CONV[dim](in_ch, out_ch, kernel_size, stride, padding, bias=bias)
        self.bn = _NORM[dim](out_ch)
        self.act = nn.ReLU(inplace=True)


def conv_bn_relu(
    dim: int,
    in_ch: int,
    out_ch: int,
    kernel_size: int | tuple[int, ...],
    stride: int = 1,
    padding: int = 0,
    bias: bool = True,
    separable: bool = True,
) -> nn.Module:
    """:class:`SeparableConv` when ``separable`` else :class:`PlainConv`."""
    block = SeparableConv if separable else PlainConv
    return block(dim, in_ch, out_ch, kernel_size, stride, padding, bias)
