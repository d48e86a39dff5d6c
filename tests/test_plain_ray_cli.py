"""The README's token section, followed word for word with the plain Ray CLI.

A laptop with an empty home sets exactly the variables the README's `export` lines name (parsed
out of README.md, so the test breaks when the README drifts) and runs the README's `ray job`
commands against the session's real head with token authentication on.
"""

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, VENV_BIN, Head, rapid, wait_until

TIMEOUT = 60


def token_section() -> str:
    """The README's **Tokens.** paragraph and its code, up to the next bold paragraph."""
    found = re.search(r"^\*\*Tokens\.\*\*(.*?)^\*\*", (ROOT / "README.md").read_text(), re.S | re.M)
    assert found, "README.md has no **Tokens.** section"
    return found.group(1)


def exports(section: str) -> tuple[dict[str, str], dict[str, str]]:
    """The `export NAME=VALUE` lines, and the alternatives offered in their comments."""
    main, alternatives = {}, {}
    for line in section.splitlines():
        if not line.startswith("    export "):
            continue
        code, _, comment = line.partition("#")
        name, value = code.split(None, 1)[1].strip().split("=", 1)
        main[name] = value
        for alt_name, alt_value in re.findall(r"export (RAY_\w+)=([^\s,]+)", comment):
            alternatives[alt_name] = alt_value
    assert main, "the README's token section has no export lines"
    return main, alternatives


def ray_commands(section: str) -> dict[str, str]:
    """The README's `ray job <verb> ...` lines, by verb."""
    commands = {m.group(1): m.group(0) for m in re.finditer(r"^ {4}ray job (\w+) .*$", section, re.M)}
    assert {"submit", "status", "logs", "list"} <= commands.keys(), commands
    return commands


class Laptop:
    """A client machine: an empty home, a PATH with `ray`, and only the variables it is given."""

    def __init__(self, home: Path, head: Head, token: str, variables: dict[str, str]) -> None:
        self.head = head
        self.env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(home)}
        for name, value in variables.items():
            for placeholder in re.findall(r"<[^>]*>", value):
                assert placeholder in ("<token>", "<file>"), f"unknown placeholder {placeholder} in the README"
            self.env[name] = value.replace("<token>", token).replace("<file>", str(home / "cluster.token"))

    def run(self, command: str, job_id: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
        """A README command line, with the head's dashboard and the job filled in."""
        host_port = self.head.dashboard_url.removeprefix("http://")
        args = shlex.split(command.replace("<head>:8265", host_port).replace("JOB_ID", job_id))
        assert args[0] == "ray"
        return subprocess.run([str(VENV_BIN / "ray"), *args[1:]], env=self.env, cwd=cwd or self.env["HOME"],
                              capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture
def token(ray_head: Head) -> str:
    """What `ray get-auth-token` prints on the head, as the README says."""
    head_home = ray_head.token_file.parent.parent
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(head_home)}
    done = subprocess.run([str(VENV_BIN / "ray"), "get-auth-token"], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=True)
    return done.stdout.strip()


def laptop_home(tmp_path: Path, name: str, token: str) -> Path:
    home = tmp_path / name
    home.mkdir()
    (home / "cluster.token").write_text(token)  # for RAY_AUTH_TOKEN_PATH=<file>; not ~/.ray
    return home


def refused(outcome: subprocess.CompletedProcess) -> bool:
    return outcome.returncode != 0 and "Unauthorized" in outcome.stdout + outcome.stderr


def test_readme_token_section_works_for_the_plain_ray_cli(ray_head: Head, token: str, tmp_path: Path) -> None:
    section = token_section()
    variables, alternatives = exports(section)
    commands = ray_commands(section)
    assert variables.get("RAY_AUTH_MODE") == "token", variables
    laptop = Laptop(laptop_home(tmp_path, "home", token), ray_head, token, variables)

    # The README's submit, with a tiny entrypoint in place of the training run, from a project folder.
    project = tmp_path / "project"
    project.mkdir()
    (project / "hello.py").write_text("print('hello-from-token')\n")
    submit = commands["submit"].split(" -- ", 1)[0] + " -- python hello.py"
    done = laptop.run(submit, cwd=project)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    job_id = re.search(r"Job '(raysubmit_\w+)' submitted successfully", out).group(1)

    def status() -> str | None:
        done = laptop.run(commands["status"], job_id)
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout + done.stderr
        final = {"succeeded": "SUCCEEDED", "failed": "FAILED", "was stopped": "STOPPED"}
        return next((word for said, word in final.items() if f"Job '{job_id}' {said}" in out), None)

    assert wait_until(status, f"job {job_id} still running", TIMEOUT) == "SUCCEEDED"
    logs = laptop.run(commands["logs"], job_id)
    assert logs.returncode == 0 and "hello-from-token" in logs.stdout, logs.stdout + logs.stderr
    listed = laptop.run(commands["list"])
    assert listed.returncode == 0 and job_id in listed.stdout + listed.stderr, listed.stdout + listed.stderr

    # rapid, set up the same way, sees the same job.
    seen = rapid("status", job_id, "--address", ray_head.dashboard_url, env=laptop.env)
    assert seen.returncode == 0 and "SUCCEEDED" in seen.stdout, seen.stdout + seen.stderr

    # The alternatives the README offers: RAY_AUTH_TOKEN_PATH=<file>, or the token in ~/.ray/auth_token.
    for alt_name, alt_value in alternatives.items():
        alt = {k: v for k, v in variables.items() if k != "RAY_AUTH_TOKEN"} | {alt_name: alt_value}
        other = Laptop(laptop_home(tmp_path, f"home_{alt_name}", token), ray_head, token, alt)
        done = other.run(commands["list"])
        assert done.returncode == 0 and job_id in done.stdout + done.stderr, (alt, done.stdout + done.stderr)
    assert "~/.ray/auth_token" in section
    saved = laptop_home(tmp_path, "home_saved", token)
    (saved / ".ray").mkdir()
    (saved / ".ray" / "auth_token").write_text(token)
    done = Laptop(saved, ray_head, token, {"RAY_AUTH_MODE": variables["RAY_AUTH_MODE"]}).run(commands["list"])
    assert done.returncode == 0 and job_id in done.stdout + done.stderr, done.stdout + done.stderr


def test_plain_ray_cli_is_refused_without_the_readme_variables(ray_head: Head, token: str, tmp_path: Path) -> None:
    """Auth is really on: no token is refused, and so is the token without RAY_AUTH_MODE=token (as the README warns)."""
    section = token_section()
    variables, _ = exports(section)
    commands = ray_commands(section)
    bare = Laptop(laptop_home(tmp_path, "bare", token), ray_head, token, {})
    assert refused(bare.run(commands["list"]))
    assert "Without `RAY_AUTH_MODE=token`" in section
    no_mode = {k: v for k, v in variables.items() if k != "RAY_AUTH_MODE"}
    assert no_mode, variables
    assert refused(Laptop(laptop_home(tmp_path, "no_mode", token), ray_head, token, no_mode).run(commands["list"]))
