"""HTML report (placeholder)."""


def write_report(*args, **kwargs):
    """Not yet."""
    raise NotImplementedError
