"""task.cmdline: how each kind of value is rendered, and output file names."""

from __future__ import annotations

from pathlib import Path

import pytest
from fileformats.generic import File

from pydra_lite import StateError, TaskInputError
from pydra_lite.compose import shell
from pydra_lite.compose.shell import PathTemplateError
from pydra_lite.compose.shell.command import value_words
from pydra_lite.compose.shell.fields import Arg


@pytest.fixture
def in_file(tmp_path: Path) -> Path:
    path = tmp_path / "scan one.txt"
    path.write_text("data")
    return path


def test_options_flags_and_positionals_in_template_order(in_file: Path) -> None:
    Tool = shell.define(
        "tool <in_file:generic/file> <out|out_file:generic/file> -n <n:int?> --flag<flag:bool>"
    )
    task = Tool(in_file=in_file, n=3, flag=True)
    assert task.cmdline == f"tool '{in_file}' out_file -n 3 --flag"


def test_none_and_false_leave_the_option_out(in_file: Path) -> None:
    Tool = shell.define("tool <in_file:file> -n <n:int?> --flag<flag:bool>")
    assert Tool(in_file=in_file).cmdline == f"tool '{in_file}'"


def test_constant_words_stay_in_place() -> None:
    Regrid = shell.define("mrgrid <size:int> regrid -voxel <voxel:float>")
    assert Regrid(size=2, voxel=0.5).cmdline == "mrgrid 2 regrid -voxel 0.5"


def test_list_option_is_repeated_for_each_item() -> None:
    Tool = shell.define("tool -i <xs:int+> <names:str*>")
    assert Tool(xs=[1, 2], names=["a", "b"]).cmdline == "tool -i 1 -i 2 a b"
    assert Tool(xs=[1]).cmdline == "tool -i 1"


def test_list_option_given_once_when_repeat_is_false() -> None:
    Tool = shell.define("tool -i <xs:int+>", inputs={"xs": shell.arg(repeat=False)})
    assert Tool(xs=[1, 2, 3]).cmdline == "tool -i 1 2 3"


def test_sep_joins_items_into_one_argument() -> None:
    Tool = shell.define(
        "mrgrid -voxel <voxel:float,float,float> -axes <axes:int*>",
        inputs={"voxel": shell.arg(sep=","), "axes": shell.arg(sep=",")},
    )
    task = Tool(voxel=(1, 1, 2.5), axes=[0, 1])
    assert task.cmdline == "mrgrid -voxel 1.0,1.0,2.5 -axes 0,1"
    assert Tool(voxel=(1, 1, 1)).cmdline == "mrgrid -voxel 1.0,1.0,1.0"


def test_tuple_members_follow_one_option_word() -> None:
    Tool = shell.define("tool --size <size:tuple[int,int]>")
    assert Tool(size=(2, 3)).cmdline == "tool --size 2 3"


def test_list_of_tuples_repeats_the_option_per_tuple() -> None:
    Tool = shell.define("tool --pair <pairs:int,str*>")
    assert Tool(pairs=[(1, "a"), (2, "b")]).cmdline == "tool --pair 1 a --pair 2 b"


def test_option_ending_in_equals_is_glued() -> None:
    Dd = shell.define("dd if=<source:str> bs=<bs:int=512> of=<out|target:generic/file>")
    assert Dd(source="/dev/zero").cmdline == "dd if=/dev/zero bs=512 of=target"


def test_value_words_of_each_kind() -> None:
    field = Arg(name="x", argstr="-x", sep=None, repeat=True)
    assert value_words(field, None) == []
    assert value_words(field, False) == []
    assert value_words(field, True) == ["-x"]
    assert value_words(field, []) == []
    assert value_words(field, Path("/a b")) == ["-x", "/a b"]
    assert value_words(field, 0.25) == ["-x", "0.25"]


# --- output names ---------------------------------------------------------------


def test_output_name_defaults_to_field_name_and_extension(tmp_path: Path) -> None:
    Gz = shell.define("gzip -c <in_file:file> <out|archive:application/gzip>")
    (tmp_path / "a.txt").write_text("x")
    assert Gz(in_file=tmp_path / "a.txt").cmdline.endswith(" archive.gz")


def test_path_template_uses_the_input_stem(tmp_path: Path) -> None:
    Regrid = shell.define(
        "mrgrid <input:file> regrid <out|output:medimage/nifti-gz$"
        + "{input.stem}_regrid>"
    )
    source = tmp_path / "brain.txt"
    source.write_text("x")
    assert Regrid(input=source).cmdline.endswith("regrid brain_regrid.nii.gz")


def test_bare_file_input_in_a_template_is_its_stem(tmp_path: Path) -> None:
    Copy = shell.define(
        "cp <in_file:file> <out|out_file:file>",
        outputs={"out_file": shell.outarg(path_template="{in_file}_copy{in_file.ext}")},
    )
    source = tmp_path / "notes.md"
    source.write_text("x")
    assert Copy(in_file=source).cmdline == f"cp {source} notes_copy.md"


def test_user_may_name_the_output_file(in_file: Path) -> None:
    Copy = shell.define("cp <in_file:file> <out|out_file:file>")
    assert Copy(in_file=in_file, out_file="copy.txt").cmdline.endswith(" copy.txt")


@pytest.mark.parametrize("name", ["/tmp/elsewhere.txt", "../up.txt", ""])
def test_output_outside_the_output_directory_is_refused(
    in_file: Path, name: str
) -> None:
    Copy = shell.define("cp <in_file:file> <out|out_file:file>")
    with pytest.raises(ValueError, match="relative to the task's output directory"):
        _ = Copy(in_file=in_file, out_file=name).cmdline


def test_optional_output_is_given_only_when_asked() -> None:
    Tool = shell.define("tool -log <out|log:generic/file?>")
    assert Tool().cmdline == "tool"
    assert Tool(log=True).cmdline == "tool -log log"


def test_mandatory_output_cannot_be_switched_off(in_file: Path) -> None:
    Copy = shell.define("cp <in_file:file> <out|out_file:file>")
    with pytest.raises(ValueError, match="is not optional"):
        _ = Copy(in_file=in_file, out_file=False).cmdline


def test_template_with_unknown_name_lists_the_inputs(in_file: Path) -> None:
    Copy = shell.define(
        "cp <in_file:file> <out|out_file:file>",
        outputs={"out_file": shell.outarg(path_template="{source.stem}")},
    )
    with pytest.raises(PathTemplateError, match="may use the inputs in_file, out_file"):
        _ = Copy(in_file=in_file).cmdline


# --- when there is no single command line -------------------------------------------


def test_cmdline_needs_every_mandatory_input() -> None:
    Copy = shell.define("cp <in_file:file> <out|out_file:file>")
    with pytest.raises(TaskInputError, match="in_file"):
        _ = Copy().cmdline


def test_cmdline_of_a_split_task_is_refused(in_file: Path) -> None:
    Copy = shell.define("cp <in_file:file> <out|out_file:file>")
    with pytest.raises(StateError, match="is split"):
        _ = Copy().split(in_file=[in_file, in_file]).cmdline


def test_fileset_input_renders_as_its_path(in_file: Path) -> None:
    Cat = shell.define("cat <in_file:generic/file>")
    assert Cat(in_file=File(in_file)).cmdline == f"cat '{in_file}'"
