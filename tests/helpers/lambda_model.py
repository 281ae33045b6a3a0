"""Lambda's wire model as botocore ships it: the source of faas/gateway/lambda_operations.py.

botocore is a test dependency only, so the server reads the committed table instead of this.
After upgrading botocore, regenerate the table with

    python -m tests.helpers.lambda_model
"""

from __future__ import annotations

from pathlib import Path

import botocore
from botocore.loaders import Loader

ROOT = Path(__file__).resolve().parents[2]
TABLE_PATH = ROOT / "faas" / "gateway" / "lambda_operations.py"
API_VERSION = "2015-03-31"
LINE_LENGTH = 100

HEADER = '''"""Lambda's REST operations: (name, HTTP method, requestUri), as botocore models them.

Generated from botocore {version} by `python -m tests.helpers.lambda_model`; regenerate it
rather than editing it by hand.
"""

from __future__ import annotations

OPERATIONS: tuple[tuple[str, str, str], ...] = (
'''


def botocore_operations() -> dict[str, tuple[str, str]]:
    """{operation name: (HTTP method, requestUri)} from the installed botocore."""
    model = Loader().load_service_model("lambda", "service-2", API_VERSION)
    return {
        name: (operation["http"]["method"], operation["http"]["requestUri"])
        for name, operation in model["operations"].items()
    }


def render_table(operations: dict[str, tuple[str, str]], version: str) -> str:
    """The table module's source, already in `ruff format` style, one operation per entry."""
    lines = [HEADER.format(version=version)]
    for name in sorted(operations):
        method, request_uri = operations[name]
        lines.append(_entry([name, method, request_uri]))
    lines.append(")\n")
    return "".join(lines)


def _entry(fields: list[str]) -> str:
    quoted = [_quote(field) for field in fields]
    one_line = f"    ({', '.join(quoted)}),\n"
    if len(one_line) - 1 <= LINE_LENGTH:
        return one_line
    inner = "".join(f"        {field},\n" for field in quoted)
    return f"    (\n{inner}    ),\n"


def _quote(text: str) -> str:
    if not text.isprintable() or '"' in text or "\\" in text:
        raise ValueError(f"unexpected characters in the Lambda model: {text!r}")
    return f'"{text}"'


def main() -> None:
    operations = botocore_operations()
    TABLE_PATH.write_text(render_table(operations, botocore.__version__))
    print(f"wrote {len(operations)} operations to {TABLE_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
