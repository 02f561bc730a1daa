"""slack_sdk's WebClient on kept-alive connections.

The stock client opens a new connection (TCP, then TLS) for every call: about 50 ms against Slack
before a byte is sent, paid by every card and every form opened. This one keeps each process's
connections to the Web API open and reuses them. Everything else — the payloads, the answers, the
errors the gateway tells apart — is the stock client's.
"""

from __future__ import annotations

from typing import Any
from urllib.error import URLError
from urllib.request import Request

import urllib3
from slack_sdk import WebClient
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError

# Connections kept open per host: enough for each of a process's threads to have its own.
_KEPT_OPEN = 16


class PooledWebClient(WebClient):  # type: ignore[misc]  # slack_sdk's client is untyped in places
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=_KEPT_OPEN, block=False, ssl_context=self.ssl, retries=False
        )

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.proxy is not None or not url.lower().startswith(("http://", "https://")):
            return super()._perform_urllib_http_request_internal(url, req)  # type: ignore[no-any-return]
        try:
            resp = self._pool.request(
                "POST",
                url,
                body=req.data,  # type: ignore[arg-type]  # always bytes or None, as the stock client builds it
                headers=dict(req.header_items()),
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                redirect=False,
            )
        except (NewConnectionError, ConnectTimeoutError) as exc:
            # Nothing was sent: the gateway knows Slack did nothing (as with urllib's URLError).
            raise URLError(exc) from exc
        except ReadTimeoutError as exc:
            raise TimeoutError(str(exc)) from exc  # sent, and no answer: Slack may have done it
        except ProtocolError as exc:
            raise ConnectionResetError(str(exc)) from exc
        headers = dict(resp.headers.items())
        if resp.headers.get("Content-Type", "").startswith("application/gzip"):
            return {"status": resp.status, "headers": headers, "body": resp.data}
        return {"status": resp.status, "headers": headers, "body": resp.data.decode(_charset(resp))}


def _charset(resp: urllib3.BaseHTTPResponse) -> str:
    for part in resp.headers.get("Content-Type", "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"
