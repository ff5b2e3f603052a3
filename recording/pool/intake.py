"""Job intake: the pool's only conversation with the control plane, over HTTP with its recorder pool key — announce
(alive, capacity, the jobs it runs; the answer: its jobs, and the ones to stop) and a job's recorder credential."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from recording.launch import Job


class IntakeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Announced:
    jobs: tuple[Job, ...]
    dismissed: tuple[str, ...]
    malformed: int  # jobs in the answer that were not jobs: a counted drop


class Intake:
    def __init__(self, control_url: str, key: str, pool: str, capacity: int, timeout: float = 10.0,
                 http: httpx.Client | None = None) -> None:
        """`http`: another client to the control plane (an in-process ASGI one in tests)."""
        self.pool = pool
        self.capacity = capacity
        self.http = http if http is not None else httpx.Client(base_url=control_url.rstrip("/"), timeout=timeout)
        self.http.headers["Authorization"] = f"Bearer {key}"

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            r = self.http.post(path, json=body)
        except httpx.HTTPError as e:
            raise IntakeError("control_plane_unreachable", str(e)) from None
        try:
            data = r.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise IntakeError("bad_answer", f"HTTP {r.status_code} without a JSON object")
        if r.status_code != 200:
            raise IntakeError(str(data.get("error", r.status_code)), str(data.get("message", "")))
        return data

    def announce(self, running: list[str]) -> Announced:
        data = self._post(f"/v1/recorder-pools/{self.pool}/announce",
                          {"capacity": self.capacity, "running": running})
        raw_jobs, raw_dismissed = data.get("jobs"), data.get("dismissed")
        raw: list[Any] = raw_jobs if isinstance(raw_jobs, list) else []
        jobs = [Job.from_dict(j) if isinstance(j, dict) else None for j in raw]
        dismissed: list[Any] = raw_dismissed if isinstance(raw_dismissed, list) else []
        return Announced(tuple(j for j in jobs if j is not None), tuple(str(d) for d in dismissed),
                         sum(1 for j in jobs if j is None))

    def credential(self, job: str) -> dict[str, Any]:
        """The job's recorder join answer: token, ws_url, node, room, participant, name."""
        return self._post(f"/v1/recorder-jobs/{job}/credential", {})
