"""Nautobot settings for the throwaway test server (tests/servers/nautobot/server.py sets the env).

No Redis and no Celery worker, on purpose (one package and one process fewer per session):

- the cache is Django's per-process memory plus ``delete_pattern``, the one django-redis call
  Nautobot makes on invalidation. The server is one process (``runserver --noreload``, threads),
  so no copy goes stale. Nautobot also takes Redis locks through the cache, but only when it
  hands out free IPs/prefixes (``available-ips``), which the tests never ask for;
- without any cache (Django's dummy backend) Nautobot reads every custom field and content type
  from the database per object: 1,000 devices took 60-100 s over REST instead of 13 s;
- the Celery broker is in memory: nothing here runs jobs or webhooks.

Everything else comes from the environment: database, secret key; debug, metrics and the
release check are off (there is no internet here).
"""

import fnmatch
import os

from django.core.cache.backends.locmem import LocMemCache
from nautobot.core.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["NAUTOBOT_DB_NAME"],
        "USER": os.environ["NAUTOBOT_DB_USER"],
        "PASSWORD": os.environ["NAUTOBOT_DB_PASSWORD"],
        "HOST": "127.0.0.1",
        "PORT": os.environ["NAUTOBOT_DB_PORT"],
        "CONN_MAX_AGE": 300,
    }
}
SECRET_KEY = os.environ["NAUTOBOT_SECRET_KEY"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DEBUG = False
INSTALLATION_METRICS_ENABLED = False
METRICS_ENABLED = False


class LocalCache(LocMemCache):
    """Django's per-process memory cache plus the one django-redis method Nautobot calls on it.

    One server process (``runserver --noreload``, threads share it) sees every write, so
    nothing goes stale; the bootstrap process has its own, thrown away when it exits.
    """

    def delete_pattern(self, pattern: str, **kwargs: object) -> int:
        wanted = self.make_key(pattern)
        with self._lock:
            keys = [key for key in self._cache if fnmatch.fnmatchcase(key, wanted)]
            for key in keys:
                self._delete(key)
        return len(keys)


CACHES = {"default": {"BACKEND": "nautobot_config.LocalCache", "TIMEOUT": 300, "OPTIONS": {"MAX_ENTRIES": 100_000}}}
# django-constance refuses a per-process cache for its settings: read them from the database.
CONSTANCE_DATABASE_CACHE_BACKEND = None
CELERY_BROKER_URL = "memory://"
RELEASE_CHECK_URL = None
LOG_LEVEL = "WARNING"


class _NoMigrations(dict):  # type: ignore[type-arg]
    """Every app is "unmigrated": ``migrate --run-syncdb`` creates the tables straight from the models.

    Django's own ``TEST: {"MIGRATE": False}`` does the same for test databases. What Nautobot's
    data migrations would add and the tests use (default statuses and roles) bootstrap.py adds.
    """

    def __contains__(self, item: object) -> bool:
        return True

    def __getitem__(self, item: str) -> None:
        return None


if os.environ.get("NORNFLOW_NAUTOBOT_SYNCDB") == "1":
    MIGRATION_MODULES = _NoMigrations()
