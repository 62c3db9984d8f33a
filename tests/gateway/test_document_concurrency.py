"""At most GATEWAY_DOCUMENT_CONCURRENCY documents are worked on at once per process (ADR 0016): a second request's
document waits until a slot is free, so a burst of large documents cannot take all the memory and cores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from schemas.engine import ValidationEngine
from tests.conftest import FIXTURES
from tests.gateway.conftest import Gateway, running_gateway

COO = (FIXTURES / "coo" / "valid-10.xml").read_bytes()


class GatedEngine:
    """The real engine, whose validate() holds until the test lets it go, counting how many run at once."""

    def __init__(self, engine: ValidationEngine) -> None:
        self.engine = engine
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def validate(self, *args: Any) -> Any:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.entered.release()
        self.release.wait(30)
        try:
            return self.engine.validate(*args)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def gated(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[tuple[Gateway, GatedEngine]]:
    wrapper = GatedEngine(engine)
    # Duck-typed in for the engine: the app only calls its methods.
    stand_in = cast(ValidationEngine, wrapper)
    with running_gateway(database_url, tmp_path, stand_in, document_concurrency=1) as gateway:
        yield gateway, wrapper


def test_a_second_document_waits_for_the_first(gated: tuple[Gateway, GatedEngine]) -> None:
    gateway, engine = gated
    answers: list[int] = []

    def validate() -> None:
        response = gateway.client.post(
            "/v1/validate", content=COO, headers={"Content-Type": "application/xml", **gateway.headers("platform")}
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=validate) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert engine.entered.acquire(timeout=30), "the first document started"
    # The second request is in, but its document may not start while the first holds the only slot.
    assert not engine.entered.acquire(timeout=0.5)
    assert gateway.client.get("/healthz").status_code == 200, "other requests are served meanwhile"
    engine.release.set()
    for thread in threads:
        thread.join(30)
    assert answers == [200, 200]
    assert engine.most == 1
