"""Functions and their code: the content-addressed code store and the function registry.

Modules: `codestore` (validated zips, safe extraction), `names` (names and ARNs),
`validation` (configuration checks), `functions` (the Registry).
"""
