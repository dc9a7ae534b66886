"""Argument helpers shared by the subcommands: training options as flags, and the parsing
of seeds, ranges and code values for the subcommands that read a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import options
from ..errors import SpecError
from ..files import atomic_write
from ..latent import CONT_VALUE_LIMIT
from ..model import InfoGAN

_TYPES = {"int": int, "float": float, "str": str, "int | None": int, "float | None": float, "str | None": str}


def add_options(p: argparse.ArgumentParser, *groups: str, skip: tuple[str, ...] = ()) -> None:
    """A flag for each TrainConfig option in these groups (config.py declares them, with help);
    each defaults to None, meaning "the preset's value"."""
    for f in options(*groups):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        # argparse %-formats help text, and config.py's help is plain prose ("+-10%")
        help_text = default_help(f.metadata["help"], f.default).replace("%", "%%")
        if str(f.type) == "bool":
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            p.add_argument(flag, dest=f.name, type=_TYPES[str(f.type)], default=None, help=help_text,
                           choices=f.metadata["choices"])


def add_threads(p: argparse.ArgumentParser) -> None:
    """--threads for a subcommand that reads many images (beside a sweep that holds the cores)."""
    p.add_argument("--threads", type=thread_count, help="CPU threads (default: torch's choice, one per core)")


def thread_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of threads, 1 or more")
    return int(text)


def use_threads(args) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def default_help(text: str, default) -> str:
    """An option's help with its default: the preset's, else the option's own. An option whose
    own default is None says what it means in its help ("default: torch's choice"), or has none."""
    if default is not None:
        return f"{text} (default: the preset's, else {default})"
    if "default: " in text:
        return text.replace("default: ", "default: the preset's, else ", 1)
    return f"{text} (default: the preset's, if it sets one)"


def given_options(args, *groups: str) -> dict:
    """The TrainConfig options the command line set (those left at None are the preset's)."""
    return {f.name: getattr(args, f.name) for f in options(*groups)
            if f.name != "preset" and getattr(args, f.name, None) is not None}


MODEL_HELP = ("a run folder, its model/, or one of its checkpoints/ (the weights at that step, their average "
              "where the run keeps one, before any relabelling: a run still training can be looked at)")


def load_model(path: str) -> InfoGAN:
    return InfoGAN.from_pretrained(path)


def image_file(text: str) -> str:
    """--out for a picture: a file whose extension PIL can write (checked before any work)."""
    from PIL import Image

    Image.init()  # registers every format PIL has, not only the few imported so far
    fmt = Image.registered_extensions().get(Path(text).suffix.lower())
    if Path(text).is_dir() or fmt not in Image.SAVE:
        raise SpecError(f"--out {text}: expected an image file name such as grid.png (.png, .jpg, .gif, .webp ...)")
    return text


def results_file(text: str, suffixes: tuple[str, ...]) -> Path:
    """--out for results (JSON, CSV): a file name with one of suffixes, not a folder (checked
    before any work, so that nothing is lost to a bad name after it)."""
    if Path(text).is_dir() or Path(text).suffix.lower() not in suffixes:
        raise SpecError(f"--out {text}: the file must end in {' or '.join(suffixes)}")
    return Path(text)


def write_results(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # as sample, export and the run folders do
    atomic_write(path, text)


def parse_range(text: str) -> tuple[float, float, int]:
    """'-2:2:9' -> (start, stop, count)."""
    try:
        a, b, n = text.split(":")
        start, stop, count = float(a), float(b), int(n)
    except ValueError:
        raise SpecError(f"bad range {text!r} (expected START:STOP:COUNT, e.g. -2:2:9)") from None
    if not 2 <= count <= 100:
        raise SpecError(f"range {text!r}: COUNT must be 2..100")
    if not all(abs(v) <= CONT_VALUE_LIMIT for v in (start, stop)):  # (NaN fails too)
        raise SpecError(f"range {text!r}: START and STOP must lie in [-{CONT_VALUE_LIMIT:g}, {CONT_VALUE_LIMIT:g}]")
    return start, stop, count


def parse_codes(model: InfoGAN, pairs: list[str] | None, flag: str = "--fix") -> dict:
    """['c1=3', 'c2=0.5'] -> {'c1': 3, 'c2': 0.5}, checked against the model's spec; the errors
    name the command's flag (sample's --code, traverse's and interpolate's --fix)."""
    codes = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SpecError(f"{flag} {pair!r}: expected NAME=VALUE, e.g. c1=3 or c2=0.5")
        code = model.spec.code(name.strip())
        if code.name in codes:  # (which one was meant? the last silently won)
            raise SpecError(f"{flag} {pair!r}: {code.name} is already fixed to {codes[code.name]:g}; give each code once")
        try:
            codes[code.name] = int(value) if code.kind == "cat" else float(value)
        except ValueError:
            kind = "a class index" if code.kind == "cat" else "a number"
            raise SpecError(f"{flag} {pair!r}: {code.name} takes {kind}") from None
    model.spec.check_values(codes)
    return codes
