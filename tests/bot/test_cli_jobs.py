"""The CLIs' outputs: the grid at ``-o`` and each image beside it, numbered."""

from __future__ import annotations

from pathlib import Path

from bot.cli_jobs import copy_outputs, image_paths


def test_images_go_beside_the_grid_numbered_from_1() -> None:
    assert image_paths(Path("out/g.png"), 2) == [Path("out/g_1.png"), Path("out/g_2.png")]
    assert image_paths(Path("grid"), 1) == [Path("grid_1.png")]  # no suffix: PNG
    assert image_paths(Path("a.webp"), 0) == []


def test_the_grid_and_images_are_copied_into_a_new_folder(tmp_path: Path) -> None:
    grid, first, second = (tmp_path / name for name in ("grid.bin", "1.bin", "2.bin"))
    for path in (grid, first, second):
        path.write_bytes(path.name.encode())
    output = tmp_path / "new" / "deeper" / "o.png"
    written = copy_outputs(grid, [first, second], output)
    assert written == [output, *image_paths(output, 2)]
    assert [path.read_bytes() for path in written] == [b"grid.bin", b"1.bin", b"2.bin"]


def test_a_single_image_has_no_grid(tmp_path: Path) -> None:
    image = tmp_path / "only.png"
    image.write_bytes(b"one")
    written = copy_outputs(None, [image], tmp_path / "u.png")
    assert written == [tmp_path / "u_1.png"] and not (tmp_path / "u.png").exists()
