"""Cluster access: one small async client, discovery of every kind, server-side apply
with dry runs, live-versus-desired comparison, inventories, pruning and health.

Only this package talks to the Kubernetes API.
"""
