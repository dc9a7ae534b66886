"""User-facing errors: the CLI prints these as one line, never as a traceback."""

import re


class InfoGANError(Exception):
    """A problem the user can fix (bad flag, missing data, bad checkpoint)."""


class SpecError(InfoGANError, ValueError):
    """A malformed latent spec string or out-of-range code value."""


class DataError(InfoGANError):
    """Missing, truncated or corrupt dataset files, or no source could provide them."""


class CheckpointError(InfoGANError):
    """A checkpoint or model folder that is missing, corrupt or incompatible."""


class Stopped(InfoGANError):
    """Training stopped on request (SIGINT/SIGTERM) after saving a checkpoint. what: what stopped
    where; resume: the command that goes on from there, kept apart so that a caller (a sweep)
    can name its own."""

    def __init__(self, what: str, exit_code: int, resume: str | None = None):
        super().__init__(what + (f". Resume with: {resume}" if resume else ""))
        self.what, self.exit_code, self.resume = what, exit_code, resume


class Diverged(InfoGANError):
    """A loss or weight became NaN or infinite (and --on-nan said stop, or rollbacks ran out)."""


class OutOfMemory(InfoGANError):
    """The machine (or its GPU) could not allocate what was asked: a batch, network or sample count too large."""

    exit_code = 1  # the machine's limit, as an OSError is


def out_of_memory(e: BaseException) -> OutOfMemory | None:
    """An allocation failure (Python's MemoryError, torch's CPU allocator or CUDA's) as one line; None for
    any other error. torch raises its allocators' failures as RuntimeErrors many lines long, with C++ frames."""
    text = str(e)
    if not (isinstance(e, MemoryError) or "can't allocate memory" in text or "out of memory" in text.lower()):
        return None
    tried = re.search(r"allocate (\d+) bytes", text)  # the CPU allocator's words
    size = (f"{int(tried[1]) / 2**30:.1f} GiB" if tried else
            (re.search(r"[Tt]ried to allocate ([\d.]+ [KMGT]iB)", text) or [None, None])[1])  # CUDA's
    return OutOfMemory(f"out of memory{f' (an allocation of {size})' if size else ''}: a smaller --batch-size, "
                       "--width or --samples needs less")
