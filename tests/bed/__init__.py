"""The real-server test bed: redis-server, redis-sentinel (and nginx, later) on loopback."""
