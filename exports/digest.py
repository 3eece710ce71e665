"""The SHA-256 of an export file, computed while its blocks are staged, across invocations.

A batch may run in any worker, so the hash's running state travels in the job's checkpoint like the
writer's own state. `hashlib` cannot hand its state over; resumablesha256 is the same algorithm with a
state it can give and take back (112 bytes: eight words, the bit length, and up to 63 bytes of the file
not yet hashed — which is why a final job keeps no hash state, see `ExportJob._end`).
"""

from __future__ import annotations

import base64
import binascii

from resumablesha256 import sha256


class FileDigest:
    """A running SHA-256 whose state is text that survives a checkpoint."""

    def __init__(self, state: str | None = None) -> None:
        self._hash = sha256()
        if state:
            try:
                self._hash.__setstate__(base64.b64decode(state, validate=True))
            except (ValueError, binascii.Error) as error:
                raise ValueError(f"not a saved SHA-256 state: {error}") from None

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def state(self) -> str:
        return base64.b64encode(self._hash.__getstate__()).decode("ascii")

    def hexdigest(self) -> str:
        return str(self._hash.hexdigest())
