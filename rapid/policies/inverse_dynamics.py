"""VPT's inverse dynamics model (Baker et al. 2022): non-causal, it sees the frames before and after
each action, so it labels actions far better than a policy could predict them.

frames (B, L+1, H, W, C) uint8 -> a 3D convolution over time and space (each frame's features
mix its neighbours') -> the IMPALA CNN per frame -> a transformer over all L+1 frames (no causal
mask) -> for each transition t, the features of frames t and t+1 -> logits of action t: (B, L, A).
"""

import torch
from torch import nn

from rapid.policies.impala_cnn import ImpalaCNN


class InverseDynamicsModel(nn.Module):
    """Predicts the action between every two consecutive frames of a clip."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        n_actions: int,
        cnn_channels: list[int],
        width: int = 256,
        layers: int = 2,
        heads: int = 4,
        temporal_kernel: int = 5,
        max_frames: int = 129,
    ) -> None:
        super().__init__()
        channels, height, image_width = image_shape
        self.frame_shape = (height, image_width, channels)  # the frames it labels, as envs give them
        self.max_frames = max_frames
        self.conv3d = nn.Conv3d(channels, cnn_channels[0], (temporal_kernel, 3, 3), padding=(temporal_kernel // 2, 1, 1))
        self.cnn = ImpalaCNN((cnn_channels[0], height, image_width), cnn_channels, width)
        self.position = nn.Parameter(torch.zeros(max_frames, width))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(2 * width, width), nn.ReLU(), nn.Linear(width, n_actions))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, steps = frames.shape[:2]
        if steps > self.max_frames:
            raise ValueError(f"a clip of {steps} frames is longer than the model's {self.max_frames}")
        x = frames.permute(0, 4, 1, 2, 3).float() / 255.0  # (B, C, T, H, W)
        x = torch.relu(self.conv3d(x)).transpose(1, 2)  # (B, T, C', H, W)
        z = self.cnn(x.reshape(batch * steps, *x.shape[2:])).reshape(batch, steps, -1)
        z = self.transformer(z + self.position[:steps])
        return self.head(torch.cat([z[:, :-1], z[:, 1:]], dim=-1))
