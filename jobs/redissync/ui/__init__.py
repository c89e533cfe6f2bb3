"""The plugin page in BunkerWeb's web UI (``ui/actions.py`` and ``ui/template.html`` are its thin entry).

``page`` gathers the view model from the reports the jobs cached, ``sections`` shapes each part of the page
(``topology`` the Sentinel part, ``shards`` the Redis Cluster part), ``format`` turns values into display text, ``sparkline`` draws the
history server-side, ``actions`` runs the page's buttons (check now, reconcile now).
"""
