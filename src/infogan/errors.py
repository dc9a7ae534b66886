"""User-facing errors: the CLI prints these as one line, never as a traceback."""


class InfoGANError(Exception):
    """A problem the user can fix (bad flag, missing data, bad checkpoint)."""


class SpecError(InfoGANError, ValueError):
    """A malformed latent spec string or out-of-range code value."""


class DataError(InfoGANError):
    """Missing, truncated or corrupt dataset files, or no source could provide them."""


class CheckpointError(InfoGANError):
    """A checkpoint or model folder that is missing, corrupt or incompatible."""


class Stopped(InfoGANError):
    """Training stopped on request (SIGINT/SIGTERM) after saving a checkpoint."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class Diverged(InfoGANError):
    """A loss or weight became NaN or infinite (and --on-nan said stop, or rollbacks ran out)."""
