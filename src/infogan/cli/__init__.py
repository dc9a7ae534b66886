"""The `infogan` command: one module per subcommand, each with add_parser() and run().

The subcommands parse arguments and print; what they do is in the library (trainer.train,
metrics.evaluate, study.sweep, baseline.baseline, export.export, viz, the web app, and the
speed tooling beside it in infogan_benchmarks), so every one is callable from Python too.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InfoGANError, Stopped
from . import (baseline, bench, data, evaluate, export, infer, interpolate, presets, sample, serve, sweep, train,
               traverse)

COMMANDS = [train, evaluate, sweep, baseline, sample, traverse, interpolate, infer, serve, export, bench, data,
            presets]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="infogan", description="InfoGAN: interpretable latent codes without labels.")
    p.add_argument("--version", action="version", version=f"infogan {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in COMMANDS:
        mod.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except InfoGANError as e:
        print(f"infogan: {'' if isinstance(e, Stopped) else 'error: '}{e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except OSError as e:  # the machine's problem, not ours: a full or read-only disk, a busy port
        print(f"infogan: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("infogan: interrupted (finished checkpoints are kept; resume with --resume latest)", file=sys.stderr)
        return 130
