"""waitress, held against slow clients on the LAN: its own limits (a fixed number of connections, idle ones
closed) let 64 connections that trickle a byte now and then keep the page from everyone for as long as they
last. Here every request has a deadline from its first byte (headers and body), one client address holds at
most a few connections, and when all are taken the one that has waited longest for its own request to
arrive makes room: the installer's phone, which sends its request at once, always gets in."""

from __future__ import annotations

import time

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

REQUEST_DEADLINE_S = 10.0  # to send a whole request: a phone on weak WiFi needs well under this for 16 KiB
PER_CLIENT = 8  # connections of one address: a browser opens six at most


class DeadlineChannel(HTTPChannel):
    """A connection that knows since when it has been waiting for a request to arrive (None: it has none
    under way: it is being answered, or idle between two requests)."""

    def __init__(self, server, sock, addr, adj, map=None):
        super().__init__(server, sock, addr, adj, map)
        self.waiting_since: float | None = self.creation_time  # a connection that says nothing yet waits too

    def received(self, data):
        before = self.request
        out = super().received(data)
        if self.request is None:  # complete (or nothing begun): handed to a worker, or idle
            self.waiting_since = None if self.requests else self.waiting_since
        elif before is None and self.waiting_since is None:
            self.waiting_since = time.time()
        return out

    @property
    def waiting(self) -> bool:
        """Not being answered: a request under way, or nothing at all (idle between two)."""
        return not self.requests

    @property
    def since(self) -> float:
        return self.waiting_since if self.waiting_since is not None else self.last_activity


class GuardedServer(TcpWSGIServer):
    channel_class = DeadlineChannel
    dropped = 0  # connections closed for their deadline, their address's bound or to make room

    def _channels(self) -> list[DeadlineChannel]:
        return [c for c in self.active_channels.values() if isinstance(c, DeadlineChannel)]

    def maintenance(self, now):
        super().maintenance(now)  # idle connections (keep-alive, between requests)
        for channel in self._channels():
            started = channel.waiting_since
            if channel.waiting and started is not None and now - started > REQUEST_DEADLINE_S:
                self._drop(channel)

    def _drop(self, channel: DeadlineChannel) -> None:
        self.dropped += 1
        channel.handle_close()

    def _oldest_waiting(self, channels: list[DeadlineChannel]) -> DeadlineChannel | None:
        waiting = [c for c in channels if c.waiting]
        return min(waiting, key=lambda c: c.since) if waiting else None

    def readable(self):
        now = time.time()
        due: float = getattr(self, "next_channel_cleanup", 0.0)  # waitress's own, untyped
        if now >= due:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        channels = self._channels()
        # Full, and every connection is being answered: the next one waits in the listen queue.
        return self.accepting and (len(channels) < self.adj.connection_limit or self._oldest_waiting(channels))

    def handle_accept(self):
        channels = self._channels()
        if len(channels) >= self.adj.connection_limit:
            oldest = self._oldest_waiting(channels)
            if oldest is None:
                return
            self._drop(oldest)
        super().handle_accept()
        newest = self._channels()
        if not newest:
            return
        address = max(newest, key=lambda c: c.creation_time).addr[0]
        mine = [c for c in newest if c.addr[0] == address]
        if len(mine) > PER_CLIENT:
            self._drop(self._oldest_waiting(mine) or max(mine, key=lambda c: c.creation_time))


def guarded_server(app, **adjustments) -> GuardedServer:
    """waitress's create_server for one listening address, with the guard."""
    adj = Adjustments(**adjustments)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    return GuardedServer(app, {}, True, None, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])
