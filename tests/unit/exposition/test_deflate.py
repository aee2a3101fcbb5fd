"""Gzip streams assembled from separately compressed pieces decode like any gzip stream."""

from __future__ import annotations

import gzip
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.exposition import deflate


@settings(max_examples=300)
@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_crc32_combine_equals_zlib(a: bytes, b: bytes) -> None:
    assert deflate.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_crc32_combine_long_tail() -> None:
    a, b = b"x" * 1000, bytes(range(256)) * 40_000
    assert deflate.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


@settings(max_examples=100)
@given(st.lists(st.binary(max_size=3000), max_size=12), st.binary(max_size=500))
def test_pieces_make_one_valid_gzip_member(pieces: list[bytes], tail: bytes) -> None:
    # Pieces compressed by different compressors, in any grouping, concatenate into one stream.
    runs = [deflate.compress(p) for p in pieces]
    text = b"".join(pieces)
    crc = deflate.crc32_combine(zlib.crc32(b"".join(pieces)), zlib.crc32(tail), len(tail))
    stream = b"".join(
        [deflate.HEADER, *runs, deflate.compress(tail), deflate.FINAL, deflate.trailer(crc, len(text) + len(tail))]
    )
    assert gzip.decompress(stream) == text + tail
    # A single member: decoders that stop after the first member (zlib's gzip mode, curl) see it all.
    decoder = zlib.decompressobj(wbits=31)
    assert decoder.decompress(stream) == text + tail
    assert decoder.eof and decoder.unused_data == b""
