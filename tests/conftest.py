"""Shared by every test under tests/.

tests/ is a package, so pytest puts the repository root on sys.path before importing this file (rootdir-based
"prepend" import): `tests.support`, `tests.fixtures` and every area's helpers import as `tests.<area>.<module>`
from anywhere, with no sys.path edits. Fixtures every area may request are registered here:

- `redis_server` (session-scoped): a real redis-server on a free loopback port (tests/fixtures/redis.py).
- `postgres_server` (session-scoped) and `pg_url` (a fresh database per test): a real PostgreSQL cluster in a
  temporary directory on a free loopback port (tests/fixtures/postgres.py).
- `s3_server` (per test): start real S3-compatible servers on free loopback ports, each with its own buckets,
  directory and access key pair (tests/fixtures/s3.py).
"""

pytest_plugins = ["tests.fixtures.redis", "tests.fixtures.postgres", "tests.fixtures.s3"]
