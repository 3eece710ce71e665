"""Queue-trigger listener: polling, leases, retries and poison handling as the Functions host does them."""

from __future__ import annotations

import base64
import binascii
import contextlib
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import azure.functions as func
from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FuncQueueMessage
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from devhost.app_loader import ConfigError, FunctionInfo, QueueOptions, resolve_setting_refs
from devhost.invocation import Invocation, NotStarted
from devhost.worker import Pending

log = logging.getLogger("devhost.queue")

DEFAULT_CONNECTION = "AzureWebJobsStorage"
MIN_POLL_DELAY = 0.1
POISON_SUFFIX = "-poison"


def queue_service_client(
    connection: str | None, environ: Mapping[str, str] | None = None
) -> QueueServiceClient:
    """Resolve a binding's `connection` the way the host does: a connection string, else identity-based."""
    env = os.environ if environ is None else environ
    name = connection or DEFAULT_CONNECTION
    candidates = [name] if name.startswith("AzureWebJobs") else [name, f"AzureWebJobs{name}"]
    for candidate in candidates:
        value = env.get(candidate)
        if value:
            return QueueServiceClient.from_connection_string(value)
        service_uri = env.get(f"{candidate}__queueServiceUri")
        account = env.get(f"{candidate}__accountName")
        if service_uri or account:
            # Only identity-based setups need azure-identity, so it stays off the common path.
            from azure.identity import DefaultAzureCredential

            client_id = env.get(f"{candidate}__clientId")
            credential = (
                DefaultAzureCredential(managed_identity_client_id=client_id)
                if client_id
                else DefaultAzureCredential()
            )
            url = service_uri or f"https://{account}.queue.core.windows.net"
            return QueueServiceClient(account_url=url, credential=credential)
    raise ConfigError(
        f"storage connection {name!r}: set app setting {name} to a connection string, "
        f"or {name}__queueServiceUri / {name}__accountName for identity-based access"
    )


def ensure_queue(client: QueueClient) -> None:
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()


def decode_body(content: str | None, encoding: str) -> bytes:
    """Raises ValueError for text that is not base64 when the host expects base64."""
    text = content or ""
    if encoding == "none":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("message is not valid base64") from exc


def encode_body(body: str | bytes, encoding: str) -> str:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return base64.b64encode(raw).decode("ascii") if encoding == "base64" else raw.decode("utf-8")


def _trigger_value(function: FunctionInfo, message: FuncQueueMessage) -> Any:
    """The worker binds `str`/`bytes`-annotated parameters to the body instead of the message object."""
    try:
        annotation = inspect.signature(function.user_function).parameters[function.trigger_arg].annotation
    except (KeyError, ValueError):
        return message
    if annotation in (str, "str"):
        return message.get_body().decode("utf-8")
    if annotation in (bytes, "bytes"):
        return message.get_body()
    return message


def make_queue_message(**fields: Any) -> FuncQueueMessage:
    # QueueMessage.__init__ is unannotated; going through Any keeps strict mypy quiet in every configuration.
    factory: Any = FuncQueueMessage
    return cast(FuncQueueMessage, factory(**fields))


@dataclass
class _Lease:
    message_id: str
    pop_receipt: str
    renew_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False


# Hands an invocation to the worker; the callback settles the message once the outcome is known.
Dispatch = Callable[[Invocation, Callable[[Pending], None]], Any]


class QueueRunner:
    """One poller per queue-trigger function, plus a lease renewer. Invocations run on the host's worker pool.

    As the Functions host does, it fetches `batchSize` messages whenever no more than `newBatchThreshold` of
    its messages are in hand, so it holds at most `batchSize + newBatchThreshold`. A message in hand keeps its
    lease (renewed) from the moment it is received, also while it waits for a worker thread, so it is never
    delivered twice for having waited.
    """

    def __init__(
        self,
        function: FunctionInfo,
        options: QueueOptions,
        lease_seconds: int,
        dispatch: Dispatch,
        service: QueueServiceClient,
    ) -> None:
        self.function = function
        self.options = options
        self.lease_seconds = max(1, int(lease_seconds))
        self.dispatch = dispatch
        self.queue_name = resolve_setting_refs(str(function.trigger["queueName"]))
        self.queue = service.get_queue_client(self.queue_name)
        self.poison = service.get_queue_client(self.queue_name + POISON_SUFFIX)
        self._stop = threading.Event()
        self._paused = False
        self._renewer_stop = threading.Event()
        self._active = 0
        self._cond = threading.Condition()
        self._leases: dict[str, _Lease] = {}
        self._leases_lock = threading.Lock()
        self._poller = threading.Thread(target=self._poll_loop, name=f"poll-{function.name}", daemon=True)
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lease-{function.name}", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        ensure_queue(self.queue)
        ensure_queue(self.poison)
        self._poller.start()
        self._renewer.start()

    def stop(self) -> None:
        """Stop fetching; messages already in hand are settled as their invocations end."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def pause(self) -> None:
        """Drain mode: fetch nothing until `resume`; what is in hand runs to its end."""
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    @property
    def in_hand(self) -> int:
        with self._cond:
            return self._active

    def drain(self, timeout: float) -> bool:
        with self._cond:
            idle = self._cond.wait_for(lambda: self._active == 0, timeout=max(0.0, timeout))
        # Leases must keep being renewed as long as anything still runs.
        if idle:
            self._renewer_stop.set()
        return idle

    # --- polling ---------------------------------------------------------------------------------------

    def _may_fetch(self) -> bool:
        return self._active <= self.options.new_batch_threshold and not self._paused

    def _poll_loop(self) -> None:
        delay = MIN_POLL_DELAY
        batch = self.options.batch_size
        while not self._stop.is_set():
            with self._cond:
                # The host fetches the next batch only once enough of the current one has finished.
                self._cond.wait_for(lambda: self._may_fetch() or self._stop.is_set())
            if self._stop.is_set():
                break
            try:
                messages = list(
                    self.queue.receive_messages(
                        messages_per_page=batch, max_messages=batch, visibility_timeout=self.lease_seconds
                    )
                )
            except AzureError as exc:
                log.warning("queue %s: receive failed (%s); retrying in %.1fs", self.queue_name, exc, delay)
                messages = []
            if not messages:
                self._stop.wait(delay)
                delay = min(delay * 2, max(self.options.max_polling_interval, MIN_POLL_DELAY))
                continue
            delay = MIN_POLL_DELAY
            for message in messages:
                with self._cond:
                    holding = not self._stop.is_set() and not self._paused
                if holding:
                    self._take(message)
                else:
                    self._release(message)

    def _release(self, message: QueueMessage, pop_receipt: str | None = None) -> None:
        """Received but not to be run here: make it visible again rather than sit out the whole lease."""
        try:
            self.queue.update_message(message.id, pop_receipt or message.pop_receipt, visibility_timeout=0)
        except AzureError as exc:
            log.warning("queue %s: could not release message %s: %s", self.queue_name, message.id, exc)

    # --- one message -----------------------------------------------------------------------------------

    def _take(self, message: QueueMessage) -> None:
        """Counts the message in hand, then hands it to the worker (or straight to poison)."""
        lease = _Lease(str(message.id), str(message.pop_receipt), time.monotonic() + self.lease_seconds / 2)
        with self._cond:
            self._active += 1
        dispatched = False
        try:
            invocation = self._invocation(message, lease)
            if invocation is not None:
                with self._leases_lock:
                    self._leases[lease.message_id] = lease
                self.dispatch(invocation, lambda pending: self._settle(message, lease, pending))
                dispatched = True
        except (ResourceNotFoundError, HttpResponseError) as exc:
            # Typically a stale pop receipt: the lease expired and someone else owns the message now.
            log.warning("queue %s: message %s: %s", self.queue_name, message.id, _short(exc))
        except Exception:
            log.exception("queue %s: message %s: unexpected host error", self.queue_name, message.id)
        finally:
            if not dispatched:
                self._forget(lease)

    def _invocation(self, message: QueueMessage, lease: _Lease) -> Invocation | None:
        dequeue_count = int(message.dequeue_count or 0)
        max_count = self.options.max_dequeue_count
        if dequeue_count > max_count:
            # Its previous worker died mid-invocation too often; the host does not try it again.
            self._to_poison(message, lease, f"dequeue count {dequeue_count} exceeds {max_count}")
            return None
        try:
            body = decode_body(message.content, self.options.message_encoding)
        except ValueError:
            self._to_poison(message, lease, "its content is not valid base64")
            return None

        trigger = make_queue_message(
            id=message.id,
            body=body,
            dequeue_count=dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        return Invocation(
            self.function,
            _trigger_value(self.function, trigger),
            f"New queue message detected on '{self.queue_name}'.",
        )

    def _settle(self, message: QueueMessage, lease: _Lease, pending: Pending) -> None:
        """The invocation's outcome decides: delete, back to the queue after the visibility timeout, or poison."""
        try:
            with self._leases_lock:
                self._leases.pop(lease.message_id, None)
            with lease.lock:
                lease.done = True
            error = pending.error
            dequeue_count = int(message.dequeue_count or 0)
            if error is None:
                self.queue.delete_message(lease.message_id, lease.pop_receipt)
            elif isinstance(error, NotStarted):
                # Nothing ran: not an attempt, so another instance may take it at once.
                self._release(message, lease.pop_receipt)
            elif dequeue_count >= self.options.max_dequeue_count:
                self._to_poison(message, lease, f"it failed {dequeue_count} time(s)")
            else:
                self.queue.update_message(
                    lease.message_id, lease.pop_receipt, visibility_timeout=int(self.options.visibility_timeout)
                )
        except (ResourceNotFoundError, HttpResponseError) as exc:
            log.warning("queue %s: message %s: %s", self.queue_name, message.id, _short(exc))
        except Exception:
            log.exception("queue %s: message %s: unexpected host error", self.queue_name, message.id)
        finally:
            self._forget(lease)

    def _forget(self, lease: _Lease) -> None:
        with self._leases_lock:
            self._leases.pop(lease.message_id, None)
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def _to_poison(self, message: QueueMessage, lease: _Lease, why: str) -> None:
        log.warning(
            "queue %s: moving message %s to %s because %s",
            self.queue_name,
            message.id,
            self.queue_name + POISON_SUFFIX,
            why,
        )
        # The original text, still encoded, so the poison message can be replayed as it was.
        self.poison.send_message(message.content or "")
        self.queue.delete_message(lease.message_id, lease.pop_receipt)

    # --- lease renewal ---------------------------------------------------------------------------------

    def _renew_loop(self) -> None:
        tick = min(1.0, self.lease_seconds / 4)
        while not self._renewer_stop.wait(tick):
            now = time.monotonic()
            with self._leases_lock:
                due = [lease for lease in self._leases.values() if lease.renew_at <= now]
            for lease in due:
                self._renew(lease)

    def _renew(self, lease: _Lease) -> None:
        with lease.lock:
            if lease.done:
                return
            try:
                updated = self.queue.update_message(
                    lease.message_id, lease.pop_receipt, visibility_timeout=self.lease_seconds
                )
            except AzureError as exc:
                log.warning(
                    "queue %s: could not renew lease of %s: %s",
                    self.queue_name,
                    lease.message_id,
                    _short(exc),
                )
                lease.renew_at = time.monotonic() + self.lease_seconds / 4
                return
            lease.pop_receipt = str(updated.pop_receipt)
            lease.renew_at = time.monotonic() + self.lease_seconds / 2


def _short(exc: Exception) -> str:
    code = getattr(exc, "error_code", None)
    return f"{type(exc).__name__} {code}" if code else str(exc).splitlines()[0]


class QueueOutputs:
    """Sends `func.Out` values of queue output bindings after a successful invocation."""

    def __init__(self, options: QueueOptions) -> None:
        self.options = options
        self._clients: dict[tuple[str, str], QueueClient] = {}
        self._lock = threading.Lock()

    def _client(self, connection: str, queue_name: str) -> QueueClient:
        with self._lock:
            key = (connection, queue_name)
            if key not in self._clients:
                client = queue_service_client(connection).get_queue_client(queue_name)
                ensure_queue(client)
                self._clients[key] = client
            return self._clients[key]

    def send(self, invocation: Invocation) -> None:
        for binding in invocation.function.bindings:
            name = str(binding.get("name", ""))
            out = invocation.outputs.get(name)
            if binding.get("type") != "queue" or out is None or out.get() is None:
                continue
            client = self._client(
                str(binding.get("connection") or DEFAULT_CONNECTION),
                resolve_setting_refs(str(binding["queueName"])),
            )
            value = out.get()
            for item in value if isinstance(value, list) else [value]:
                body = item.get_body() if isinstance(item, func.QueueMessage) else item
                if not isinstance(body, (str, bytes)):
                    raise TypeError(
                        f"queue output {name!r} takes str, bytes or QueueMessage, got {type(item)}"
                    )
                client.send_message(encode_body(body, self.options.message_encoding))
