"""Bad specs as users write them: every shipped job, mutated key by key, is refused with the key
named (or is still a valid spec), never with a traceback, and nothing is written.

Parametrized over jobs/*.yaml, so a new job file is fuzzed without an edit here. The seed is
fixed for CI; RAPID_FUZZ_SEED=<n> draws other odd numbers and another preflight sample.
"""

import os
import random
import resource
import shutil
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, rapid
from spec_mutations import Mutation, mutations

from rapid.platform import cli
from rapid.platform.errors import RapidError
from rapid.platform.preflight import preflight
from rapid.platform.spec_file import load_spec

JOBS = sorted((ROOT / "jobs").glob("*.yaml"))
SEED = int(os.environ.get("RAPID_FUZZ_SEED", "0"))
# Mutations per job that also go through preflight (which builds the env: about a second each).
PREFLIGHT_SAMPLE = 3


def _named(mutation: Mutation) -> set[str]:
    """Keys a good error may name: any mapping key on the mutated path (a dotted one's first part,
    as a sweep's param_space key or a stage's `set:` key), and, for a dropped key, the keys it held."""
    keys = {str(p).split(".")[0] for p in mutation.path if isinstance(p, str)}
    if isinstance(mutation.dropped, dict):
        keys |= {str(k).split(".")[0] for k in mutation.dropped}
    return keys


def _check(mutation: Mutation, spec: Path, run_preflight: bool) -> str:
    """'accepted' or 'refused'; fails the test on any other outcome."""
    try:
        loaded = load_spec(spec, mutation.profile)
        if run_preflight:
            preflight(loaded.job, spec)
    except RapidError as err:
        names = _named(mutation)
        assert any(name in str(err) for name in names), f"{mutation.what} at {mutation.path}: names none of {names}: {err}"
        assert "Traceback" not in str(err)
        return "refused"
    assert not mutation.must_fail, f"{mutation.what} at {mutation.path} was accepted"
    return "accepted"


@pytest.mark.parametrize("job", JOBS, ids=lambda path: path.stem)
def test_mutated_job_is_refused_with_its_key_named(job: Path, tmp_path: Path) -> None:
    # A copy of jobs/ so a pipeline's stage specs, named relative to it, are found.
    jobs = tmp_path / "jobs"
    shutil.copytree(ROOT / "jobs", jobs)
    original = yaml.safe_load(job.read_text())
    before = sorted(os.listdir(ROOT))
    try:
        preflight(load_spec(job).job, job)
        preflight_ok = True
    except RapidError:
        preflight_ok = False  # its data is not on this machine (CIFAR-10): judge loading only
    found = mutations(original, SEED)
    sample = set(random.Random(SEED).sample(range(len(found)), min(PREFLIGHT_SAMPLE, len(found)))) if preflight_ok else set()
    outcomes = []
    for index, mutation in enumerate(found):
        spec = jobs / job.name
        spec.write_text(yaml.safe_dump(mutation.data, sort_keys=False))
        outcomes.append(_check(mutation, spec, index in sample))
    assert sorted(os.listdir(ROOT)) == before, "validating wrote into the repository"
    assert not (tmp_path / "results").exists()
    assert outcomes.count("refused") >= len(found) // 3, "most mutations of a job should be refused"


def _refused(text: str, tmp_path: Path, name: str = "bad.yaml") -> str:
    spec = tmp_path / name
    spec.write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises(RapidError) as err:
        load_spec(spec)
    return str(err.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "expected a mapping"),
        ("- kind: rllib\n- name: x\n", "expected a mapping"),
        ("kind: [rllib\n", "YAML syntax error"),
        ("kind: rllib\nkind: sweep\n", "appears twice"),
        ("a: " + "[" * 200 + "]" * 200 + "\n", "levels deep"),
        ("description: " + "x" * 20_000 + "\n", "characters"),
        ("a: &a [*a]\n", "contains it"),
        ("kind: rllib\x00\n", "not YAML"),
    ],
    ids=["empty", "a list", "syntax", "repeated key", "deep nesting", "long string", "self alias", "control byte"],
)
def test_garbage_file_is_refused(content: str, expected: str, tmp_path: Path) -> None:
    assert expected in _refused(content, tmp_path)


def test_binary_and_huge_files_are_refused(tmp_path: Path) -> None:
    assert "not a text file" in _refused(bytes(random.Random(SEED).randrange(128, 256) for _ in range(512)), tmp_path)
    assert "at most" in _refused("a: 1\n" * 300_000, tmp_path)


def alias_bomb(levels: int = 10) -> str:
    """'Billion laughs': each line holds ten copies of the one above, 10**levels values in all."""
    lines = ["kind: rllib", "name: bomb", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _child_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (alias_bomb(), "aliases"),
        ((ROOT / "jobs" / "early_stop_replay.yaml").read_text() + "\nnum_samples: 1000\n", "trials"),
    ],
    ids=["alias bomb", "billion-row grid"],
)
def test_explosive_spec_is_refused_fast_and_small(content: str, expected: str, tmp_path: Path) -> None:
    spec = tmp_path / "explosive.yaml"
    spec.write_text(content.replace("grid_range: [0, 1000]", "grid_range: [0, 1000000000]"))
    start = time.monotonic()
    done = rapid("validate", str(spec), timeout=120)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - start < 60
    # The CLI itself (Ray, torch, RLlib imported) peaks near 0.5 GB; expanding either spec would need tens.
    assert _child_peak_rss_mb() < 2_000


def test_bad_spec_exits_2_naming_the_key_and_writes_nothing(tmp_path: Path) -> None:
    done = rapid("run", "jobs/quickstart.yaml", "--set", "training.gamma=5", "--set", f"storage_path={tmp_path}")
    assert done.returncode == 2
    assert "training.gamma" in done.stderr and "[0, 1]" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_internal_error_says_bug_and_keeps_the_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def broken(args: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "_cmd_validate", broken)
    assert cli.main(["validate", "jobs/quickstart.yaml"]) == 1
    err = capsys.readouterr().err
    assert "a bug in rapid" in err and "Traceback" not in err
    saved = Path(err.split("traceback is in ")[1].split(";")[0])
    assert "ZeroDivisionError: a bug" in saved.read_text() and "Traceback" in saved.read_text()
    saved.unlink()
