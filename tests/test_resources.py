"""Checks made before work starts: memory, and whether a file can be created."""

from __future__ import annotations

import os

import pytest

from nca.resources import (
    NotEnoughMemory,
    NotWritable,
    check_fits_in_memory,
    check_writable,
    why_not_writable,
)


def test_a_new_file_in_a_new_folder_is_writable_and_nothing_is_left(tmp_path):
    assert why_not_writable(tmp_path / "new" / "deeper" / "x.onnx") is None
    assert list(tmp_path.iterdir()) == []  # the probe file is gone, no folder was made


def test_a_path_under_a_file_or_a_folder_is_not(tmp_path):
    (tmp_path / "file").write_text("")
    assert (
        why_not_writable(tmp_path / "file" / "x.onnx")
        == f"{tmp_path / 'file'} is a file, not a folder"
    )
    assert why_not_writable(tmp_path) == f"{tmp_path} is a folder"
    with pytest.raises(NotWritable, match="cannot write .*x.onnx: .* is a file, not a folder; go"):
        check_writable(tmp_path / "file" / "x.onnx", "go")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="no /proc on this system")
def test_proc_takes_no_new_files_even_for_root():
    # os.access says yes to root here; the file system says no
    assert why_not_writable("/proc/x.onnx").startswith("/proc takes no new files (")


def test_memory_beyond_the_machine_is_refused():
    with pytest.raises(NotEnoughMemory, match="needs at least .* GiB; this machine has .*: less"):
        check_fits_in_memory(2**60, "a thing", "less")
    check_fits_in_memory(1, "a thing", "less")
