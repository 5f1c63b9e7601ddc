"""Kopf handlers: thin glue from watch events and admission reviews to the controller.

Each handler is a top-level function of this package; `triggers.py` declares which event
calls which. No domain rules live here.
"""
