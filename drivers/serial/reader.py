"""Split a byte stream into lines (LF-terminated; a CR before the LF is kept for the parser)."""

from __future__ import annotations


class LineReader:
    """Accumulates received bytes and yields complete lines.

    Args:
        max_line_bytes: a partial line longer than this is garbage: it is
            dropped and reported by :meth:`overflow`.
    """

    def __init__(self, max_line_bytes: int = 256):
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be >= 1, got {max_line_bytes}")
        self.max_line_bytes = int(max_line_bytes)
        self._buf = bytearray()
        self._dropped: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete lines (without the LF), oldest first."""
        self._buf += data
        *lines, rest = bytes(self._buf).split(b"\n")
        self._buf = bytearray(rest)
        if len(self._buf) > self.max_line_bytes:
            self._dropped.append(bytes(self._buf[: self.max_line_bytes]))
            self._buf.clear()
        out = []
        for line in lines:
            if len(line) > self.max_line_bytes:
                self._dropped.append(line[: self.max_line_bytes])
                continue
            out.append(line)
        return out

    def overflow(self) -> list[bytes]:
        """Garbage dropped since the last call (each entry at most max_line_bytes)."""
        dropped, self._dropped = self._dropped, []
        return dropped

    def clear(self) -> None:
        """Forget any partial line (after a reconnect)."""
        self._buf.clear()
        self._dropped.clear()
