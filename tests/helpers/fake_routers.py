"""Routers in memory for the client's call groups: stubs that answer what a test says, streams
that say what a test scripts, and a Connection whose addresses lead to them.

    stubs = FakeStub(ListUsers=pb.ListUsersResponse(users=[pb.User(name="ana")]))
    connection = FakeConnection("a:1", {"a:1": {"admin": stubs}})
    ...                                     # calls through connection.admin go to ``stubs``
    assert stubs.requests("ListUsers") == [pb.ListUsersRequest()]
"""

from __future__ import annotations

from typing import Any

from router.client.connection import Connection


class FakeStream:
    """One stream: ``recv_message`` returns the scripted ``answers`` in order, then None;
    ``fail`` (an exception) is raised by the first send. What was sent is kept in ``sent``."""

    def __init__(self, answers: list[Any] | None = None, fail: BaseException | None = None):
        self._answers = list(answers or [])
        self._fail = fail
        self.sent: list[Any] = []
        self.ended = False

    async def send_message(self, message: Any, end: bool = False) -> None:
        if self._fail is not None:
            raise self._fail
        self.sent.append(message)
        self.ended = self.ended or end

    async def send_request(self) -> None:
        if self._fail is not None:
            raise self._fail

    async def recv_message(self) -> Any:
        return self._answers.pop(0) if self._answers else None

    async def recv_trailing_metadata(self) -> None:
        return None

    async def end(self) -> None:
        self.ended = True

    def __aiter__(self) -> FakeStream:
        return self

    async def __anext__(self) -> Any:
        message = await self.recv_message()
        if message is None:
            raise StopAsyncIteration
        return message


class FakeOpened:
    """What ``stub.Method.open()`` returns: enters into ``stream``; ``exits`` records how it
    was left (None, or the error), and ``told`` is raised on leaving after an error (grpclib
    raises the status a reset stream carried)."""

    def __init__(self, stream: FakeStream, told: BaseException | None = None) -> None:
        self.stream = stream
        self.told = told
        self.exits: list[BaseException | None] = []

    async def __aenter__(self) -> FakeStream:
        return self.stream

    async def __aexit__(self, kind: Any, error: BaseException | None, trace: Any) -> None:
        self.exits.append(error)
        if error is not None and self.told is not None:
            raise self.told


class _FakeMethod:
    def __init__(self, stub: FakeStub, name: str) -> None:
        self._stub, self._name = stub, name

    async def __call__(self, request: Any, **options: Any) -> Any:
        self._stub.calls.append((self._name, request, options))
        answer = self._stub.answers[self._name]
        if isinstance(answer, BaseException):
            raise answer
        return answer(request) if callable(answer) else answer

    def open(self, **options: Any) -> FakeOpened:
        self._stub.calls.append((self._name, None, options))
        opened: FakeOpened = self._stub.streams[self._name].pop(0)
        return opened


class FakeStub:
    """A service's stub: a unary method answers its entry of ``answers`` (a response, a
    function of the request, or an exception raised); ``open`` hands out the next of its
    ``streams``. Every call is kept in ``calls`` as (method, request, options)."""

    def __init__(self, **answers: Any) -> None:
        self.answers: dict[str, Any] = answers
        self.streams: dict[str, list[FakeOpened]] = {}
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> _FakeMethod:
        if name.startswith("_"):
            raise AttributeError(name)
        return _FakeMethod(self, name)

    def requests(self, method: str) -> list[Any]:
        return [request for name, request, _ in self.calls if name == method]


class _FakeChannel:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeConnection(Connection):
    """A Connection whose addresses lead to fake routers: ``routers[address][stub name]``;
    an address without one answers nothing (ConnectionRefusedError on every call)."""

    def __init__(
        self, address: str, routers: dict[str, dict[str, FakeStub]], **options: Any
    ) -> None:
        self.routers = routers
        self.visited: list[str] = []
        super().__init__(address, **options)

    def _connect(self, address: str) -> None:
        self.address = address
        self.visited.append(address)
        self.channel = _FakeChannel()  # type: ignore[assignment]
        self.stubs = self.routers.get(address) or _refusing()


def _refusing() -> dict[str, Any]:
    refused = ConnectionRefusedError("nothing listens there")
    return {name: _Refusing(refused) for name in ("publisher", "subscriber", "admin", "log")}


class _Refusing(FakeStub):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self._error = error

    def __getattr__(self, name: str) -> _FakeMethod:
        if name.startswith("_"):
            raise AttributeError(name)
        self.answers[name] = self._error
        self.streams[name] = [FakeOpened(FakeStream(fail=self._error))]
        return _FakeMethod(self, name)
