"""Django's PostgreSQL backend, with a health check that costs no round trip while the connection is quiet.

CONN_HEALTH_CHECKS asks `is_usable()` before the first query of every request, and Django's
answer is a `SELECT 1`: a quarter of a one-row page's time on a busy machine. An idle
connection has nothing to read; one the server closed or broke has its end (or an error)
waiting on the socket. So a quiet socket is usable, and only a socket with something on it
is asked the slow way.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        if self.connection is None or self.connection.closed:
            return False
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable or super().is_usable()
