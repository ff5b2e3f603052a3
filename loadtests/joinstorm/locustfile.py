"""Join storm: many participants joining many rooms. Two user kinds, run separately by `run.py`:

* TokenPathUser    — links without a password: link check -> placement -> EdDSA join token.
* PasswordUser     — password links: the same plus the password check (Argon2id, m=19 MiB, t=2, p=1).

Links come from the JSON file named by CASTELLAN_JOINSTORM_LINKS (written by server.py).
"""

from __future__ import annotations

import json
import os
import random

from locust import HttpUser, constant, task

LINKS = json.loads(open(os.environ["CASTELLAN_JOINSTORM_LINKS"]).read())


def _join(user: HttpUser, body: dict[str, str], name: str) -> None:
    with user.client.post("/v1/join", json=body, name=name, catch_response=True) as r:
        if r.status_code != 200 or "token" not in r.text:
            r.failure(f"HTTP {r.status_code}: {r.text[:120]}")


class TokenPathUser(HttpUser):
    wait_time = constant(0)

    @task
    def join(self) -> None:
        _join(self, {"link": random.choice(LINKS["token"]), "name": "bot"}, "join (token path)")


class PasswordUser(HttpUser):
    wait_time = constant(0)

    @task
    def join(self) -> None:
        i = random.randrange(len(LINKS["password"]))
        _join(self, {"link": LINKS["password"][i], "name": "bot", "password": f"joinstorm pass {i}"}, "join (password check)")
