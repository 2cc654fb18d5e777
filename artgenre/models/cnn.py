"""The seed paper's 4-block convolutional network."""

from __future__ import annotations

import torch
from torch import nn

from artgenre.errors import ParameterError
from artgenre.models import MODELS

FILTERS = (32, 64, 128, 256)


class GenreCNN(nn.Module):
    """Four Conv(3x3)→BN→ReLU→MaxPool(2) blocks (32→64→128→256 filters), then
    Flatten→Linear(·, 512)→ReLU→Dropout(0.5)→Linear(512, num_classes).

    Parameters
    ----------
    num_classes : int
    input_size : int
        Side of the square 1-channel input; sets the width of the first linear layer.
    """

    def __init__(self, *, num_classes: int = 10, input_size: int = 128) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels, side = 1, input_size
        for width in FILTERS:
            blocks += [
                nn.Conv2d(channels, width, kernel_size=3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels, side = width, side // 2
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register("cnn")
def make_cnn(*, num_classes=10, pretrained=False, weights_path=None, input_size=128) -> GenreCNN:
    """`MODELS` factory for `GenreCNN`; it has no pretrained weights."""
    if pretrained or weights_path is not None:
        raise ParameterError(
            f"model 'cnn' has no pretrained weights (pretrained={pretrained!r}, "
            f"weights_path={weights_path!r}); use pretrained=False, or model 'resnet18'"
        )
    return GenreCNN(num_classes=num_classes, input_size=input_size)
