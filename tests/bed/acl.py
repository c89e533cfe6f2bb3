"""ACL users of the test bed. The least-privilege rule is what the README documents for production."""

FULL_USER = "bunkerweb"
FULL_PASSWORD = "Full-Pw-0d9f3c2a-redissync"
LEAST_USER = "redissync"
LEAST_PASSWORD = "Least-Pw-6a1b5e77-redissync"

# Key patterns BunkerWeb and redissync use; commands: reads, writes, scans, scripts, server facts.
LEAST_PRIVILEGE_RULE = (
    "~bans_* ~plugin_bad_behavior_* ~sessions_* ~bunkerweb_ui_session:* ~metrics:* ~requests* ~redissync:* "
    "resetchannels -@all +@read +@write +@keyspace +@scripting +@connection +@transaction "
    "-@dangerous +info +role +config|get"
)


def acl_lines(default_user_on: bool = False) -> list[str]:
    return [
        "user default " + ("on nopass ~* &* +@all" if default_user_on else "off"),
        f"user {FULL_USER} on >{FULL_PASSWORD} ~* &* +@all",
        f"user {LEAST_USER} on >{LEAST_PASSWORD} {LEAST_PRIVILEGE_RULE}",
    ]
