"""HTTP header values shared by the blob commit and the SAS link."""

from __future__ import annotations

from urllib.parse import quote


def attachment(file_name: str) -> str:
    """Content-Disposition for a download: an ASCII fallback name plus the exact UTF-8 one (RFC 6266)."""
    ascii_name = file_name.encode("ascii", "replace").decode().replace('"', "").replace("\\", "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name, safe='')}"
