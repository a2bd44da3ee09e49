"""Each user's registered functions, by name: stored, and kept in memory for submits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from qlambda.platform import Platform
from qlambda.platform.functions import FunctionPayload, stored_limits


@dataclass(frozen=True)
class Registered:
    owner: str
    payload: FunctionPayload
    limits: dict[str, Any]  # cpus, timeout_s, memory_mb
    parameters: list[dict[str, Any]] | None
    dependencies: list[str]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.payload.name,
            "id": self.payload.id,
            "kind": self.payload.kind,
            "owner": self.owner,
            "parameters": self.parameters,
            "dependencies": self.dependencies,
        }


class Catalog:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._known: dict[tuple[str, str], Registered] = {}
        self._lock = threading.Lock()

    def add(self, entry: Registered) -> None:
        """Store the function and its name for the owner; returns once durable (refused
        at once while the database cannot be reached)."""
        self._platform.store.check_available()
        payload = self._platform.register_payload(
            entry.payload,
            entry.limits["cpus"],
            entry.limits["timeout_s"],
            entry.limits["memory_mb"],
        )
        store = self._platform.store
        store.committed(
            store.register(
                {
                    "owner": entry.owner,
                    "name": payload.name,
                    "function_id": payload.id,
                    "dependencies": entry.dependencies,
                    "parameters": entry.parameters,
                    "created_at": time.time(),
                }
            )
        )
        with self._lock:
            self._known[(entry.owner, payload.name)] = entry

    def forget(self, owner: str, name: str) -> None:
        """A registration changed elsewhere (another replica): read it again when used."""
        with self._lock:
            self._known.pop((owner, name), None)

    def get(self, owner: str, name: str) -> Registered | None:
        entry = self._known.get((owner, name))
        if entry is None:
            entry = self._load(owner, name)
            if entry is not None:
                with self._lock:
                    self._known[(owner, name)] = entry
        return entry

    def list(self, owner: str | None) -> list[Registered]:
        rows = self._platform.store.registrations(owner)
        found = [self.get(row["owner"], row["name"]) for row in rows]
        return [entry for entry in found if entry is not None]

    def _load(self, owner: str, name: str) -> Registered | None:
        store = self._platform.store
        row = store.registration(owner, name)
        if row is None:
            return None
        function = store.get_function(row["function_id"])
        if function is None:
            return None
        payload = FunctionPayload.from_row(function)
        limits = stored_limits(function)
        return Registered(owner, payload, limits, row["parameters"], row["dependencies"] or [])
