"""Errors the user is meant to read.

Every error raised because of *input* (a parameter, a trace file, a design name) is a
:class:`VmapsimError`; the CLI prints its message on one line and exits with status 2, and
the notebooks print it instead of a traceback.  Bugs stay ordinary exceptions.
"""


class VmapsimError(Exception):
    """Base class of errors caused by what the user asked for."""


class ParameterError(VmapsimError, ValueError):
    """A parameter is out of range or not one of the valid names.

    The message always names the parameter and, where there is a finite set, the valid values.
    """


class TraceError(VmapsimError):
    """A trace or snapshot file is malformed: the message names the file, the line and the problem."""

    def __init__(self, path, line, problem):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class CaptureError(VmapsimError):
    """A capture cannot run here (not root, no tracefs, no vmalloc events, ...)."""
