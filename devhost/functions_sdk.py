"""The one adapter over azure.functions' private `_abc` module.

The local host builds the `Context` the Functions worker would pass; its trace and retry contexts are
abstract classes the SDK exports only from `azure.functions._abc`. They are imported here, and only
here; tests/unit/test_sdk_adapters.py pins the abstract members the local host implements.
"""

from __future__ import annotations

from azure.functions._abc import RetryContext, RpcException, TraceContext

__all__ = ["RetryContext", "RpcException", "TraceContext"]
