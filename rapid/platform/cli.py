"""`rapid`: run a job spec on an embedded Ray or a cluster, check it, watch it, evaluate and plot it."""

import argparse
import sys
import tempfile
import traceback
from collections.abc import Callable

from rapid.platform.errors import RapidError, quiet_ray_logs
from rapid.platform.registry import ALL

EPILOG = """\
examples:
  rapid run jobs/quickstart.yaml                     train on an embedded Ray
  rapid run jobs/quickstart.yaml --profile smoke --set training.lr=1e-3
  rapid run --resume results/quickstart/2026-11-25_13-00-00
  rapid validate jobs/*.yaml                         check specs without running
  rapid submit jobs/quickstart.yaml --address http://head:8265
  rapid logs JOB_ID --follow                         a submitted job's output
  rapid eval results/quickstart/<timestamp> --video  episodes from the newest checkpoint
  rapid plot results/quickstart/*                    overlay learning curves
"""


def _spec_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="a named partial override from the spec's `profiles:`")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override any key, value read as YAML (repeatable): --set training.lr=3e-4",
    )


def _positive(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _address_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address",
        help="the cluster's dashboard URL (default: $RAY_API_SERVER_ADDRESS, $RAY_ADDRESS, http://127.0.0.1:8265)",
    )


# The exit status of `rapid run` by the run's status; bad input exits 2 before anything runs.
EXIT_STATUS = {"finished": 0, "error": 1, "stalled": 3, "stopped": 130}


def _cmd_run(args: argparse.Namespace) -> int:
    from rapid.platform.launch import launch, resume
    from rapid.platform.runner import print_summary
    from rapid.platform.spec_file import load_spec

    if args.resume:
        if args.spec or args.profile or args.overrides:
            raise RapidError("--resume RUN_DIR continues a run with its saved spec: give no SPEC, --profile or --set")
        summary = resume(args.resume, verbose=args.verbose)
    elif args.spec:
        loaded = load_spec(args.spec, args.profile, args.overrides)
        summary = launch(loaded, verbose=args.verbose)
    else:
        raise RapidError("rapid run needs a SPEC file or --resume RUN_DIR (see `rapid run --help`)")
    print_summary(summary)
    return EXIT_STATUS[summary["status"]]



def _cmd_validate(args: argparse.Namespace) -> int:
    from rapid.platform.preflight import data_elsewhere_note, preflight
    from rapid.platform.spec_file import load_spec, profiles_of

    failed = checked = 0
    for path in args.specs:
        try:
            profiles = [args.profile] if args.profile else [None, *profiles_of(path)]
        except RapidError as err:
            print(f"bad {err}", file=sys.stderr)
            failed, checked = failed + 1, checked + 1
            continue
        for profile in profiles:
            checked += 1
            label = f"{path} --profile {profile}" if profile else str(path)
            try:
                loaded = load_spec(path, profile, args.overrides)
                preflight(loaded.job, path, data_here=False)
                print(f"ok  {label}  ({loaded.job.kind} '{loaded.job.name}')")
                for note in data_elsewhere_note(loaded.job):
                    print(f"    note: {note}")
            except RapidError as err:
                print(f"bad {f'(--profile {profile}) ' if profile else ''}{err}", file=sys.stderr)
                failed += 1
    if failed:
        raise RapidError(f"{failed} of {checked} spec/profile combinations are not valid")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from rapid.platform.registry import BROKEN

    for registry in ALL:
        if args.kind and registry.kind != args.kind:
            continue
        entries = list(registry)
        print(f"{registry.kind}s:")
        width = max(len(e.name) for e in entries) if entries else 0
        for entry in entries:
            print(f"  {entry.name.ljust(width)}  {entry.summary}")
        print()
    for problem in BROKEN.values():
        print(f"broken: {problem}")
    return 0


def _cmd_submit(args: argparse.Namespace) -> int:
    from rapid.platform.preflight import data_elsewhere_note
    from rapid.platform.spec_file import load_spec
    from rapid.platform.submit import submit

    loaded = load_spec(args.spec, args.profile, args.overrides)
    for note in data_elsewhere_note(loaded.job):
        print(f"note: {note}")
    submit(loaded, args.address, follow=args.follow, wheels=args.wheels)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from rapid.platform.submit import job_status

    print(job_status(args.job_id, args.address))
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    from rapid.platform.submit import job_logs

    job_logs(args.job_id, args.address, follow=args.follow)
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    from rapid.platform.submit import stop_job

    stop_job(args.job_id, args.address)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from rapid.platform.evaluate import evaluate_run

    evaluate_run(args.run_dir, episodes=args.episodes, video=args.video, checkpoint=args.checkpoint, seed=args.seed)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from rapid.platform.plot_runs import plot_runs

    print(plot_runs(args.run_dirs, args.metric, args.out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rapid",
        description="rapid: distributed reinforcement learning on Ray. One YAML job spec runs on "
        "your laptop (embedded Ray) and, unchanged, on a Ray cluster.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    p = command("run", _cmd_run, "train a job spec (embedded Ray, or the cluster in $RAY_ADDRESS)")
    p.add_argument("spec", nargs="?", help="a job spec YAML, e.g. jobs/quickstart.yaml")
    _spec_args(p)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or crashed run from its newest checkpoint")
    p.add_argument("--verbose", action="store_true", help="stream Ray worker logs to the terminal")

    p = command("validate", _cmd_validate, "check job specs (each with every profile) without running them")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    _spec_args(p)

    p = command("list", _cmd_list, "print what a spec can name: envs, wrappers, modules, algorithms, sections, callbacks, ...")
    p.add_argument("kind", nargs="?", choices=[registry.kind for registry in ALL])

    p = command("submit", _cmd_submit, "send a job spec to a Ray cluster (Ray Jobs API); prints the job id")
    p.add_argument("spec", help="a job spec YAML inside this repository")
    _spec_args(p)
    _address_arg(p)
    p.add_argument("--follow", action="store_true", help="stream the job's logs until it ends")
    p.add_argument(
        "--wheel", dest="wheels", action="append", default=[], metavar="WHL",
        help="a plug-in package's wheel to install on the cluster's nodes for this job (repeatable)",
    )

    for name, handler, text in (
        ("status", _cmd_status, "a submitted job's status"),
        ("logs", _cmd_logs, "a submitted job's output"),
        ("stop", _cmd_stop, "stop a submitted job"),
    ):
        p = command(name, handler, text)
        p.add_argument("job_id", metavar="JOB_ID")
        _address_arg(p)
        if name == "logs":
            p.add_argument("--follow", action="store_true", help="keep streaming until the job ends")

    p = command("eval", _cmd_eval, "run episodes with a run's newest checkpoint; --video writes an mp4")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--episodes", type=_positive, default=10, help="episodes to run (default 10)")
    p.add_argument("--video", action="store_true", help="render the first episode to RUN_DIR/videos/*.mp4")
    p.add_argument("--checkpoint", help="a checkpoint folder other than the newest")
    p.add_argument("--seed", type=int, default=0)

    p = command("plot", _cmd_plot, "overlay the learning curves of one or more runs in one PNG")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--metric", help="the metric to plot (default: the first run's headline metric)")
    p.add_argument("--out", help="the PNG to write (default: plot_<metric>.png in the current folder)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rapid` console script and of `python -m rapid`."""
    args = build_parser().parse_args(argv)
    if not getattr(args, "verbose", False):
        quiet_ray_logs()
    try:
        return args.handler(args)
    except RapidError as err:
        print(f"rapid: error: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        print("\nrapid: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 (any other error is a bug: say so, keep its traceback)
        print(f"rapid: internal error (a bug in rapid, not in your spec): {type(err).__name__}: {err}", file=sys.stderr)
        print(f"rapid: the full traceback is in {write_traceback(err)}; please attach it to a bug report", file=sys.stderr)
        return 1


def write_traceback(err: BaseException) -> str:
    """Write `err`'s traceback to a new file in the temp folder; its path."""
    with tempfile.NamedTemporaryFile("w", prefix="rapid-bug-", suffix=".txt", delete=False) as out:
        traceback.print_exception(err, file=out)
    return out.name


if __name__ == "__main__":
    sys.exit(main())
