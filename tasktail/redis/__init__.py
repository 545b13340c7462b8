"""A Redis Streams backend: several server processes, producers anywhere (SPEC ``RDS-*``).

Install with ``pip install 'tasktail[redis]'``. ``open_manager(redis_url=None)`` chooses
the backend by configuration: the in-memory :class:`tasktail.ConnectionManager` (default)
or :class:`RedisConnectionManager` when a Redis URL is given.
"""

from ._common import RedisUnavailableError
from ._manager import RedisConnectionManager, open_manager
from ._producer import RedisProducer, SyncRedisProducer

__all__ = ["RedisConnectionManager", "RedisProducer", "RedisUnavailableError", "SyncRedisProducer",
           "open_manager"]
