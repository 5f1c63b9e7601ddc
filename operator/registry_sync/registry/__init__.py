"""The Model Registry: its transport, an async REST client, its wire models, and the snapshot
source.

Nothing is re-exported here: import each name from its module, so that a module needing
one part of the package (the settings need only `transport.api_url_of`) loads no other.
"""
