"""The HTTP side of a replica: parsing, routing, writing, draining."""
