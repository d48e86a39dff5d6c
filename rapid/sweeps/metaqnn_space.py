"""MetaQNN's state space (Baker et al. 2017): the layers a CNN is built from and what may follow what.

A network is a list of layers in the paper's notation: `C(filters,field,stride)` (convolution,
same padding), `P(field,stride)` (max pooling), `FC(units)`, and a terminal layer, `SM(classes)`
(a linear softmax classifier) or `GAP(classes), SM(classes)` (1x1 convolution to the classes,
global average pooling, softmax). Dropout is not part of the state: the network builder adds it.
`Rules.why_not` is the one place the transition rules live: the searcher masks actions with it
and a spec's hand-written layer list is checked with it.
"""

import math
import re
from dataclasses import dataclass
from typing import Annotated, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, Strict

TERMINAL = ("GAP", "SM")
ARITY = {"C": 3, "P": 2, "FC": 1, "GAP": 1, "SM": 1}
LAYER = re.compile(r"^\s*([A-Z]+)\(\s*(\d+(?:\s*,\s*\d+)*)\s*\)\s*$")


class Layer(NamedTuple):
    kind: str
    params: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.kind}({','.join(map(str, self.params))})"

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL


def parse_layer(text: str) -> Layer:
    """`C(64,3,1)` -> Layer('C', (64, 3, 1)); anything else is a ValueError that says the notation."""
    match = LAYER.match(text) if isinstance(text, str) else None
    kind = match.group(1) if match else None
    params = tuple(int(p) for p in match.group(2).split(",")) if match else ()
    if kind not in ARITY or len(params) != ARITY[kind]:
        raise ValueError(
            f"{text!r} is not a layer; expected C(filters,field,stride), P(field,stride), FC(units), GAP(classes) or "
            'SM(classes) (in a YAML [..] list, quote each layer: "C(64,3,1)")'
        )
    return Layer(kind, params)


class StateSpace(BaseModel):
    """The layers the search may choose and the paper's limits (CIFAR-10 values by default)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    conv_filters: list[int] = Field([64, 128, 256, 512], min_length=1, description="convolution widths")
    conv_fields: list[int] = Field([1, 3, 5], min_length=1, description="convolution receptive fields (stride 1)")
    # YAML gives a pair as a list: read it laxly as a tuple, its numbers still strictly.
    pools: list[Annotated[tuple[int, int], Strict(False)]] = Field(
        [(5, 3), (3, 2), (2, 2)], description="max pooling [field, stride] pairs"
    )
    fc_units: list[int] = Field([512, 256, 128], description="fully connected widths")
    max_fc: int = Field(2, ge=0, description="fully connected layers in a row at most")
    fc_max_size: int = Field(4, ge=1, description="fully connected layers only on a representation this small or smaller")
    max_depth: int = Field(18, ge=1, description="non-terminal layers at most (the paper: 18 CIFAR-10, 12 SVHN)")
    size_bins: list[int] = Field([8, 4], description="representation-size bin edges of the state: (inf,8], (8,4], (4,1]")


@dataclass(frozen=True)
class State:
    """Where a partial network stands: its last layer (None at the start), depth and representation."""

    layer: Layer | None
    depth: int
    size: int
    fc_run: int = 0

    @property
    def terminal(self) -> bool:
        return self.layer is not None and self.layer.terminal


def pooled_size(size: int, field: int, stride: int) -> int:
    """Side length after max pooling without padding, rounding up (Caffe's, as MetaQNN used)."""
    return math.ceil((size - field) / stride) + 1


class Rules:
    """The transition rules for one dataset's image size and class count."""

    def __init__(self, space: StateSpace, image_size: int, classes: int) -> None:
        self.space, self.image_size, self.classes = space, image_size, classes
        self.candidates = [
            *(Layer("C", (f, k, 1)) for f in space.conv_filters for k in space.conv_fields),
            *(Layer("P", tuple(p)) for p in space.pools),
            *(Layer("FC", (u,)) for u in space.fc_units),
            Layer("GAP", (classes,)),
            Layer("SM", (classes,)),
        ]

    def start(self) -> State:
        return State(None, 0, self.image_size)

    def why_not(self, state: State, layer: Layer) -> str | None:
        """Why `layer` may not follow `state`, or None when it may. Widths and fields are free here (a
        hand-written network may use any); the searcher only ever offers the space's candidates."""
        prev = state.layer.kind if state.layer else None
        if state.terminal:
            return "nothing follows a terminal layer"
        if layer.terminal:
            if layer.params != (self.classes,):
                return f"{layer.kind} must have {self.classes} outputs, the dataset's classes"
            return (
                "global average pooling needs a spatial representation, not a fully connected one"
                if (layer.kind == "GAP" and prev == "FC")
                else None
            )
        if state.depth >= self.space.max_depth:
            return f"the network already has max_depth={self.space.max_depth} layers; only GAP or SM may follow"
        if prev == "FC" and layer.kind != "FC":
            return "only fully connected or terminal layers follow a fully connected layer"
        if layer.kind == "C":
            if layer.params[2] != 1 or layer.params[1] % 2 == 0:
                return "convolutions have stride 1 and an odd receptive field (same padding keeps the size)"
            if layer.params[1] > state.size:
                return f"receptive field {layer.params[1]} is larger than the {state.size}x{state.size} representation"
        if layer.kind == "P":
            if layer.params[1] > layer.params[0]:
                return "a pooling stride larger than its field would skip pixels"
            if prev is None:
                return "pooling cannot come first"
            if prev == "P":
                return "pooling cannot follow pooling"
            if layer.params[0] > state.size:
                return f"pooling field {layer.params[0]} is larger than the {state.size}x{state.size} representation"
        if layer.kind == "FC":
            if prev != "FC" and state.size > self.space.fc_max_size:
                limit = self.space.fc_max_size
                return f"fully connected layers need a {limit}x{limit} representation or smaller, not {state.size}x{state.size}"
            if state.fc_run >= self.space.max_fc:
                return f"at most max_fc={self.space.max_fc} fully connected layers in a row"
            if prev == "FC" and layer.params[0] > state.layer.params[0]:
                return "a fully connected layer is no wider than the one before it"
        return None

    def actions(self, state: State) -> list[Layer]:
        """Every layer that may follow `state`: the searcher's action mask."""
        return [layer for layer in self.candidates if self.why_not(state, layer) is None]

    def step(self, state: State, layer: Layer) -> State:
        size = {"P": lambda: pooled_size(state.size, *layer.params), "C": lambda: state.size}.get(layer.kind, lambda: 1)()
        fc_run = state.fc_run + 1 if layer.kind == "FC" else 0
        return State(layer, state.depth + (0 if layer.terminal else 1), size, fc_run)

    def key(self, state: State) -> str:
        """The Q-table's name for a state: its layer, depth, representation-size bin and, after fully
        connected layers, how many came in a row (they allow different actions)."""
        bin_ = sum(state.size < edge for edge in self.space.size_bins)
        return f"{state.layer or 'start'}|{state.depth}|{bin_}|{state.fc_run}"

    def trajectory(self, net: list[str]) -> list[tuple[State, Layer]]:
        """The (state, action) pairs that build `net`, ending with its terminal action; a ValueError
        names the first layer the rules forbid (`net[2] P(2,2): pooling cannot follow pooling`)."""
        layers = [parse_layer(text) for text in net]
        state, steps = self.start(), []
        for index, layer in enumerate(layers):
            problem = self.why_not(state, layer)
            if problem is not None:
                raise ValueError(f"net[{index}] {layer}: {problem}")
            steps.append((state, layer))
            if layer.terminal:
                break
            state = self.step(state, layer)
        else:
            raise ValueError(f"the network must end with SM({self.classes}) or GAP({self.classes}), SM({self.classes})")
        rest = layers[len(steps) :]
        expected = [] if layer.kind == "SM" else [Layer("SM", (self.classes,))]
        if rest != expected:
            ending = ", ".join(map(str, expected)) or "nothing"
            raise ValueError(f"after {layer} the network must end with {ending}, got {', '.join(map(str, rest))}")
        return steps


def full_net(actions: list[Layer]) -> list[str]:
    """The layer list of a trajectory's actions: a GAP terminal is followed by its softmax."""
    last = actions[-1]
    return [str(a) for a in actions] + ([str(Layer("SM", last.params))] if last.kind == "GAP" else [])
