"""Ports of the reference to other frameworks, each checkable over the wire
(``tasktail conform --url``): ``tasktail.ports.aiohttp`` (needs the ``aiohttp`` extra)."""
