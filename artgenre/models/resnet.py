"""ResNet-18 for 1-channel spectrograms, optionally initialised from ImageNet weights offline.

Pretrained weights are never downloaded: they are read from the file torchvision would use in
its torch hub cache (``torch.hub.get_dir()/checkpoints/resnet18-f37072fd.pth``) or from an
explicit local ``weights_path``. The ImageNet stem expects 3 channels; it is adapted to one by
summing the RGB kernels, because a gray image replicated to RGB, ``(x, x, x)``, gives
``sum_c W_c * x = (sum_c W_c) * x``: exactly the activations of the summed kernel on ``x``.
The 1000-way ``fc`` is dropped and a fresh ``Linear(512, num_classes)`` is trained. No
ImageNet mean/std normalisation is applied; inputs stay in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from artgenre.errors import CheckpointError
from artgenre.models import MODELS


def imagenet_cache_path() -> Path:
    """Where torchvision keeps (and where we look for) ResNet-18 ImageNet weights."""
    from torchvision.models import ResNet18_Weights

    filename = os.path.basename(urlparse(ResNet18_Weights.IMAGENET1K_V1.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _bare_resnet18(num_classes: int) -> nn.Module:
    from torchvision.models import resnet18

    model = resnet18(weights=None)
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.fc = nn.Linear(512, num_classes)
    return model


def _read_state_dict(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(
            f"pretrained ResNet-18 weights not found at {str(path)!r}; nothing is downloaded at run "
            f"time: copy torchvision's resnet18 ImageNet file (resnet18-f37072fd.pth) to "
            f"{str(imagenet_cache_path())!r} or pass weights_path=<local .pth>"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/unsafe files
        raise CheckpointError(f"cannot read pretrained weights {str(path)!r}: {exc}") from None
    if not isinstance(state, dict) or "conv1.weight" not in state:
        raise CheckpointError(
            f"{str(path)!r} is not a torchvision ResNet-18 state dict (no 'conv1.weight' entry)"
        )
    return state


def adapt_imagenet_state(state: dict) -> dict:
    """Turn a torchvision ResNet-18 state dict into one for the 1-channel, headless model.

    ``conv1.weight`` of shape (64, 3, 7, 7) becomes (64, 1, 7, 7) by summing over the RGB axis;
    ``fc.*`` entries are removed (the classification head is re-initialised).
    """
    out = {k: v for k, v in state.items() if not k.startswith("fc.")}
    conv1 = out["conv1.weight"]
    if conv1.ndim != 4 or conv1.shape[1] not in (1, 3):
        raise CheckpointError(
            f"conv1.weight has shape {tuple(conv1.shape)}; expected (64, 3, 7, 7) or (64, 1, 7, 7)"
        )
    out["conv1.weight"] = conv1.sum(dim=1, keepdim=True)
    return out


def load_imagenet_weights(model: nn.Module, *, weights_path=None) -> nn.Module:
    """Copy ImageNet weights (adapted by `adapt_imagenet_state`) into ``model`` in place.

    Raises
    ------
    CheckpointError
        File missing (the message says where to put it), unreadable, or not ResNet-18 shaped.
    """
    path = Path(weights_path) if weights_path is not None else imagenet_cache_path()
    state = adapt_imagenet_state(_read_state_dict(path))
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{str(path)!r} does not fit ResNet-18: {exc}") from None
    if result.unexpected_keys or set(result.missing_keys) != {"fc.weight", "fc.bias"}:
        raise CheckpointError(
            f"{str(path)!r} does not fit ResNet-18: missing {result.missing_keys}, "
            f"unexpected {result.unexpected_keys}"
        )
    return model


@MODELS.register("resnet18")
def make_resnet18(*, num_classes=10, pretrained=False, weights_path=None, input_size=128) -> nn.Module:
    """`MODELS` factory: torchvision ResNet-18 with a 1-channel stem and a new head.

    ``input_size`` is accepted for interface symmetry; the adaptive average pool makes the
    network independent of it. ``weights_path`` implies ``pretrained``.
    """
    model = _bare_resnet18(num_classes)
    if pretrained or weights_path is not None:
        load_imagenet_weights(model, weights_path=weights_path)
    return model


make_resnet18.has_pretrained = True
