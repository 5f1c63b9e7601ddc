"""The demo: the seed incident reproduced on a local control plane, then corrected."""
