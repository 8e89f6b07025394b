"""python.define: fields from signatures and classes, typed and keyword-only."""

from __future__ import annotations

import typing

import attrs
import pytest

from pydra_lite import StateError, TaskInputError, python
from pydra_lite.compose.base import check_mandatory


@python.define
def Add(a: int, b: int = 1) -> int:
    """Add two numbers.

    Args:
        a: the first number.
        b: the second number.
    """
    return a + b


@python.define(outputs=["mean", "spread"])
def Stats(xs: list[float]) -> tuple[float, float]:
    return sum(xs) / len(xs), max(xs) - min(xs)


def test_inputs_come_from_the_signature() -> None:
    fields = {f.name: f for f in attrs.fields(Add)}
    assert list(fields) == ["a", "b"]
    assert fields["a"].type is int
    assert fields["b"].default == 1
    assert fields["a"].metadata["help"] == "the first number."


def test_unannotated_parameter_is_any() -> None:
    @python.define
    def Echo(x):  # type: ignore[no-untyped-def]
        return x

    assert attrs.fields(Echo).x.type is typing.Any
    assert Echo(x=object()).x is not None


def test_one_output_named_out_by_default() -> None:
    assert [f.name for f in attrs.fields(Add.Outputs)] == ["out"]
    assert attrs.fields(Add.Outputs).out.type is int


def test_the_outputs_class_is_made_once_on_first_use() -> None:
    @python.define
    def Twice(x: int) -> int:
        return 2 * x

    assert not isinstance(Twice.__dict__["Outputs"], type)  # not made yet
    made = Twice.Outputs
    assert Twice.__dict__["Outputs"] is made is Twice.Outputs
    assert made.__qualname__ == "Twice.Outputs"
    assert made(out=2).out == 2


def test_outputs_compare_order_print_and_refuse_hashing_as_attrs_classes_do() -> None:
    outputs = Stats.Outputs(mean=1.0, spread=2.0)
    assert outputs == Stats.Outputs(mean=1.0, spread=2.0)
    assert outputs != Stats.Outputs(mean=1.0, spread=3.0)
    assert outputs != (1.0, 2.0)  # another type is never equal
    bigger = Stats.Outputs(mean=1.0, spread=3.0)
    assert outputs < bigger and outputs <= bigger and bigger > outputs >= outputs
    assert sorted([bigger, outputs]) == [outputs, bigger]
    with pytest.raises(TypeError):
        _ = outputs < (1.0, 3.0)  # type: ignore[operator]
    nan = float("nan")  # the same object: equal, as in a tuple
    assert Stats.Outputs(mean=nan, spread=1.0) == Stats.Outputs(mean=nan, spread=1.0)
    assert repr(outputs) == "Stats.Outputs(mean=1.0, spread=2.0)"
    assert attrs.asdict(outputs) == {"mean": 1.0, "spread": 2.0}
    with pytest.raises(TypeError, match="unhashable"):
        hash(outputs)
    with pytest.raises(AttributeError):
        outputs.other = 1  # type: ignore[attr-defined]  # slotted: no stray fields


def test_output_names_take_tuple_member_types() -> None:
    fields = attrs.fields(Stats.Outputs)
    assert [f.name for f in fields] == ["mean", "spread"]
    assert fields.mean.type is float


def test_outputs_as_mapping_give_names_and_types() -> None:
    @python.define(outputs={"total": int, "label": str})
    def Both(x: int):  # type: ignore[no-untyped-def]
        return x, str(x)

    assert {f.name: f.type for f in attrs.fields(Both.Outputs)} == {
        "total": int,
        "label": str,
    }


def test_class_form_defines_inputs_outputs_and_function() -> None:
    @python.define
    class Scale:
        """Scale a value.

        Args:
            x: the value.
        """

        x: float
        factor: float = 2.0

        class Outputs:
            scaled: float

        @staticmethod
        def function(x: float, factor: float) -> float:
            return x * factor

    task = Scale(x=3)
    assert task.x == 3.0 and isinstance(task.x, float)
    assert [f.name for f in attrs.fields(Scale.Outputs)] == ["scaled"]
    assert attrs.fields(Scale).x.metadata["help"] == "the value."


def test_instances_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Add(1)  # type: ignore[misc]


def test_wrong_type_when_built_names_task_field_type_and_value() -> None:
    with pytest.raises(TaskInputError) as info:
        Add(a="3")
    message = str(info.value)
    for part in ("Add", "'a'" if "'a'" in message else "a", "int", "'3'", "str"):
        assert part in message
    assert info.value.task == "Add" and info.value.field == "a"


def test_wrong_type_when_set_raises_and_keeps_the_old_value() -> None:
    task = Add(a=1)
    with pytest.raises(TypeError, match="Add"):
        task.b = "x"
    assert task.b == 1


def test_int_is_coerced_to_float_field() -> None:
    task = Stats(xs=[1, 2])
    assert task.xs == [1.0, 2.0] and all(isinstance(x, float) for x in task.xs)


def test_unknown_input_lists_the_known_ones() -> None:
    with pytest.raises(TaskInputError, match=r"unknown input.*'c'.*a, b"):
        Add(a=1, c=2)


def test_mandatory_input_may_wait_until_submission() -> None:
    task = Add()
    with pytest.raises(TaskInputError, match=r"Add: mandatory input 'a' \(int\)"):
        check_mandatory(task)


def test_split_and_combine_return_new_objects() -> None:
    task = Add(b=2)
    split = task.split(a=[1, 2, 3])
    combined = split.combine("a")
    assert task.splitter is None and task.a is not None
    assert split.splitter == "a" and list(split.a) == [1, 2, 3]
    assert combined.combiner == ("a",) and split.combiner == ()


def test_split_values_are_checked_per_item() -> None:
    with pytest.raises(TaskInputError, match="Add"):
        Add().split(a=[1, "two"])


def test_split_twice_is_refused() -> None:
    with pytest.raises(StateError, match="already split"):
        Add().split(a=[1]).split(b=[2])


def test_varargs_functions_are_refused() -> None:
    def f(*args: int) -> int:
        return 0

    with pytest.raises(TypeError, match="named parameters"):
        python.define(f)
