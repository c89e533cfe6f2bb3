"""The development harness: what tests/, demo/ and bench/ run the plugin on, and never shipped (tools/dist.py).

- real servers on loopback, random ports, temp dirs: ``servers`` (redis-server), ``sentinel`` and ``sentinel_ops``
  (master + replica + 3 sentinels), ``cluster`` (Redis Cluster), ``tls`` and ``tls_extra`` (a test CA), ``acl``
  (the full and least-privilege users), ``nginx`` (nginx with the Lua module), ``dns``, ``faultproxy`` (a TCP
  proxy that breaks connections), ``loadgen`` (instances writing bans during a failover), ``promtool``;
- stand-in BunkerWeb pieces, each citing the BunkerWeb source it follows: ``bwjob`` (``Job`` and its
  ``Database``), ``instances`` (instances and their API), ``core_redis`` (core's redis plugin.json installed),
  ``templator`` and ``rendering`` (the configuration generator; ``luadata`` reads what it renders), ``lua/``
  (BunkerWeb's Lua modules ``redissync.lua`` needs) and ``plugin_nginx`` (nginx running ``redissync.lua`` on them),
  ``bans`` and ``bunkerweb_redis`` (what instances write to and send Redis; ``bans`` also runs one bans pass);
- job runners: ``jobrun`` (a job or bwcli file in-process, as BunkerWeb loads it), ``jobproc`` (in a child process).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the plugin folder: jobs/, bwcli/, confs/, plugin.json
