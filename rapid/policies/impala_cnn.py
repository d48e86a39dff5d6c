"""The IMPALA CNN (Espeholt et al. 2018, "IMPALA: Scalable Distributed Deep-RL with Importance
Weighted Actor-Learner Architectures", Fig. 3, the "deep" network), as a plain torch module.

It imports nothing from RLlib, so that a workload that only learns from pixels (Video PreTraining's
behavioural cloning) uses the same network as the RL policy in `impala_lstm.py`.
"""

from collections.abc import Sequence

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """relu -> conv3x3 -> relu -> conv3x3, added to the input; channels and size are kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ImpalaStage(nn.Module):
    """conv3x3 -> maxpool 3x3 stride 2 -> two residual blocks: halves height and width (rounding up)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.blocks = nn.Sequential(ResidualBlock(channels), ResidualBlock(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.pool(self.conv(x)))


class ImpalaCNN(nn.Module):
    """Stages of `channels`, then relu, flatten, linear to `out_features`, relu.

    Takes float images (B, C, H, W), already scaled (to [0, 1] for pixels): scaling and the
    channel order belong to the caller, who knows its observations. The image size is fixed at
    construction, since the final linear layer's width depends on it.
    """

    def __init__(
        self, input_shape: tuple[int, int, int], channels: Sequence[int] = (16, 32, 32), out_features: int = 256
    ) -> None:
        super().__init__()
        in_channels, height, width = input_shape
        stages = []
        for out_channels in channels:
            stages.append(ImpalaStage(in_channels, out_channels))
            in_channels = out_channels
            # What MaxPool2d(3, stride=2, padding=1) leaves: ceil(size / 2).
            height, width = (height + 1) // 2, (width + 1) // 2
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(in_channels * height * width, out_features)
        self.out_features = out_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float -> (B, out_features), non-negative."""
        return torch.relu(self.fc(torch.relu(self.stages(images)).flatten(1)))
