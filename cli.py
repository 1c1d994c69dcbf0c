"""`planner`: the command line. It only parses, calls the library and formats; each command
group lives in planner/commands/. User errors become a message and an exit code, never a
traceback (unless --debug).

Exit codes: 0 ok; 1 bad input; 2 infeasible plan; 3 solver failure or failed verification; 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

import click

from fleetcore.errors import ConfigError, PlannerError
from planner.commands import LazyGroup


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--debug", is_flag=True, help="Show a traceback on errors (for bug reports).")
@click.version_option(package_name="fleet-planner", prog_name="planner")
@click.pass_context
def planner(ctx: click.Context, debug: bool) -> None:
    """Capacity planner for AI training and serving fleets.

    \b
    Examples:
      planner plan                         # plan the shipped default scenario
      planner topology show multi-dc       # a cluster graph, per datacenter and system
      planner estimate kv --model llama-3.1-405b --tokens 39000 --batch 32
      planner validate my-scenario.yaml
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# Errors writing standard output (a closed pipe, a full disk): one line and exit 1.
STDOUT_ERRNOS = {errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EBADF}


def _stdout_lost(exc: OSError) -> int:
    """Report a failed write to standard output and stop Python's exit-time flush from failing
    again (it would print an "Exception ignored" trace)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    reason = "closed by the reader" if isinstance(exc, BrokenPipeError) else exc.strerror
    click.echo(f"error: cannot write to standard output: {reason}", err=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the group, map PlannerError to its exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if sys.stdout is None:  # started with fd 1 closed: refuse before anything can reuse it
        click.echo("error: standard output is closed; redirect it (e.g. > /dev/null)", err=True)
        return 1
    try:
        planner.main(args=args, prog_name="planner", standalone_mode=False)
        sys.stdout.flush()
    except OSError as exc:
        if debug or exc.errno not in STDOUT_ERRNOS:
            raise
        return _stdout_lost(exc)
    except SystemExit:
        from click.utils import PacifyFlushWrapper

        if isinstance(sys.stdout, PacifyFlushWrapper):  # click's own exit on a broken pipe
            return _stdout_lost(BrokenPipeError(errno.EPIPE, "broken pipe"))
        raise
    except PlannerError as exc:
        if debug:
            raise
        if isinstance(exc, ConfigError):
            click.echo(str(exc), err=True)
            n = len(exc.problems)
            click.echo(f"{n} problem{'s' if n != 1 else ''} in the input.", err=True)
        else:
            click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        # A mistyped option or argument is bad input: exit 1, as for bad YAML (exit 2 is kept
        # for infeasible plans).
        exc.show()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
