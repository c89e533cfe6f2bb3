"""What ``bwcli plugin redissync <command>`` runs: one module per command, each with ``main(argv) -> int``.

The files in the plugin's ``bwcli/`` folder only put ``jobs/`` on sys.path and call ``main``. BunkerWeb runs
them in-process (docs/bunkerweb-data.md §bwcli) and swallows ``--help``, hence the ``help`` command and the full usage on
a wrong argument. Exit codes: 0 ok, 1 failure, 2 wrong usage.
"""
