"""Exception classes of shelf-fusion.

Every error the library raises on bad input or failing hardware is one of
these, and its message says *where* (file and line, key path, device) and
*what to do*. Bad arguments to a function stay :class:`ValueError`.

Examples of failures, by class:

* :class:`StoreConfigError` -- ``store.toml:[[cell]] #3 .skus: unknown SKU
  'cola-33'``; a gate polygon with fewer than 3 points.
* :class:`RecordingError` -- ``weights.csv:1042: field 'grams': 'abc' is not
  a number``; time going backwards; a missing required file.
* :class:`DriverError` (in :mod:`drivers.errors`) -- a serial port that
  cannot be opened, a Modbus exception reply.
"""

from __future__ import annotations


class ShelfFusionError(Exception):
    """Base class of every error raised by shelf-fusion."""


class StoreConfigError(ShelfFusionError):
    """``store.toml`` is missing, unreadable or does not follow the spec.

    Attributes:
        path: the file.
        key: the key path inside it, e.g. ``"cell[3].skus"`` (may be empty).
    """

    def __init__(self, path: str, key: str, reason: str):
        self.path = str(path)
        self.key = key
        self.reason = reason
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(where + reason)

    def __reduce__(self):  # picklable (multiprocessing sends errors between processes)
        return type(self), (self.path, self.key, self.reason)


class RecordingError(ShelfFusionError):
    """A recording file is missing or malformed.

    Attributes:
        path: the file.
        line: 1-based line number (0 when the whole file is at fault).
        field: the column or key at fault (may be empty).
    """

    def __init__(self, path: str, line: int, field: str, reason: str):
        self.path = str(path)
        self.line = int(line)
        self.field = field
        self.reason = reason
        where = self.path
        if line:
            where += f":{line}"
        if field:
            where += f": field '{field}'"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # picklable (multiprocessing sends errors between processes)
        return type(self), (self.path, self.line, self.field, self.reason)
