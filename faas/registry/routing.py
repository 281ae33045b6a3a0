"""Which version an invocation of an alias runs: weighted aliases, the pure part.

An alias names its version and may give one additional published version a weight w in
[0, 1] (AliasRoutingConfiguration). Each invocation of it draws one number r, uniform in
[0, 1), from the random source it is given and runs the additional version when r < w, else
the alias's own version: over many invocations the additional version gets a share w of them.
An alias without routing draws nothing. The source is a parameter so that tests can seed it.
"""

from __future__ import annotations

from collections.abc import Callable

from faas.domain import Alias

# A uniform draw in [0, 1), e.g. random.random or a seeded random.Random().random.
Draw = Callable[[], float]


def routed_version(alias: Alias, draw: Draw) -> str:
    """The version one invocation of `alias` runs (one draw when the alias is weighted)."""
    additional = alias.additional_version
    if additional is None:
        return alias.function_version
    return additional if draw() < alias.additional_weight else alias.function_version
