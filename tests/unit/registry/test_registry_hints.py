"""Deploy-time hints, table-driven: what a user deploying this would need to hear."""

from __future__ import annotations

import pytest

from faas.registry.hints import deploy_warnings, misplaced_module


@pytest.mark.parametrize(
    ("handler", "files"),
    [
        ("app.handler", ["app.py"]),
        ("app.handler", ["app.py", "lib/util.py"]),
        ("pkg.mod.handler", ["pkg/__init__.py", "pkg/mod.py"]),
        ("pkg.mod.handler", ["pkg/mod.py"]),  # namespace package
        ("fast.handler", ["fast.cpython-311-x86_64-linux-gnu.so"]),
        ("compiled.handler", ["compiled.pyc"]),
        ("pkg.handler", ["pkg/__init__.py"]),
    ],
)
def test_code_that_will_import_gets_no_warning(handler: str, files: list[str]) -> None:
    assert deploy_warnings(handler, files) == ()


def test_the_module_in_a_subfolder_names_where_it_was_found() -> None:
    (warning,) = deploy_warnings("app.handler", ["hello/app.py", "hello/README"])
    assert warning.startswith("app.py is not at the root of the zip; found hello/app.py")
    assert "hello.app.<function>" in warning


def test_the_shallowest_match_is_named() -> None:
    files = ["a/b/c/app.py", "src/app.py", "x/y/app.py"]
    assert misplaced_module("app", files) == "src/app.py"
    assert misplaced_module("pkg.mod", ["build/pkg/mod.py"]) == "build/pkg/mod.py"
    assert misplaced_module("app", ["myapp.py", "src/myapp.py"]) is None


def test_a_module_that_is_nowhere() -> None:
    assert deploy_warnings("app.handler", ["main.py"]) == (
        "app.py is not in the zip: the handler's module will not import",
    )


def test_an_empty_zip() -> None:
    (warning,) = deploy_warnings("app.handler", [])
    assert warning.startswith("the code is empty")


def test_a_handler_written_as_a_file_name() -> None:
    warnings = deploy_warnings("app.py", ["app.py"])
    assert warnings == (
        "the handler 'app.py' looks like a file name: a handler is module.function "
        "(for a def handler in app.py: app.handler)",
    )
