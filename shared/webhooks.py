"""The webhook sender: one POST, no redirects (a redirect could lead to an address the policy refuses)."""

from __future__ import annotations

import requests


class HttpWebhookSender:
    def __init__(self) -> None:
        self._session = requests.Session()
        # Proxies from the environment would route around the address check.
        self._session.trust_env = False

    def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
        try:
            response = self._session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
        except requests.RequestException as error:
            raise OSError(f"{type(error).__name__}") from error
        response.close()
        return response.status_code
