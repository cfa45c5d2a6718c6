"""Nimbus's Python runtime: serves one Python handler over HTTP as runtime-node serves a JavaScript one.

The package imports nothing at load time: a replica's cold start pays only for what it uses.
"""
