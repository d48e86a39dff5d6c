"""A torch CNN from a MetaQNN layer list, with the paper's dropout scheme.

Convolutions use same padding and ReLU; pooling is max pooling that rounds the output size up;
fully connected layers use ReLU. `SM(n)` is a linear layer to the n classes (the softmax is in
the loss); `GAP(n)` is a 1x1 convolution to the classes and a global average. Dropout follows
every two non-terminal layers: the i-th of n dropout layers drops i / (2n), so the deepest
features are dropped at 0.5.
"""

import torch
from torch import nn

from rapid.sweeps.metaqnn_space import parse_layer, pooled_size


def dropout_rates(layers: int) -> list[float]:
    """Rates of the dropout layers a network with `layers` non-terminal layers gets."""
    count = layers // 2
    return [(i + 1) / (2 * count) for i in range(count)]


def build_cnn(net: list[str], input_shape: tuple[int, int, int]) -> nn.Sequential:
    """The network for `net` on images of `input_shape` (channels, height, width)."""
    layers = [parse_layer(text) for text in net]
    body = [layer for layer in layers if not layer.terminal]
    rates = iter(dropout_rates(len(body)))
    channels, size, flat = input_shape[0], input_shape[1], 0  # flat: width once flattened (0: still spatial)
    modules: list[nn.Module] = []

    def flatten() -> int:
        if not flat:
            modules.append(nn.Flatten())
        return flat or channels * size * size

    for index, layer in enumerate(layers):
        if layer.kind == "C":
            filters, field, stride = layer.params
            modules += [nn.Conv2d(channels, filters, field, stride, padding=field // 2), nn.ReLU()]
            channels, size = filters, -(-size // stride)
        elif layer.kind == "P":
            modules.append(nn.MaxPool2d(*layer.params, ceil_mode=True))
            size = pooled_size(size, *layer.params)
        elif layer.kind == "FC":
            modules += [nn.Linear(flatten(), layer.params[0]), nn.ReLU()]
            flat = layer.params[0]
        elif layer.kind == "GAP":
            modules += [nn.Conv2d(channels, layer.params[0], 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            flat = layer.params[0]
        elif index == 0 or layers[index - 1].kind != "GAP":  # SM: the classifier, unless GAP gave the logits
            modules.append(nn.Linear(flatten(), layer.params[0]))
        if not layer.terminal and (index + 1) % 2 == 0:
            modules.append(nn.Dropout(next(rates)))
    return nn.Sequential(*modules)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_check(model: nn.Module, input_shape: tuple[int, int, int], classes: int) -> None:
    """A network whose output is not (batch, classes) is a ValueError, before any training."""
    with torch.no_grad():
        out = model(torch.zeros(2, *input_shape, device=next(model.parameters()).device))
    if out.shape != (2, classes):
        raise ValueError(f"the network outputs {tuple(out.shape[1:])}, expected ({classes},)")
