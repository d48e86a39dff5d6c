"""The MineRL worker: runs a MineRL env in MineRL's own Python environment and serves rapid's
MineRL backend (rapid/envs/minecraft/minerl.py) over stdin/stdout.

MineRL pins numpy<1.24 and gym<=0.23.1, which rapid's environment cannot hold, so this file is a
standalone script for MineRL's interpreter: standard library, numpy, gym and minerl only, and
Python 3.8 syntax. rapid imports it too, for the wire format (`write_message`, `read_message`),
which therefore lives here once, for both sides.

Wire format, both ways: an 8-byte big-endian length, a JSON header of that length, then the raw
bytes of each array the header lists (name, dtype, shape). Arrays never travel as pickles, whose
numpy 1 and numpy 2 forms differ. Requests: {"op": "reset", "seed": int | null},
{"op": "step", "action": MineRL action dict, camera as a list}, {"op": "close"}. Replies:
{"inventory": {item: count} (nonzero counts only), "reward": float, "done": bool} with the array
`pov`, or {"error": traceback}.

Only the protocol goes to stdout: MineRL, Java and Minecraft print freely, so the worker keeps a
private copy of fd 1 for the protocol and points fd 1 at stderr before importing them. Minecraft
needs an X display: without DISPLAY the worker starts its own Xvfb (`-displayfd` picks a free
one). Not `xvfb-run`: Debian's merges the command's stderr into its stdout, which is the protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import traceback
from typing import Any, BinaryIO

import numpy as np

_LENGTH = struct.Struct(">Q")


def encode_message(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """One message: the header as JSON (plain Python values only) and each array's raw bytes."""
    arrays = arrays or {}
    layout = []
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects, which have no raw bytes to send")
        layout.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape)})
    text = json.dumps({"header": header, "arrays": layout}).encode()
    parts = [_LENGTH.pack(len(text)), text]
    parts.extend(np.ascontiguousarray(array).tobytes() for array in arrays.values())
    return b"".join(parts)


def _read_exactly(stream: BinaryIO, size: int) -> bytearray:
    """`size` bytes from a pipe, which may hand them over in pieces; EOFError if it ends first."""
    data = bytearray(size)
    view = memoryview(data)
    done = 0
    while done < size:
        got = stream.readinto(view[done:])
        if not got:
            raise EOFError(f"the stream ended {done} bytes into a {size}-byte read")
        done += got
    return data


def read_message(stream: BinaryIO) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The next message's header and arrays (writable, in the sender's dtype and shape)."""
    (length,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    message = json.loads(bytes(_read_exactly(stream, length)).decode())
    arrays = {}
    for entry in message["arrays"]:
        dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
        size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        arrays[entry["name"]] = np.frombuffer(_read_exactly(stream, size), dtype=dtype).reshape(shape)
    return message["header"], arrays


def write_message(stream: BinaryIO, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
    stream.write(encode_message(header, arrays))
    stream.flush()


def _reply(obs: dict[str, Any], reward: float, done: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A MineRL observation as plain values: counts as ints (MineRL's are numpy int32 scalars)."""
    inventory = {}
    for name, count in obs["inventory"].items():
        if int(count):
            inventory[name] = int(count)
    header = {"inventory": inventory, "reward": float(reward), "done": bool(done)}
    return header, {"pov": np.asarray(obs["pov"], dtype=np.uint8)}


def _minerl_action(action: dict[str, Any]) -> dict[str, Any]:
    """The JSON action as MineRL takes it: binary keys as ints, `camera` as a float32 array."""
    converted = {key: int(value) for key, value in action.items() if key != "camera"}
    converted["camera"] = np.asarray(action["camera"], dtype=np.float32)
    return converted


def _start_display() -> subprocess.Popen | None:
    """An Xvfb of our own for Minecraft when there is no DISPLAY (None when there is one)."""
    if os.environ.get("DISPLAY"):
        return None
    read_end, write_end = os.pipe()
    try:
        xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                                stdin=subprocess.DEVNULL, stdout=2, stderr=2, pass_fds=(write_end,))
    except OSError as error:
        print(f"minerl_worker: no DISPLAY and no Xvfb ({error}); Minecraft will not start", file=sys.stderr)
        os.close(read_end)
        return None
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as displayfd:
        number = displayfd.readline().strip()
    if not number:
        raise RuntimeError(f"Xvfb exited without a display (exit status {xvfb.wait()})")
    os.environ["DISPLAY"] = ":" + number
    return xvfb


def serve(env_name: str, requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer requests until `close` or the end of `requests`; the env is made at the first reset,
    so that a failing `import minerl` is answered, with its traceback, like any other error."""
    env = None
    try:
        while True:
            try:
                request, _ = read_message(requests)
            except EOFError:
                return
            try:
                if request["op"] == "close":
                    write_message(replies, {})
                    return
                if request["op"] == "reset":
                    if env is None:
                        import gym
                        import minerl  # noqa: F401 (registers the MineRL envs with gym)

                        env = gym.make(env_name)
                    if request.get("seed") is not None:
                        env.seed(int(request["seed"]))
                    header, arrays = _reply(env.reset(), 0.0, False)
                elif request["op"] == "step":
                    if env is None:
                        raise RuntimeError("step before the first reset")
                    obs, reward, done, _ = env.step(_minerl_action(request["action"]))
                    header, arrays = _reply(obs, reward, done)
                else:
                    raise ValueError(f"unknown request {request['op']!r}")
            except Exception:
                header, arrays = {"error": traceback.format_exc()}, {}
            write_message(replies, header, arrays)
    finally:
        if env is not None:
            env.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MineRLObtainDiamondShovel-v0", help="the MineRL env's gym id")
    args = parser.parse_args(argv)
    # Run as a script, this file's folder leads sys.path, and it holds rapid's minerl.py: drop it, so
    # that `import minerl` finds MineRL.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    replies = os.fdopen(os.dup(1), "wb")
    requests = os.fdopen(os.dup(0), "rb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # Java and Minecraft, which inherit fd 0, cannot take the requests
    os.close(devnull)
    xvfb = _start_display()
    try:
        serve(args.env, requests, replies)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()


if __name__ == "__main__":
    main()
