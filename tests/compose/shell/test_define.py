"""shell.define: task classes from templates and classes, their fields and hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import cloudpickle
import pytest
from fileformats.generic import File
from fileformats.medimage import NiftiGz

from pydra_lite import TaskInputError
from pydra_lite.compose import shell
from pydra_lite.compose.base import UNSET, operation_hash
from pydra_lite.compose.shell import TemplateError

Tool = shell.define(
    "tool <in_file:generic/file> <out|out_file:generic/file> -n <n:int?> --flag<flag:bool>"
)


def _types(cls: Any) -> dict[str, Any]:
    return {field.name: field.type for field in attrs.fields(cls)}


def _defaults(cls: Any) -> dict[str, Any]:
    return {field.name: field.default for field in attrs.fields(cls)}


def test_template_gives_typed_inputs_in_command_order() -> None:
    assert _types(Tool) == {
        "in_file": File,
        "out_file": str | bool,
        "n": int | None,
        "flag": bool,
    }
    assert _defaults(Tool) == {
        "in_file": UNSET,
        "out_file": True,
        "n": None,
        "flag": False,
    }


def test_outputs_are_run_facts_then_declared_files() -> None:
    assert _types(Tool.Outputs) == {
        "return_code": int,
        "stdout": str,
        "stderr": str,
        "out_file": File,
    }


def test_optional_output_file_is_left_out_by_default() -> None:
    Log = shell.define("tool -log <out|log:generic/file?>")
    assert _defaults(Log)["log"] is False
    assert _types(Log.Outputs)["log"] == File | None


def test_inputs_are_checked_and_coerced() -> None:
    with pytest.raises(TaskInputError, match="n"):
        Tool(n="three")
    assert Tool(n=3).n == 3


def test_name_defaults_to_the_executable_in_camel_case() -> None:
    assert Tool.__name__ == "Tool"
    assert shell.define("git status")().__class__.__name__ == "GitStatus"
    assert shell.define("/usr/bin/my-tool <a:int>").__name__ == "MyTool"
    assert shell.define("7z <a:int>").__name__ == "Shell7z"
    assert shell.define("cp <a> <b>", name="Copy").__name__ == "Copy"


def test_class_is_made_in_the_callers_module() -> None:
    assert Tool.__module__ == __name__


def test_help_and_field_options_come_from_keywords() -> None:
    Regrid = shell.define(
        "mrgrid <input:medimage/nifti-gz> regrid <out|output:medimage/nifti-gz>",
        inputs={
            "input": "the image",
            "size": shell.arg(type=int, argstr="-size", default=3),
        },
        outputs={"output": shell.outarg(path_template="{input.stem}_regrid")},
        help="Regrid an image.",
        name="Regrid",
    )
    fields = attrs.fields_dict(Regrid)
    assert fields["input"].metadata["help"] == "the image"
    assert (fields["size"].type, fields["size"].default) == (int, 3)
    assert Regrid.__doc__ == "Regrid an image."
    out = next(i for i in Regrid._command.items if getattr(i, "name", "") == "output")
    assert out.path_template == "{input.stem}_regrid"
    assert out.type is NiftiGz


def test_help_alone_cannot_add_a_field() -> None:
    with pytest.raises(TemplateError, match="'size' is not in the template"):
        shell.define("tool <a:int>", inputs={"size": "the size"})


def test_override_of_another_kind_is_refused() -> None:
    with pytest.raises(TemplateError, match="is an arg in the template"):
        shell.define("tool <a:int>", outputs={"a": shell.outarg(argstr="-a")})


def test_callable_output_takes_its_return_type() -> None:
    def size(out_file: File) -> int:
        return len(Path(out_file).read_bytes())

    Sized = shell.define(
        "cp <in_file:file> <out|out_file:file>", outputs={"size": size}
    )
    assert _types(Sized.Outputs)["size"] is int


def test_callable_with_unknown_parameter_is_refused() -> None:
    def bad(colour: str) -> int:
        return 0

    with pytest.raises(TemplateError, match="takes 'colour'; it may take"):
        shell.define("tool <a:int>", outputs={"x": bad})


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("tool <stdout:str>", "'stdout' is reserved"),
        ("tool <a:int> <a:int>", "used twice"),
        ("tool <flag:bool>", "needs an option word"),
    ],
)
def test_unworkable_fields_are_refused(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        shell.define(template)


def test_position_taken_twice_is_refused() -> None:
    with pytest.raises(TemplateError, match="position 1 is given twice"):
        shell.define("tool <a:int>", inputs={"b": shell.arg(type=int, position=1)})


def test_out_needs_callable_or_template() -> None:
    with pytest.raises(
        TemplateError, match="exactly one of callable= or path_template="
    ):
        shell.define("tool", outputs={"x": shell.out(type=int)})


def test_define_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="template string or a class"):
        shell.define(42)


# --- the class form ---------------------------------------------------------------


def _stem_length(output: NiftiGz) -> int:
    return len(Path(output).name)


@shell.define
class MrGrid(shell.Task):
    """Regrid an image.

    Args:
        input: the image to regrid.
        voxel: the new voxel size.
    """

    executable = "mrgrid"

    input: NiftiGz = shell.arg(position=1)
    operation: str = shell.arg(position=2, default="regrid")
    voxel: float | None = shell.arg(argstr="-voxel", default=None)
    interp: str = "cubic"

    class Outputs:
        output: NiftiGz = shell.outarg(position=3, path_template="{input}_regrid")
        name_length: int = shell.out(callable=_stem_length)


def test_class_form_fields_and_help() -> None:
    assert _types(MrGrid) == {
        "input": NiftiGz,
        "operation": str,
        "output": str | bool,
        "voxel": float | None,
        "interp": str,
    }
    assert attrs.fields_dict(MrGrid)["input"].metadata["help"] == "the image to regrid."
    assert _types(MrGrid.Outputs)["output"] is NiftiGz
    assert MrGrid.__doc__.startswith("Regrid an image.")


def test_class_form_orders_positions_then_declaration_order() -> None:
    names = [item.name for item in MrGrid._command.items]  # type: ignore[union-attr]
    assert names == ["input", "operation", "output", "voxel", "interp"]
    assert MrGrid._command.executable == ("mrgrid",)


def test_class_form_needs_an_executable() -> None:
    with pytest.raises(TemplateError, match="needs executable"):

        @shell.define
        class NoExe:
            a: int


def test_class_form_output_needs_a_field_description() -> None:
    with pytest.raises(TemplateError, match="needs shell.outarg"):

        @shell.define
        class Bare:
            executable = "tool"

            class Outputs:
                out_file: File


def test_negative_positions_go_last() -> None:
    Cp = shell.define(
        "cp <out|dest:file> <source:file>",
        outputs={"dest": shell.outarg(position=-1)},
    )
    assert [item.name for item in Cp._command.items] == ["source", "dest"]  # type: ignore[union-attr]


def test_task_class_survives_cloudpickle() -> None:
    Local = shell.define("echo <text:str> -n<no_newline>")
    copy = cloudpickle.loads(cloudpickle.dumps(Local))
    assert copy(text="hi").cmdline == "echo hi"
    assert operation_hash(copy) == operation_hash(Local)


# --- the operation hash -------------------------------------------------------------


def _digest(template: str, **options: Any) -> bytes:
    return operation_hash(shell.define(template, **options))


def test_same_definition_same_operation_hash() -> None:
    template = "tool <a:int> -n <n:float=1.0>"
    assert _digest(template) == _digest(template)
    assert _digest(template) == _digest(template, name="Other", help="text")


@pytest.mark.parametrize(
    "changed",
    [
        "other <a:int> -n <n:float=1.0>",
        "tool <b:int> -n <n:float=1.0>",
        "tool <a:float> -n <n:float=1.0>",
        "tool <a:int> -m <n:float=1.0>",
        "tool -n <n:float=1.0> <a:int>",
        "tool <a:int> -n <n:float?>",
    ],
)
def test_definition_changes_change_the_operation_hash(changed: str) -> None:
    assert _digest(changed) != _digest("tool <a:int> -n <n:float=1.0>")


def test_defaults_and_help_do_not_count() -> None:
    base = _digest("tool <a:int=1>")
    assert _digest("tool <a:int=2>", inputs={"a": "help"}) == base


def test_version_label_changes_the_operation_hash() -> None:
    assert _digest("tool <a:int>", version="3.0") != _digest("tool <a:int>")
    assert _digest("tool <a:int>", version="3.0") == _digest(
        "tool <a:int>", version="3.0"
    )


def test_callable_code_counts_in_the_operation_hash() -> None:
    def one() -> int:
        return 1

    def two() -> int:
        return 2

    assert _digest("tool", outputs={"x": one}) != _digest("tool", outputs={"x": two})
