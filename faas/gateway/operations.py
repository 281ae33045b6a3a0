"""Which Lambda API operation a request is, from its method, raw path and query.

Templates follow the requestUri rules of the Lambda model (lambda_operations.py):
- `{Name}` is exactly one non-empty path segment. Paths are matched still percent-encoded, so a
  function ARN fits whether its colons arrive as `:` or `%3A`, and a `%2F` stays in its segment;
- `{Name+}` is greedy: one or more segments, slashes included;
- a query literal after `?` (`?List=ALL`, or a bare `?key`) must be in the request's query. It is
  what tells two operations on the same method and path apart.
When several templates match, the most specific wins: more query literals, then more literal
path segments, then no greedy label; a tie goes to the table's order. One trailing slash is
ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_LABEL = re.compile(r"\{(\w+)(\+?)\}")


@dataclass(frozen=True, slots=True)
class LambdaOperation:
    name: str
    method: str
    request_uri: str


@dataclass(frozen=True, slots=True)
class _Template:
    operation: LambdaOperation
    path: re.Pattern[str]
    # (key, value): the request's query must carry key=value; a None value asks only for the key.
    query: tuple[tuple[str, str | None], ...]
    specificity: tuple[int, int, int]


class OperationMatcher:
    """Matches requests against a table of (name, HTTP method, requestUri)."""

    def __init__(self, table: Iterable[tuple[str, str, str]]) -> None:
        templates = [_compile(LambdaOperation(*row)) for row in table]
        # sorted() is stable, so equally specific templates keep the table's order.
        templates.sort(key=lambda template: template.specificity, reverse=True)
        by_method: dict[str, list[_Template]] = {}
        for template in templates:
            by_method.setdefault(template.operation.method, []).append(template)
        self._by_method = {method: tuple(found) for method, found in by_method.items()}

    def match(self, method: str, raw_path: str, query: Mapping[str, str]) -> LambdaOperation | None:
        """The operation `method raw_path?query` is, or None if it is no operation of the table."""
        path = raw_path[:-1] if len(raw_path) > 1 and raw_path.endswith("/") else raw_path
        for template in self._by_method.get(method, ()):
            if template.path.fullmatch(path) and _has_literals(query, template.query):
                return template.operation
        return None


def _compile(operation: LambdaOperation) -> _Template:
    path_template, _, query_template = operation.request_uri.partition("?")
    pattern: list[str] = []
    position = 0
    greedy_labels = 0
    for label in _LABEL.finditer(path_template):
        pattern.append(re.escape(path_template[position : label.start()]))
        pattern.append(".+" if label.group(2) else "[^/]+")
        greedy_labels += bool(label.group(2))
        position = label.end()
    pattern.append(re.escape(path_template[position:]))
    literals = _query_literals(query_template)
    literal_segments = sum(
        1 for segment in path_template.split("/") if segment and "{" not in segment
    )
    return _Template(
        operation=operation,
        path=re.compile("".join(pattern)),
        query=literals,
        specificity=(len(literals), literal_segments, -greedy_labels),
    )


def _query_literals(query_template: str) -> tuple[tuple[str, str | None], ...]:
    literals: list[tuple[str, str | None]] = []
    for pair in filter(None, query_template.split("&")):
        key, equals, value = pair.partition("=")
        literals.append((key, value if equals else None))
    return tuple(literals)


def _has_literals(query: Mapping[str, str], literals: tuple[tuple[str, str | None], ...]) -> bool:
    return all(
        key in query if value is None else query.get(key) == value for key, value in literals
    )
