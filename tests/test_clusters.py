"""clusters/: launcher YAMLs pass Ray's own cluster schema; KubeRay manifests, the image and the extras match the pins."""

import copy
import re
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from conftest import ROOT, VENV_BIN
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTERS = ROOT / "clusters"
LAUNCHER = sorted(CLUSTERS.glob("*.yaml"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_launcher_yamls_for_local_aws_gcp() -> None:
    assert [p.stem for p in LAUNCHER] == ["aws", "gcp", "local"]


@pytest.mark.parametrize("path", LAUNCHER, ids=lambda p: p.stem)
def test_launcher_yaml_passes_rays_cluster_schema(path: Path) -> None:
    config = load(path)
    validate_config(prepare_config(copy.deepcopy(config)))
    broken = {**config, "max_worker": 3}
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(broken))


@pytest.mark.parametrize("path", LAUNCHER, ids=lambda p: p.stem)
def test_launcher_starts_ray_with_token_auth_and_metrics(path: Path) -> None:
    config = load(path)
    for commands in (config["head_start_ray_commands"], config["worker_start_ray_commands"]):
        start = next(c for c in commands if "ray start" in c)
        assert start.startswith("RAY_AUTH_MODE=token ") and "--metrics-export-port=" in start
    assert "~/.ray/auth_token" in config["file_mounts"]


@pytest.mark.parametrize("name", ["aws", "gcp"])
def test_cloud_clusters_have_autoscaled_cpu_and_gpu_groups(name: str) -> None:
    types = load(CLUSTERS / f"{name}.yaml")["available_node_types"]
    assert types["cpu_env_runners"]["min_workers"] == 0 < types["cpu_env_runners"]["max_workers"]
    assert types["gpu_learners"]["min_workers"] == 0 < types["gpu_learners"]["max_workers"]
    assert types["head"]["resources"] == {"CPU": 0}


@pytest.mark.parametrize("name", ["raycluster", "rayjob"])
def test_kuberay_manifests(name: str) -> None:
    manifest = load(CLUSTERS / "kuberay" / f"{name}.yaml")
    assert manifest["apiVersion"] == "ray.io/v1"
    spec = manifest["spec"] if manifest["kind"] == "RayCluster" else manifest["spec"]["rayClusterSpec"]
    assert spec["rayVersion"] == ray.__version__
    assert spec["authOptions"] == {"mode": "token"}
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"name": "dashboard", "containerPort": 8265} in [{k: p[k] for k in ("name", "containerPort")} for p in head["ports"]]
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    gpu = groups["gpu-learners"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpu["nvidia.com/gpu"] == "1" and "nvidia.com/gpu" not in groups["cpu-env-runners"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    if manifest["kind"] == "RayJob":
        assert manifest["spec"]["entrypoint"].startswith("python -m rapid run jobs/")
        spec_file = manifest["spec"]["entrypoint"].split()[4]
        assert (ROOT / spec_file).is_file()


def test_image_uses_the_pinned_ray() -> None:
    dockerfile = (CLUSTERS / "Dockerfile").read_text()
    assert re.search(rf"^FROM rayproject/ray:{re.escape(ray.__version__)}-py311", dockerfile, re.M)
    assert "openjdk-8" in dockerfile and "minecraft" in dockerfile


def test_every_extra_installs_from_the_package_registry() -> None:
    """No extra names a git URL (an offline machine reaches none): pip resolves each from the registry."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name, requirements in extras.items():
        assert not [r for r in requirements if "@" in r or "://" in r], name
        resolved = subprocess.run([str(VENV_BIN / "pip"), "install", "--dry-run", "--quiet", "--disable-pip-version-check", *requirements],
                                  capture_output=True, text=True, timeout=300)
        assert resolved.returncode == 0, f"extra {name}: {resolved.stderr[-2000:]}"
