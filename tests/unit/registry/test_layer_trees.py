"""Merging a function's layers into its /opt tree: order, override, idempotence, and a failed
merge that leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faas.registry.layer_trees import LayerTrees, tree_name


def layer(root: Path, name: str, files: dict[str, str]) -> tuple[str, Path]:
    """An extracted layer as the layer store leaves one: files read-only."""
    directory = root / name
    for relative, content in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o444)
    return name * 8, directory


def read_tree(tree: Path) -> dict[str, str]:
    return {
        str(path.relative_to(tree)): path.read_text()
        for path in sorted(tree.rglob("*"))
        if path.is_file()
    }


def test_later_layers_win_and_the_rest_of_each_stays(tmp_path: Path) -> None:
    first = layer(tmp_path, "a", {"python/mod.py": "a", "python/only_a.py": "a", "x.txt": "a"})
    second = layer(tmp_path, "b", {"python/mod.py": "b", "bin/tool": "b"})
    tree = LayerTrees(tmp_path / "opt").tree([first, second])
    assert read_tree(tree) == {
        "bin/tool": "b",
        "python/mod.py": "b",
        "python/only_a.py": "a",
        "x.txt": "a",
    }
    reversed_tree = LayerTrees(tmp_path / "opt").tree([second, first])
    assert read_tree(reversed_tree)["python/mod.py"] == "a"
    assert reversed_tree != tree


def test_files_are_hard_links_and_the_tree_is_read_only(tmp_path: Path) -> None:
    only = layer(tmp_path, "a", {"python/mod.py": "a"})
    tree = LayerTrees(tmp_path / "opt").tree([only])
    assert os.stat(tree / "python" / "mod.py").st_ino == os.stat(only[1] / "python/mod.py").st_ino
    assert not os.stat(tree / "python").st_mode & 0o222
    assert tree.name == tree_name([only[0]])


def test_a_directory_replaces_a_file_or_link_and_nothing_is_written_through_a_link(
    tmp_path: Path,
) -> None:
    first = layer(tmp_path, "a", {"lib/real/keep.txt": "a", "data": "a file"})
    os.symlink("real", first[1] / "lib" / "python")
    outside = tmp_path / "a" / "lib" / "real"
    second = layer(tmp_path, "b", {"lib/python/mod.py": "b", "data/inside.txt": "b"})
    tree = LayerTrees(tmp_path / "opt").tree([first, second])
    assert not (tree / "lib" / "python").is_symlink()
    assert (tree / "lib" / "python" / "mod.py").read_text() == "b"
    assert (tree / "data" / "inside.txt").read_text() == "b"
    assert not (outside / "mod.py").exists()


def test_building_again_gives_the_same_tree_untouched(tmp_path: Path) -> None:
    layers = [layer(tmp_path, "a", {"a.txt": "a"}), layer(tmp_path, "b", {"b.txt": "b"})]
    trees = LayerTrees(tmp_path / "opt")
    tree = trees.tree(layers)
    inode = os.stat(tree).st_ino
    assert trees.tree(layers) == tree
    assert os.stat(tree).st_ino == inode
    assert [p.name for p in (tmp_path / "opt").iterdir()] == [tree.name]


def test_a_failed_merge_leaves_nothing(tmp_path: Path) -> None:
    good = layer(tmp_path, "a", {"a.txt": "a"})
    missing = ("b" * 64, tmp_path / "not-extracted")
    trees = LayerTrees(tmp_path / "opt")
    with pytest.raises(FileNotFoundError):
        trees.tree([good, missing])
    assert list((tmp_path / "opt").iterdir()) == []
    assert (good[1] / "a.txt").read_text() == "a"  # the layer itself is untouched


def test_unused_trees_are_removed_and_the_layers_files_stay(tmp_path: Path) -> None:
    first, second = layer(tmp_path, "a", {"a.txt": "a"}), layer(tmp_path, "b", {"b.txt": "b"})
    trees = LayerTrees(tmp_path / "opt")
    kept, dropped = trees.tree([first]), trees.tree([first, second])
    assert trees.remove_unused({str(kept)}) == 1
    assert kept.is_dir() and not dropped.exists()
    assert (second[1] / "b.txt").read_text() == "b"
