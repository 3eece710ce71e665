"""The CRC-32 of a whole from its parts' CRC-32s and lengths, as zlib's crc32_combine computes it."""

from __future__ import annotations

import random
import zlib

import pytest

from exports.formats.deflate import FINAL_BLOCK, Crc, combine, crc32_combine, deflate_chunk


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 7, 8, 255, 256, 1_000, 65_536, 1_000_003])
def test_combining_two_crcs_equals_the_crc_of_the_concatenation(length: int) -> None:
    rng = random.Random(length)
    first, second = rng.randbytes(rng.randint(0, 300)), rng.randbytes(length)
    combined = crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


def test_combining_many_parts_equals_one_running_crc_and_its_sizes() -> None:
    rng = random.Random(7)
    parts = [rng.randbytes(rng.choice([0, 1, 17, 4_096, 70_000])) for _ in range(12)]
    crcs = []
    for data in parts:
        crc = Crc()
        crc.deflate(data)
        crcs.append(crc)
    whole = Crc()
    for data in parts:
        whole.deflate(data)
    assert combine(crcs) == whole
    assert combine(crcs).crc == zlib.crc32(b"".join(parts))


def test_full_flush_chunks_deflated_apart_are_one_deflate_stream() -> None:
    # What lets shards deflate their own rows: a chunk needs nothing from the chunks before it.
    rng = random.Random(3)
    parts = [bytes(rng.choice(b"abc,\n") for _ in range(5_000)) for _ in range(5)]
    stream = b"".join(deflate_chunk(data) for data in parts) + FINAL_BLOCK
    assert zlib.decompress(stream, wbits=-15) == b"".join(parts)
