"""`make demo`: an embedded Redis master + replica + three sentinels from the Debian binaries, and the
plugin's jobs run against it, printed as a user sees them."""
