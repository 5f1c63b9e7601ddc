"""`registry-sync audit`: the read-only mismatch report of one namespace.

`verdicts` holds the rules (pure), `report` renders them, `inputs` reads the cluster and
the registry with GET/LIST only, and `command` is the click command and kubectl plugin.
"""
