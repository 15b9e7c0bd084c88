"""memtrace.analyze: memtrace's analyses as Python objects.

The numbers are libanalyze's, the same as the memtrace-* tools print
(tests compare them with each tool's --format json). Tables come as
pandas DataFrames. Errors raise memtrace.analyze.Error (BadInputError,
NotFoundError, FileError), whose path, code, block, offset, line and
column say where.
"""

from memtrace._analyze import BadInputError, Error, FileError, NotFoundError  # noqa: F401
from memtrace._results import Result, table  # noqa: F401

__all__ = ["Error", "BadInputError", "NotFoundError", "FileError", "Result"]

# The core analyses (open, info, frames, columns, diff, leaks) are defined
# above; the rest live in _analyze_extra, one section a concern.
from memtrace import _analyze_extra  # noqa: E402
from memtrace._analyze_extra import *  # noqa: E402,F401,F403

__all__ += _analyze_extra.__all__
