"""The ewoks-style task class: ``Task`` with ``input_names`` and ``output_names``.

Users write ewokscore's class form unchanged::

    class Add(Task, input_names=["a"], optional_input_names=["b"],
              output_names=["sum"]):
        def run(self):
            b = self.get_input_value("b", 0)
            self.outputs.sum = self.inputs.a + b

A ``Task`` is only the user's view of one run: :mod:`pydra_lite.ewoks.adapter`
wraps each subclass in a pydra_lite task class, so caching, hashing and
workers are the engine's. An optional input that was not given, or an output
that ``run()`` did not set, holds :data:`MISSING_DATA` (falsy, as in ewoks).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from pydra_lite.errors import TaskInputError


class _MissingData(enum.Enum):
    """The value of an input that was not given or an output that was not set."""

    MISSING_DATA = "MISSING_DATA"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING_DATA"

    def __bytes_repr__(self, cache: Any) -> Iterator[bytes]:
        """One fixed preimage: a missing optional input hashes the same everywhere."""
        yield b"ewoks-missing-data"


MISSING_DATA = _MissingData.MISSING_DATA
"""Marks a missing input or an unset output (a singleton, falsy, picklable)."""

_RESERVED = frozenset({"run", "get_input_value", "inputs", "outputs", "missing_inputs"})


class _Namespace:
    """Attribute and item access to a task's input or output values."""

    def __init__(self, task: str, kind: str, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_task", task)
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(self._values) or "none"
            msg = f"{self._task} has no {self._kind} {name!r}; its {self._kind}s are: {known}"
            raise AttributeError(msg) from None

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)


def _items(namespace: _Namespace) -> Iterator[tuple[str, Any]]:
    """Every (name, value) of a namespace, in order (MISSING_DATA included)."""
    return ((name, namespace[name]) for name in namespace)


class _Inputs(_Namespace):
    """Read-only: a task reads its inputs and sets its outputs."""

    def __setattr__(self, name: str, value: Any) -> None:
        msg = f"{self._task}: inputs are read-only; set self.outputs.{name} instead"
        raise AttributeError(msg)


class _Outputs(_Namespace):
    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._values:
            known = ", ".join(self._values) or "none"
            msg = (
                f"{self._task} has no output {name!r}; its outputs are: {known}; "
                "add it to output_names=[...] in the class statement"
            )
            raise AttributeError(msg)
        self._values[name] = value

    __setitem__ = __setattr__


class _Missing(_Namespace):
    """``self.missing_inputs.x`` is True when input ``x`` has no value."""

    def __getattr__(self, name: str) -> bool:
        return super().__getattr__(name) is MISSING_DATA


class Task:
    """Base of ewoks-style tasks; subclass it with class keywords, define ``run``.

    Class keywords: ``input_names`` (required), ``optional_input_names`` and
    ``output_names``; each adds to those of the parent class.
    """

    _INPUT_NAMES: ClassVar[tuple[str, ...]] = ()
    _OPTIONAL_INPUT_NAMES: ClassVar[tuple[str, ...]] = ()
    _OUTPUT_NAMES: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(
        cls,
        input_names: Sequence[str] = (),
        optional_input_names: Sequence[str] = (),
        output_names: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        declared = [*input_names, *optional_input_names, *output_names]
        reserved = sorted(_RESERVED.intersection(declared))
        if reserved:
            msg = f"ewoks task {cls.__qualname__}: {reserved} are reserved names; rename those inputs or outputs"
            raise TypeError(msg)
        cls._INPUT_NAMES = _extend(cls._INPUT_NAMES, input_names)
        cls._OPTIONAL_INPUT_NAMES = _extend(
            cls._OPTIONAL_INPUT_NAMES, optional_input_names
        )
        cls._OUTPUT_NAMES = _extend(cls._OUTPUT_NAMES, output_names)

    def __init__(self, inputs: Mapping[str, Any] | None = None) -> None:
        given = {k: v for k, v in (inputs or {}).items() if v is not MISSING_DATA}
        name = type(self).__qualname__
        for key in self._INPUT_NAMES:
            if key not in given:
                msg = f"ewoks task {name}: required input {key!r} has no value; give it in default_inputs, inputs or a link"
                raise TaskInputError(msg, task=name, field=key)
        values = {k: given.get(k, MISSING_DATA) for k in self.input_names()}
        self.inputs = _Inputs(name, "input", values)
        self.missing_inputs = _Missing(name, "input", values)
        self.outputs = _Outputs(
            name, "output", dict.fromkeys(self._OUTPUT_NAMES, MISSING_DATA)
        )

    @classmethod
    def input_names(cls) -> tuple[str, ...]:
        """Required then optional input names, in declaration order."""
        return cls._INPUT_NAMES + cls._OPTIONAL_INPUT_NAMES

    @classmethod
    def required_input_names(cls) -> tuple[str, ...]:
        return cls._INPUT_NAMES

    @classmethod
    def optional_input_names(cls) -> tuple[str, ...]:
        return cls._OPTIONAL_INPUT_NAMES

    @classmethod
    def output_names(cls) -> tuple[str, ...]:
        return cls._OUTPUT_NAMES

    def get_input_value(self, key: str, default: Any = MISSING_DATA) -> Any:
        """Input ``key``, or ``default`` when it has no value."""
        value = self.inputs[key]
        return default if value is MISSING_DATA else value

    def get_input_values(self) -> dict[str, Any]:
        """The inputs that have a value, by name."""
        return {k: v for k, v in _items(self.inputs) if v is not MISSING_DATA}

    def get_output_values(self) -> dict[str, Any]:
        """The outputs that ``run()`` set, by name."""
        return {k: v for k, v in _items(self.outputs) if v is not MISSING_DATA}

    def run(self) -> None:
        """Compute the outputs from the inputs; subclasses define it."""
        msg = f"ewoks task {type(self).__qualname__} must define run(self)"
        raise NotImplementedError(msg)

    def execute(self) -> dict[str, Any]:
        """Run and return every output (unset ones as MISSING_DATA)."""
        self.run()
        return dict(_items(self.outputs))


def _extend(inherited: tuple[str, ...], added: Sequence[str]) -> tuple[str, ...]:
    """Parent names then new ones, each once (a str is one name, not letters)."""
    if isinstance(added, str):
        added = [added]
    return tuple(dict.fromkeys([*inherited, *added]))
