"""User-facing errors: the CLI prints these as one line, never as a traceback."""


class InfoGANError(Exception):
    """A problem the user can fix (bad flag, missing data, bad checkpoint)."""


class SpecError(InfoGANError, ValueError):
    """A malformed latent spec string or out-of-range code value."""


class DataError(InfoGANError):
    """Missing, truncated or corrupt dataset files, or no source could provide them."""


class CheckpointError(InfoGANError):
    """A checkpoint or model folder that is missing, corrupt or incompatible."""
