"""The `infogan` command: one module per subcommand, each with add_parser() and run().

The subcommands parse arguments and print; what they do is in the library (trainer.train,
metrics.evaluate, study.sweep, baseline.baseline, export.export, viz, the web app, and the
speed tooling beside it in infogan_benchmarks), so every one is callable from Python too.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import sys
from pathlib import Path

from ..errors import InfoGANError, Stopped, out_of_memory
from . import (baseline, bench, data, evaluate, export, infer, interpolate, presets, sample, serve, sweep, train,
               traverse)

COMMANDS = [train, evaluate, sweep, baseline, sample, traverse, interpolate, infer, serve, export, bench, data,
            presets]


class Parser(argparse.ArgumentParser):
    """argparse's parser with its errors in one line (it printed the usage first, several lines
    for a command with many flags); the subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = Parser(prog="infogan", description="InfoGAN: interpretable latent codes without labels.")
    p.add_argument("--version", action="version", version=f"infogan {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in COMMANDS:
        mod.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # said by the subcommand's parser, which names its own flags (argparse's names the top level's)
            command = subcommand(parser, args.command)
            command.error(unrecognized(unknown, command))
    except SystemExit as e:  # --help, --version, or a bad argument (its one line already printed)
        return e.code
    try:
        return args.run(args) or 0
    except InfoGANError as e:
        print(f"infogan: {'' if isinstance(e, Stopped) else 'error: '}{e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except (MemoryError, RuntimeError) as e:
        if (error := out_of_memory(e)) is None:
            raise
        print(f"infogan: error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as e:  # the machine's problem, not ours: a full or read-only disk, a busy port
        print(f"infogan: error: {os_error_message(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("infogan: interrupted (finished checkpoints are kept; resume with --resume latest)", file=sys.stderr)
        return 130


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def unrecognized(unknown: list[str], command: argparse.ArgumentParser) -> str:
    """The error for arguments the command does not take, naming the nearest flag it does take
    (argparse's own names none: it comes from the top-level parser)."""
    flags = [s for a in command._actions for s in a.option_strings]
    near = {u: close[0] for u in unknown if u.startswith("--")
            and (close := difflib.get_close_matches(u.split("=")[0], flags, n=1, cutoff=0.75))}
    hint = ""
    if len(near) == 1:
        hint = f" (did you mean {next(iter(near.values()))}?)"
    elif near:
        hint = " (did you mean " + ", ".join(f"{flag} for {u}" for u, flag in near.items()) + "?)"
    return f"unrecognized arguments: {' '.join(unknown)}{hint}"


def os_error_message(e: OSError) -> str:
    """The OS's words for the path ("/proc/x: No such file or directory", not Python's "[Errno 2] No
    such file or directory: '/proc/x'"), or, where a file stands where a folder must be made
    ("File exists" from mkdir, "Not a directory" below a file), which file is in the way."""
    if e.errno in (errno.EEXIST, errno.ENOTDIR) and e.filename:
        path = Path(e.filename)
        blocker = next((p for p in [path, *path.parents] if p.is_file()), None)
        if blocker == path:
            return f"{path} is a file; a folder is needed there"
        if blocker is not None:
            return f"{blocker} is a file, so no folder can be made below it ({path})"
    if e.strerror and e.filename:
        return f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 else "") + f": {e.strerror}"
    return e.strerror or str(e)
