"""The MineRL backend without MineRL (which cannot be built here): its action and observation
mapping against MineRL 1.0.2's documented spaces, the worker's wire format, the backend's lazy
start and `minerl_missing`, and one protocol test of the real worker script against a MineRL-shaped
stand-in."""

import io
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

from rapid.envs.minecraft.minerl import MineRLBackend, MineRLSettings, minerl_missing
from rapid.envs.minecraft.minerl_actions import (
    MINERL_ACTIONS,
    MINERL_INVENTORY,
    MINERL_ITEMS,
    action_dict,
    frame,
    inventory_vector,
)
from rapid.envs.minecraft.minerl_worker import encode_message, read_message

# MineRL 1.0.2's action space for its human-control envs: a Discrete(2) per value of KEYMAP
# (minerl/herobraine/hero/mc.py) and the camera Box (handlers/agent/actions/camera.py), written out
# here from MineRL's source rather than from the module under test.
KEYMAP_VALUES = ["forward", "left", "back", "right", "jump", "inventory", "drop", "swapHands", "sneak", "sprint",
                 "attack", "use", "pickItem", *(f"hotbar.{i}" for i in range(1, 10)), "ESC"]
MINERL_ACTION_SPACE = spaces.Dict({**{key: spaces.Discrete(2) for key in KEYMAP_VALUES},
                                   "camera": spaces.Box(low=-180.0, high=180.0, shape=(2,), dtype=np.float32)})
POV_SHAPE = (360, 640, 3)  # MineRLObtainDiamondShovel-v0's resolution [640, 360]
WOOD = ["oak", "spruce", "birch", "jungle", "acacia", "dark_oak"]
# A slice of FlatInventoryObservation(ALL_ITEMS): Minecraft 1.16 names, int32 scalar counts.
OBSERVED_ITEMS = ["air", "dirt", "stone", "cobblestone", "crimson_planks", "stripped_oak_log", "stick", "crafting_table",
                  "wooden_pickaxe", "iron_ore", "iron_ingot", "diamond", "diamond_shovel",
                  *(f"{wood}_log" for wood in WOOD), *(f"{wood}_planks" for wood in WOOD)]


def minerl_obs(counts: dict[str, int], fill: int = 0) -> dict:
    """An observation as MineRL gives it: every observed item present, counts as numpy int32 scalars."""
    inventory = {name: np.array(counts.get(name, 0), dtype=np.int32) for name in OBSERVED_ITEMS}
    return {"pov": np.full(POV_SHAPE, fill, dtype=np.uint8), "inventory": inventory}


def as_minerl(action: dict) -> dict:
    return {**action, "camera": np.asarray(action["camera"], dtype=np.float32)}


def test_every_action_is_a_complete_valid_minerl_action() -> None:
    assert len(set(MINERL_ACTIONS)) == len(MINERL_ACTIONS) == 24
    for index, name in enumerate(MINERL_ACTIONS):
        action = action_dict(index, camera_step=15.0)
        assert set(action) == set(MINERL_ACTION_SPACE.spaces), name
        assert MINERL_ACTION_SPACE.contains(as_minerl(action)), name
        assert all(type(value) is int for key, value in action.items() if key != "camera"), "JSON-ready ints"
        assert all(type(value) is float for value in action["camera"]), "JSON-ready floats"
    noop = action_dict(MINERL_ACTIONS.index("noop"))
    assert not any(value for key, value in noop.items() if key != "camera") and noop["camera"] == [0.0, 0.0]
    assert action_dict(MINERL_ACTIONS.index("jump_forward")) == {**noop, "forward": 1, "jump": 1}
    assert action_dict(MINERL_ACTIONS.index("hotbar_7"))["hotbar.7"] == 1
    # [pitch, yaw]: pitch grows looking down, yaw turning right.
    assert action_dict(MINERL_ACTIONS.index("camera_down"), 10.0)["camera"] == [10.0, 0.0]
    assert action_dict(MINERL_ACTIONS.index("camera_left"), 10.0)["camera"] == [0.0, -10.0]
    with pytest.raises(ValueError, match="out of range"):
        action_dict(len(MINERL_ACTIONS))


def test_items_and_inventory_order() -> None:
    assert MINERL_ITEMS[:12] == ("log", "planks", "stick", "crafting_table", "wooden_pickaxe", "cobblestone",
                                 "stone_pickaxe", "furnace", "iron_ore", "iron_ingot", "iron_pickaxe", "diamond")
    assert set(MINERL_ITEMS) <= set(MINERL_INVENTORY)
    counts = inventory_vector(minerl_obs({"oak_log": 2, "birch_log": 3, "stripped_oak_log": 9, "jungle_planks": 4,
                                          "crimson_planks": 7, "cobblestone": 5, "air": 30})["inventory"])
    assert counts.dtype == np.float32 and counts.shape == (len(MINERL_INVENTORY),)
    expected = dict.fromkeys(MINERL_INVENTORY, 0.0) | {"log": 5.0, "planks": 4.0, "cobblestone": 5.0}
    assert dict(zip(MINERL_INVENTORY, counts.tolist(), strict=True)) == expected, "the six woods MineRL rewards"


def test_frame_image_and_obtained_items() -> None:
    start = inventory_vector(minerl_obs({"stick": 3})["inventory"])
    first = frame(minerl_obs({"stick": 3}, fill=7), start, frozenset(), False, image_size=64)
    assert first.image.shape == (64, 64, 3) and first.image.dtype == np.uint8 and (first.image == 7).all()
    assert first.obtained == frozenset() and first.over is False, "counts present at the start are not obtained"
    got = frame(minerl_obs({"stick": 3, "spruce_log": 1}), start, first.obtained, False, 64)
    assert got.obtained == {"log"}
    used = frame(minerl_obs({"stick": 3, "spruce_planks": 4}), start, got.obtained, True, 64)
    assert used.obtained == {"log", "planks"}, "a count that rose and fell stays obtained"
    assert (used.over, used.cut) == (False, True), "MineRL's done without the shovel is its step limit"
    more = frame(minerl_obs({"stick": 4}), start, used.obtained, False, 64)
    assert more.obtained == {"log", "planks", "stick"}, "an item held at the start, once its count rises"
    native = frame({"pov": np.zeros((64, 64, 3), np.uint8), "inventory": {}}, start, frozenset(), False, 64)
    assert native.image.shape == (64, 64, 3) and native.inventory.sum() == 0


def test_wire_format_round_trips_images_and_plain_values_without_pickles() -> None:
    pov = np.random.default_rng(0).integers(0, 256, POV_SHAPE, dtype=np.uint8)
    other = np.arange(6, dtype=">f8").reshape(2, 3)
    header = {"inventory": {"oak_log": 3, "diamond": 1}, "reward": 1.5, "done": False, "error": None, "list": [1, "a"]}
    data = encode_message(header, {"pov": pov, "other": other})
    assert b"pickle" not in data and b"numpy" not in data
    got_header, arrays = read_message(io.BytesIO(data))
    assert got_header == header
    assert arrays["pov"].dtype == np.uint8 and np.array_equal(arrays["pov"], pov)
    assert arrays["other"].dtype == np.dtype(">f8") and np.array_equal(arrays["other"], other)
    arrays["pov"][0, 0, 0] = 1  # writable
    stream = io.BytesIO(encode_message({"a": 1}) + encode_message({"b": 2}, {"x": np.zeros((0, 3), np.int32)}))
    assert read_message(stream)[0] == {"a": 1}
    assert read_message(stream)[1]["x"].shape == (0, 3)
    with pytest.raises(EOFError):
        read_message(stream)
    with pytest.raises(EOFError):
        read_message(io.BytesIO(data[:-1]))
    with pytest.raises(TypeError, match="Python objects"):
        encode_message({}, {"bad": np.array([object()])})


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAPID_MINERL_PYTHON", raising=False)
    settings = MineRLSettings()
    assert (settings.env_name, settings.python, settings.image_size, settings.camera_step) == (
        "MineRLObtainDiamondShovel-v0", "/opt/minerl/bin/python", 64, 15.0)
    monkeypatch.setenv("RAPID_MINERL_PYTHON", "/elsewhere/bin/python")
    assert MineRLSettings().python == "/elsewhere/bin/python"
    assert MineRLSettings(python="/x/python").python == "/x/python"
    with pytest.raises(ValueError, match="image_size"):
        MineRLSettings(image_size=4)
    with pytest.raises(ValueError, match="extra"):
        MineRLSettings(resolution=64)


def test_constructing_the_backend_starts_nothing() -> None:
    backend = MineRLBackend(MineRLSettings(python="/no/such/python", image_size=32))
    assert backend._process is None and not backend.running
    assert backend.action_space == spaces.Discrete(len(MINERL_ACTIONS))
    assert backend.image_shape == (32, 32, 3) and backend.render().shape == (32, 32, 3)
    assert backend.items == MINERL_ITEMS and backend.inventory_items == MINERL_INVENTORY
    backend.close()
    with pytest.raises(RuntimeError, match="before reset"):
        backend.step(0)
    with pytest.raises(RuntimeError, match="no such interpreter.*clusters/Dockerfile"):
        backend.reset(seed=0)


def test_minerl_missing_names_the_cluster_image() -> None:
    message = minerl_missing(MineRLSettings(python=sys.executable))
    assert message is not None and "\n" not in message
    assert f"MineRL is not installed at {sys.executable}" in message and "import minerl" in message
    assert "clusters/Dockerfile" in message and "RAPID_MINERL_PYTHON" in message and "python:" in message
    message = minerl_missing(MineRLSettings(python="/no/such/python"))
    assert message is not None and "\n" not in message
    assert "/no/such/python: there is no such interpreter" in message and "clusters/Dockerfile" in message


STAND_IN_GYM = '''
import os
import sys

import numpy as np

KEYS = {"forward", "left", "back", "right", "jump", "inventory", "drop", "swapHands", "sneak", "sprint", "attack",
        "use", "pickItem", "ESC", "camera"} | {"hotbar.%d" % i for i in range(1, 10)}


class StandInEnv:
    """MineRL-shaped: old gym API, dict actions, pov (360, 640, 3) and int32 inventory counts."""

    def seed(self, seed):
        assert isinstance(seed, int)
        self.world = seed

    def reset(self):
        print("MineRL chatter on sys.stdout")
        os.write(1, b"Java chatter on fd 1\\n")
        self.logs = 0
        return self.observe()

    def step(self, action):
        assert set(action) == KEYS, sorted(action)
        assert action["camera"].dtype == np.float32 and action["camera"].shape == (2,)
        self.logs += action["attack"]
        return self.observe(), float(action["attack"]), self.logs >= 2, {}

    def observe(self):
        pov = np.full((360, 640, 3), self.world % 256, dtype=np.uint8)
        return {"pov": pov, "inventory": {"oak_log": np.array(self.logs, np.int32), "dirt": np.array(0, np.int32)}}

    def close(self):
        print("stand-in closed", file=sys.stderr)


def make(name):
    import minerl

    assert minerl.STAND_IN, "the worker imported rapid's minerl.py instead of MineRL"
    if name != "MineRLObtainDiamondShovel-v0":
        print("stand-in: no env named " + name, file=sys.stderr)
        raise KeyError(name)
    return StandInEnv()
'''


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "gym").mkdir()
    (tmp_path / "gym" / "__init__.py").write_text(textwrap.dedent(STAND_IN_GYM))
    (tmp_path / "minerl").mkdir()
    (tmp_path / "minerl" / "__init__.py").write_text('print("MineRL banner on stdout")\nSTAND_IN = True\n')
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("DISPLAY", ":stand-in")  # the worker starts no Xvfb
    return tmp_path


def test_protocol_with_the_real_worker_script_and_a_minerl_shaped_stand_in(stand_in: Path) -> None:
    """A protocol test, not a MineRL test: MineRL cannot be built here, so the real worker script
    runs under this machine's interpreter against stand-in `gym` and `minerl` modules shaped like
    MineRL 1.0.2's env (which also print to stdout, as MineRL and Java do)."""
    backend = MineRLBackend(MineRLSettings(python=sys.executable, image_size=16))
    first = backend.reset(seed=300)
    assert backend.running and first.image.shape == (16, 16, 3) and (first.image == 300 % 256).all()
    assert first.obtained == frozenset() and not first.over
    attack = MINERL_ACTIONS.index("attack")
    assert backend.step(MINERL_ACTIONS.index("camera_up")).obtained == frozenset()
    got = backend.step(attack)
    assert got.obtained == {"log"} and got.inventory[MINERL_INVENTORY.index("log")] == 1.0
    assert backend.step(attack).cut, "the stand-in ends its episode at its step limit"
    assert backend.render().shape == (360, 640, 3)
    process = backend._process
    backend.close()
    assert process.returncode == 0 and not backend.running
    assert "stand-in closed" in "\n".join(backend._stderr) and "Java chatter on fd 1" in "\n".join(backend._stderr)

    broken = MineRLBackend(MineRLSettings(python=sys.executable, env_name="NoSuchEnv-v0"))
    with pytest.raises(RuntimeError, match=r"(?s)failed on reset.*KeyError: 'NoSuchEnv-v0'.*stand-in: no env named"):
        broken.reset(seed=None)
    assert not broken.running
