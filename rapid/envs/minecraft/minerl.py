"""The MineRL backend: Java Minecraft through MineRL 1.0, run in MineRL's own Python environment.

MineRL pins numpy<1.24 and the old `gym`, which rapid's environment cannot hold, and its install
builds Minecraft with Gradle and Forge from the network. So it lives in an environment of its own
(the cluster image builds it in /opt/minerl) and runs in a worker process, minerl_worker.py, under
that environment's interpreter; this backend talks to the worker over a pipe. What the actions and
observations mean is minerl_actions.py's, which needs no process.
"""

import os
import shutil
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import IO, Any, Literal, NoReturn

import numpy as np
from gymnasium import spaces
from pydantic import Field

from rapid.envs.minecraft.backend import Frame
from rapid.envs.minecraft.minerl_actions import (
    MINERL_ACTIONS,
    MINERL_INVENTORY,
    MINERL_ITEMS,
    action_dict,
    frame,
    inventory_vector,
    noop_action,
)
from rapid.envs.minecraft.minerl_worker import read_message, write_message
from rapid.envs.minecraft.vpt_actions import N_BUTTONS, N_CAMERA, to_minerl
from rapid.platform.plugins import Strict

WORKER = Path(__file__).with_name("minerl_worker.py")
DEFAULT_PYTHON = "/opt/minerl/bin/python"


class MineRLSettings(Strict):
    """Which MineRL env runs, under which interpreter, and what the agent sees of it."""

    env_name: str = Field("MineRLObtainDiamondShovel-v0", min_length=1,
                          description="the MineRL env's gym id (MineRL 1.0 human controls and a full inventory)")
    python: str = Field(default_factory=lambda: os.environ.get("RAPID_MINERL_PYTHON", DEFAULT_PYTHON), min_length=1,
                        description="the interpreter of MineRL's own environment (default: $RAPID_MINERL_PYTHON, "
                                    f"else {DEFAULT_PYTHON}, where clusters/Dockerfile builds it)")
    image_size: int = Field(64, ge=8, le=640, description="the agent's view: MineRL's 640x360 view resized to a square")
    camera_step: float = Field(15.0, gt=0.0, le=180.0, description="degrees each camera macro turns the view (macros only)")
    actions: Literal["macros", "vpt"] = Field(
        "macros", description="macros: a Discrete set of useful actions; vpt: VPT's MultiDiscrete([8641 buttons, 121 camera])"
    )


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def minerl_missing(settings: MineRLSettings, timeout_s: float = 60.0) -> str | None:
    """None when `settings.python` exists and imports minerl; else one line that says why not and
    how to get it (a preflight's message, so the job fails before any worker starts)."""
    python = shutil.which(settings.python)
    how = ("the cluster image (clusters/Dockerfile) brings it, in its /opt/minerl environment; to use another, "
           "point RAPID_MINERL_PYTHON or the env's `python:` setting at that environment's interpreter")
    if python is None:
        return f"MineRL is not installed at {settings.python}: there is no such interpreter; {how}"
    try:
        check = subprocess.run([python, "-c", "import minerl"], capture_output=True, text=True, timeout=timeout_s,
                               cwd="/", stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"MineRL did not import at {python} within {timeout_s:g} s; {how}"
    except OSError as error:
        return f"MineRL is not installed at {python}: it does not run ({error}); {how}"
    if check.returncode != 0:
        return f"MineRL is not installed at {python}: `import minerl` failed ({_one_line(check.stderr)}); {how}"
    return None


class MineRLBackend:
    """The Backend protocol over a MineRL worker. Constructing it starts nothing; the first
    `reset` starts the worker, a failed call ends it (the next `reset` starts a fresh one), and
    `close` ends it. The worker also ends by itself when its stdin closes, with this process."""

    items = MINERL_ITEMS
    inventory_items = MINERL_INVENTORY
    action_names = MINERL_ACTIONS

    def __init__(self, settings: MineRLSettings | None = None, close_timeout_s: float = 30.0) -> None:
        self.settings = settings if settings is not None else MineRLSettings()
        self.action_space = (spaces.MultiDiscrete([N_BUTTONS, N_CAMERA]) if self.settings.actions == "vpt"
                             else spaces.Discrete(len(MINERL_ACTIONS)))
        self.image_shape = (self.settings.image_size, self.settings.image_size, 3)
        self.close_timeout_s = close_timeout_s
        self._process: subprocess.Popen | None = None
        self._stderr: deque[str] = deque(maxlen=40)
        self._drainer: threading.Thread | None = None
        self._start: np.ndarray | None = None
        self._obtained: frozenset[str] = frozenset()
        self._pov: np.ndarray | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def reset(self, seed: int | None) -> Frame:
        header, arrays = self._call({"op": "reset", "seed": None if seed is None else int(seed)})
        self._start = inventory_vector(header["inventory"])
        self._obtained = frozenset()
        return self._frame(header, arrays)

    def step(self, action: Any) -> Frame:
        if self._start is None:
            raise RuntimeError("MineRLBackend.step before reset")
        header, arrays = self._call({"op": "step", "action": self._minerl_action(action)})
        return self._frame(header, arrays)

    def _minerl_action(self, action: Any) -> dict[str, Any]:
        """MineRL's action dict: a macro's, or VPT's (buttons, camera) pair's (camera in degrees)."""
        if self.settings.actions == "vpt":
            buttons, camera = (int(a) for a in action)
            pressed = to_minerl(buttons, camera)
            return {**noop_action(), **pressed, "camera": [float(v) for v in pressed["camera"]]}  # JSON over the pipe
        return action_dict(int(action), self.settings.camera_step)

    def render(self) -> np.ndarray:
        """MineRL's last full-size view (before resizing): a video's frame."""
        if self._pov is None:
            return np.zeros(self.image_shape, dtype=np.uint8)
        return self._pov.copy()

    def close(self) -> None:
        self._end(self.close_timeout_s)

    def _end(self, timeout_s: float) -> int | None:
        """Ask the worker to close its env (MineRL then ends Minecraft), kill it after `timeout_s`;
        its exit status, None if none ran."""
        process, self._process, self._start = self._process, None, None
        if process is None:
            return None
        try:
            if process.poll() is None:
                write_message(process.stdin, {"op": "close"})
                process.stdin.close()
                process.wait(timeout=timeout_s)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        finally:
            for stream in (process.stdin, process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self._drainer is not None:
            self._drainer.join(timeout=2.0)
        return process.returncode

    def _frame(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Frame:
        self._pov = arrays["pov"]
        out = frame({"pov": self._pov, "inventory": header["inventory"]}, self._start, self._obtained,
                    header["done"], self.settings.image_size)
        self._obtained = out.obtained
        return out

    def _launch(self) -> subprocess.Popen:
        command = [self.settings.python, str(WORKER), "--env", self.settings.env_name]
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as error:
            raise RuntimeError(f"the MineRL worker did not start: {minerl_missing(self.settings) or error}") from error
        self._stderr.clear()
        self._drainer = threading.Thread(target=self._drain, args=(process.stderr,), daemon=True,
                                         name="minerl-worker-stderr")
        self._drainer.start()
        return process

    def _drain(self, stream: IO[bytes]) -> None:
        """Keep the worker's stderr flowing (Java is chatty: a full pipe would stall it) and its tail."""
        with stream:
            for line in stream:
                self._stderr.append(line.decode(errors="replace").rstrip())

    def _call(self, request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if self._process is None:
            self._process = self._launch()
        process = self._process
        try:
            write_message(process.stdin, request)
            header, arrays = read_message(process.stdout)
        except (OSError, EOFError, ValueError) as error:
            self._fail(f"the MineRL worker stopped answering ({type(error).__name__}: {error})")
        if "error" in header:
            self._fail(f"the MineRL worker failed on {request['op']}:\n{header['error'].rstrip()}")
        return header, arrays

    def _fail(self, what: str) -> NoReturn:
        """End the worker and raise with the tail of its stderr, where MineRL and Java say why."""
        status = self._end(timeout_s=10.0)
        if status is not None:
            what += f" (its exit status: {status})"
        tail = "\n".join(list(self._stderr)[-20:]) or "(nothing)"
        raise RuntimeError(f"{what}\nthe worker's stderr ended with:\n{tail}")
