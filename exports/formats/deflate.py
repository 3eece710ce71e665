"""Resumable raw deflate, and the gzip and ZIP framing around it.

A compressor cannot be carried from one worker invocation to the next, so every chunk is deflated by
a fresh compressor and ended with a full flush: each chunk is then a run of complete, byte-aligned,
non-final deflate blocks that needs nothing from the chunks before it, and concatenating them (plus
one empty final block) is a valid deflate stream. What must be carried is small: the CRC-32 and the
sizes so far. The price is a dictionary reset per chunk (about 1% in size for 1,000-row chunks).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

LEVEL = 6
FINAL_BLOCK = b"\x03\x00"  # an empty final block with fixed Huffman codes: ends a deflate stream
LIMIT_32 = 0xFFFFFFFF


def deflate_chunk(data: bytes, level: int = LEVEL) -> bytes:
    """Complete, byte-aligned, non-final deflate blocks for `data`, independent of anything before it."""
    if not data:
        return b""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


@dataclass
class Crc:
    """The running CRC-32 and sizes of one compressed member."""

    crc: int = 0
    size: int = 0
    compressed: int = 0

    def deflate(self, data: bytes) -> bytes:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        out = deflate_chunk(data)
        self.compressed += len(out)
        return out

    def finish(self) -> bytes:
        self.compressed += len(FINAL_BLOCK)
        return FINAL_BLOCK

    def dump(self) -> list[int]:
        return [self.crc, self.size, self.compressed]

    @classmethod
    def load(cls, values: list[int] | None) -> Crc:
        return cls(*values) if values else cls()


# ---- gzip (RFC 1952) -----------------------------------------------------------------------------

# Magic, deflate, no flags (so no file name), mtime 0 (deterministic), no extra flags, OS "unknown".
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def gzip_trailer(crc: Crc) -> bytes:
    return struct.pack("<II", crc.crc, crc.size & LIMIT_32)


# ---- ZIP (APPNOTE 6.3), without ZIP64 ------------------------------------------------------------

_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01, the earliest a ZIP can say: the bytes never depend on the clock
_DOS_TIME = 0
_DEFLATE = 8
_VERSION = 20
FLAG_DESCRIPTOR = 0x08  # CRC and sizes follow the data (in a data descriptor) because they are not known yet


def local_header(name: str, flags: int, crc: int = 0, compressed: int = 0, size: int = 0) -> bytes:
    encoded = name.encode("ascii")
    return (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            _VERSION,
            flags,
            _DEFLATE,
            _DOS_TIME,
            _DOS_DATE,
            crc,
            compressed,
            size,
            len(encoded),
            0,
        )
        + encoded
    )


DESCRIPTOR_SIZE = 16


def data_descriptor(crc: Crc) -> bytes:
    return struct.pack("<IIII", 0x08074B50, crc.crc, crc.compressed, crc.size)


def central_directory(entries: list[list[object]], offset: int) -> bytes:
    """Central directory and end record for entries [name, flags, crc, size, compressed, offset]."""
    records = []
    for name, flags, crc, size, compressed, local_offset in entries:
        encoded = str(name).encode("ascii")
        records.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                _VERSION,
                _VERSION,
                flags,
                _DEFLATE,
                _DOS_TIME,
                _DOS_DATE,
                crc,
                compressed,
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                local_offset,
            )
            + encoded
        )
    directory = b"".join(records)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), offset, 0)
    return directory + end


# ---- combining CRC-32s ---------------------------------------------------------------------------
# zlib's crc32_combine, which Python's zlib module does not expose: shards deflate and checksum their own
# bytes, and the CRC-32 of the whole follows from each part's CRC-32 and length alone (zlib's GF(2) method:
# appending n zero bytes to a CRC is a linear map, built by repeated squaring of the one-zero-bit map).

_CRC_POLYNOMIAL = 0xEDB88320


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    index = 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, row) for row in matrix]


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from crc32(A), crc32(B) and len(B)."""
    if length2 <= 0:
        return crc1
    odd = [_CRC_POLYNOMIAL] + [1 << n for n in range(31)]  # one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if length2 & 1:
            crc1 = _gf2_times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _gf2_square(even)
        if length2 & 1:
            crc1 = _gf2_times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2


def combine(parts: list[Crc]) -> Crc:
    """One member's CRC-32 and sizes from those of its consecutive parts."""
    whole = Crc()
    for part in parts:
        crc = crc32_combine(whole.crc, part.crc, part.size)
        whole = Crc(crc, whole.size + part.size, whole.compressed + part.compressed)
    return whole
