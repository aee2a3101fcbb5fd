"""One gzip stream assembled from pieces compressed apart, so a change recompresses only its piece.

Every piece is compressed with a full flush at its end: its output is then a self-contained, byte-aligned
run of deflate blocks, and such runs concatenate into one valid deflate stream (pigz and gzip --rsyncable
rely on the same property). The gzip trailer needs the CRC-32 of all the text: it is computed over the
pieces without joining them, and `crc32_combine` appends a small tail to a known CRC without rereading.
"""

from __future__ import annotations

import ctypes
import struct
import zlib
from collections.abc import Callable

LEVEL = 6
# RFC 1952 member header: deflate, no flags, no mtime, no extra flags, OS unknown.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# An empty final deflate block: ends the stream after any number of flushed pieces.
FINAL = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
_POLY = 0xEDB88320  # CRC-32 (reflected), as zlib


class Compressor:
    """Compresses consecutive parts of one piece; each part's output stands alone (full flush)."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)

    def part(self, data: bytes) -> bytes:
        return self._z.compress(data) + self._z.flush(zlib.Z_FULL_FLUSH)


def compress(data: bytes) -> bytes:
    return Compressor().part(data)


def trailer(crc: int, size: int) -> bytes:
    return struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


def _multiply(a: int, b: int) -> int:
    """a * b modulo the CRC polynomial, in zlib's reflected bit order."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x_to_2n() -> list[int]:
    table, p = [], 1 << 30  # x^1
    for _ in range(32):
        table.append(p)
        p = _multiply(p, p)
    return table


_X2N = _x_to_2n()


def _python_crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B): zlib's crc32_combine, which Python's zlib lacks."""
    # Multiply crc1 by x^(8 * len2) modulo the polynomial, then add crc2.
    p, k, n = 1 << 31, 3, len2  # x^0; 2^3 = 8 bits per byte
    while n:
        if n & 1:
            p = _multiply(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return _multiply(p, crc1) ^ crc2


def _zlib_crc32_combine() -> Callable[[int, int, int], int] | None:
    """The C library's crc32_combine, through the zlib that Python's own module is linked to.

    A build keeps its text only as compressed runs, so the stream's CRC is combined from one per run:
    thousands per build at 100,000 jobs, which the C function does in microseconds each.
    """
    for name in (zlib.__file__ if hasattr(zlib, "__file__") else None, "libz.so.1", "libz.dylib"):
        if name is None:
            continue
        try:
            function = ctypes.CDLL(name).crc32_combine
        except (OSError, AttributeError):
            continue
        function.argtypes = (ctypes.c_ulong, ctypes.c_ulong, ctypes.c_long)
        function.restype = ctypes.c_ulong
        if function(0x12345678, 0x9ABCDEF0, 1000) == _python_crc32_combine(0x12345678, 0x9ABCDEF0, 1000):
            return lambda crc1, crc2, len2: int(function(crc1, crc2, len2))
    return None


crc32_combine: Callable[[int, int, int], int] = _zlib_crc32_combine() or _python_crc32_combine
