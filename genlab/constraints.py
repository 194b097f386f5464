"""Business rules a table model keeps exactly in every sample (`fit(df, constraints=[...])`).

- `Inequality(low, high)`: ``high >= low`` (``strict=True``: ``>``), numbers or dates;
- `Range(column, low, high)`: ``low <= column <= high`` with constant bounds (numbers, or
  dates as text / Timestamps for a datetime column);
- `FixedCombinations(columns)`: the columns only take combinations seen in training
  (``city <-> country``);
- `Sum(parts, total)`: ``a + b == total``;
- `Predicate(fn)`: any Python rule on rows, as a last resort: enforced by rejection only and
  never written to a model file (it is code).

Text forms (`parse`, `genlab fit --constraint`): ``last_login >= signup_date``,
``0 <= age <= 120``, ``a + b == total``, ``city <-> country`` (or ``fixed(city, country)``);
a name holding an operator or a space-free number goes in backticks (`` `a+b` ``), a date
bound in quotes (``signup >= '2020-01-01'``). A missing value satisfies every constraint.
How each one is kept (reparametrisation or rejection) is in `genlab.models.table._constrained`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from genlab.errors import ParameterError

__all__ = ["Bound", "Constraint", "FixedCombinations", "Inequality", "Predicate", "Range", "Sum",
           "parse", "to_constraints"]

_FORMS = ("write e.g. 'last_login >= signup_date', '0 <= age <= 120', 'a + b == total' or "
          "'city <-> country'")
_NO_CODE = ("a Python rule is genlab.constraints.Predicate, from Python only: it is code, so "
            "it is never saved in a model file and the command line cannot take one")
_TOKEN = re.compile(r"\s*(`[^`]*`|'[^']*'|\"[^\"]*\"|"
                    r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?=\s|$|[<>=!,()])|"
                    r"<->|>=|<=|==|!=|>|<|\+|,|\(|\)|"
                    r"[^`'\"<>=!+,()]+)")
_OPS = ("<->", ">=", "<=", "==", "!=", ">", "<", "+", ",", "(", ")")
_NAME_MAX = 1024
_CODE = re.compile(r"\blambda\b|\bdef\b|:|\.[A-Za-z_]|\[")  # text that reads as Python


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _NAME_MAX:
        raise ParameterError(f"{what} must be a column name (a non-empty string), got {value!r}")
    return value


def _quote(name: str) -> str:
    """`name` as text `parse` reads back: bare when it can be, else in backticks."""
    plain = re.fullmatch(r"[^`'\"<>=!+,()\s](?:[^`'\"<>=!+,()]*[^`'\"<>=!+,()\s])?", name)
    bare = plain and not _is_number(name) and name.lower() != "fixed" and not _CODE.search(name)
    return name if bare and _reads_as_name(name) else f"`{name}`"


def _reads_as_name(name: str) -> bool:
    try:
        return _tokens(name) == [name]
    except ParameterError:
        return False


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


class Constraint:
    """A rule on the columns of a table; the subclasses are data, except `Predicate`."""

    type_name: ClassVar[str] = ""

    @property
    def columns(self) -> list[str]:
        """The columns the rule involves, in order."""
        raise NotImplementedError

    def describe(self) -> str:
        """The rule in its text form (`parse(c.describe()) == [c]`)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON types (what a model file stores)."""
        raise NotImplementedError

    def broken(self) -> str:
        """What a row breaking the rule has, e.g. "last_login < signup_date"."""
        return f"break {self.describe()}"


@dataclass(frozen=True)
class Inequality(Constraint):
    """``high >= low`` (``high > low`` with ``strict=True``) for two number columns or two
    date columns; SDV's argument order: `Inequality("signup_date", "last_login")`."""

    low: str
    high: str
    strict: bool = False
    type_name: ClassVar[str] = "inequality"

    def __post_init__(self) -> None:
        _name(self.low, "Inequality low"), _name(self.high, "Inequality high")
        if self.low == self.high:
            raise ParameterError(f"Inequality compares column {self.low!r} with itself; "
                                 "name two different columns")
        if not isinstance(self.strict, bool):
            raise ParameterError(f"Inequality strict must be True or False, got {self.strict!r}")

    @property
    def columns(self) -> list[str]:
        return [self.low, self.high]

    def describe(self) -> str:
        return f"{_quote(self.high)} {'>' if self.strict else '>='} {_quote(self.low)}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "low": self.low, "high": self.high,
                "strict": self.strict}

    def broken(self) -> str:
        return f"have {self.high} {'<=' if self.strict else '<'} {self.low}"


Bound = float | int | str | None


def _bound(value: Any, what: str) -> Bound:
    if value is None or isinstance(value, str) and len(value) <= 64 and not (
            set(value) & set("'\"`")):
        return value
    if hasattr(value, "isoformat"):  # a Timestamp / datetime bound of a datetime column
        return str(value.isoformat())
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ParameterError(f"Range {what} must be a finite number, a date (text or Timestamp) "
                         f"or None, got {value!r}")


@dataclass(frozen=True)
class Range(Constraint):
    """``low <= column <= high`` with constant bounds (None: unbounded on that side);
    `strict_low` / `strict_high` make that side ``<``."""

    column: str
    low: Bound = None
    high: Bound = None
    strict_low: bool = False
    strict_high: bool = False
    type_name: ClassVar[str] = "range"

    def __post_init__(self) -> None:
        _name(self.column, "Range column")
        object.__setattr__(self, "low", _bound(self.low, "low"))
        object.__setattr__(self, "high", _bound(self.high, "high"))
        if self.low is None and self.high is None:
            raise ParameterError(f"Range on {self.column!r} needs a low or a high bound")
        # strictness of a side without a bound means nothing: one spelling of each rule
        object.__setattr__(self, "strict_low", self.strict_low and self.low is not None)
        object.__setattr__(self, "strict_high", self.strict_high and self.high is not None)
        for flag in (self.strict_low, self.strict_high):
            if not isinstance(flag, bool):
                raise ParameterError(f"Range strict_low / strict_high must be True or False, "
                                     f"got {flag!r}")

    @property
    def columns(self) -> list[str]:
        return [self.column]

    def describe(self) -> str:
        def lit(v: Bound) -> str:
            return f"'{v}'" if isinstance(v, str) else repr(float(v))  # type: ignore[arg-type]
        text = _quote(self.column)
        if self.low is not None:
            text = f"{lit(self.low)} {'<' if self.strict_low else '<='} {text}"
        if self.high is not None:
            text = f"{text} {'<' if self.strict_high else '<='} {lit(self.high)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "column": self.column, "low": self.low,
                "high": self.high, "strict_low": self.strict_low,
                "strict_high": self.strict_high}

    def broken(self) -> str:
        def show(v: Bound, none: str) -> str:
            return none if v is None else v if isinstance(v, str) else f"{v:g}"
        lo = ("(" if self.strict_low or self.low is None else "[") + show(self.low, "-inf")
        hi = show(self.high, "inf") + (")" if self.strict_high or self.high is None else "]")
        return f"have {self.column} outside {lo}, {hi}"


@dataclass(frozen=True)
class FixedCombinations(Constraint):
    """The columns (categorical) only take the combinations seen together in training."""

    names: tuple[str, ...]
    type_name: ClassVar[str] = "fixed_combinations"

    def __init__(self, names: Any) -> None:
        if isinstance(names, str) or not hasattr(names, "__iter__"):
            raise ParameterError(f"FixedCombinations takes a list of column names, got {names!r}")
        cols = tuple(_name(n, "FixedCombinations column") for n in names)
        if len(cols) < 2 or len(set(cols)) != len(cols):
            raise ParameterError(f"FixedCombinations needs at least two different columns, "
                                 f"got {list(cols)}")
        object.__setattr__(self, "names", cols)

    @property
    def columns(self) -> list[str]:
        return list(self.names)

    def describe(self) -> str:
        return " <-> ".join(_quote(n) for n in self.names)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "columns": list(self.names)}


@dataclass(frozen=True)
class Sum(Constraint):
    """``parts[0] + parts[1] + ... == total`` (number columns)."""

    parts: tuple[str, ...]
    total: str
    type_name: ClassVar[str] = "sum"

    def __init__(self, parts: Any, total: str) -> None:
        if isinstance(parts, str) or not hasattr(parts, "__iter__"):
            raise ParameterError(f"Sum takes a list of part columns and a total, got {parts!r}")
        cols = tuple(_name(n, "Sum part") for n in parts)
        _name(total, "Sum total")
        if len(cols) < 2 or len(set(cols)) != len(cols) or total in cols:
            raise ParameterError(f"Sum needs at least two different part columns and a total "
                                 f"that is not one of them, got {list(cols)} == {total!r}")
        object.__setattr__(self, "parts", cols)
        object.__setattr__(self, "total", total)

    @property
    def columns(self) -> list[str]:
        return [*self.parts, self.total]

    def describe(self) -> str:
        return f"{' + '.join(_quote(p) for p in self.parts)} == {_quote(self.total)}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "parts": list(self.parts), "total": self.total}

    def broken(self) -> str:
        return f"have {' + '.join(self.parts)} != {self.total}"


@dataclass(frozen=True, eq=False)
class Predicate(Constraint):
    """`fn(rows) -> one bool per row`, kept by rejection. Code, so never saved in a model
    file: `save` warns, and the loaded model does not apply it."""

    fn: Callable[[Any], Any]
    name: str = ""
    needs: tuple[str, ...] = field(default=())  # columns the rule reads (checked at fit)
    type_name: ClassVar[str] = "predicate"

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise ParameterError(f"Predicate needs a function of the rows, got {self.fn!r}")
        if not self.name:
            object.__setattr__(self, "name", getattr(self.fn, "__name__", "predicate"))
        object.__setattr__(self, "needs", tuple(_name(n, "Predicate column")
                                                for n in self.needs))

    @property
    def columns(self) -> list[str]:
        return list(self.needs)

    def describe(self) -> str:
        return f"predicate {self.name!r}"

    def broken(self) -> str:
        return f"fail the predicate {self.name!r}"

    def to_dict(self) -> dict[str, Any]:
        raise ParameterError(f"the predicate {self.name!r} is Python code and has no data "
                             "form; " + _NO_CODE)


# -- text --------------------------------------------------------------------------------
def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # an unclosed quote or a lone "!"
            raise ParameterError(f"cannot read constraint {text!r}: unexpected "
                                 f"{text[pos:].strip()[:20]!r}; {_hint(text)}")
        pos = m.end()
        token = m.group(1).strip() if m.group(1) not in _OPS else m.group(1)
        if token:
            out.append(token)
    return out


def _hint(text: str) -> str:
    """What to write instead; for text that looks like code, why code is not taken."""
    code = re.search(r"lambda|\(|\.[A-Za-z_]|\b(def|and|or|not|if)\b", text)
    return f"{_NO_CODE}; {_FORMS}" if code else _FORMS


def _operand(token: str, text: str) -> tuple[str, Any]:
    if token in _OPS:
        raise ParameterError(f"cannot read constraint {text!r}: {token!r} where a column or a "
                             f"number should be; {_FORMS}")
    if token[0] == "`":
        return "name", token[1:-1]
    if token[0] in "'\"":
        return "value", token[1:-1]
    if _is_number(token):
        return "value", float(token)
    return "name", token


def _chain(items: list[tuple[str, Any]], ops: list[str], text: str) -> list[Constraint]:
    if len({op in ("<", "<=") for op in ops}) > 1:
        raise ParameterError(f"cannot read constraint {text!r}: a chain goes one way (all < / "
                             f"<= or all > / >=); {_FORMS}")
    if ops[0] in (">", ">="):
        items, ops = items[::-1], ops[::-1]
    out: list[Constraint] = []
    bounds: dict[str, dict[str, Any]] = {}
    for (ka, a), op, (kb, b) in zip(items, ops, items[1:], strict=False):
        strict = op in ("<", ">")
        if ka == kb == "value":
            raise ParameterError(f"cannot read constraint {text!r}: it compares two numbers; "
                                 f"{_FORMS}")
        if ka == kb == "name":
            out.append(Inequality(a, b, strict=strict))
        elif ka == "value":
            bounds.setdefault(b, {}).update(low=a, strict_low=strict)
        else:
            bounds.setdefault(a, {}).update(high=b, strict_high=strict)
    return out + [Range(name, **kw) for name, kw in bounds.items()]


def parse(text: str) -> list[Constraint]:
    """The constraints a text states (a chain `0 <= a <= b` gives two); one-line
    ParameterError for text it cannot read."""
    if not isinstance(text, str):
        raise ParameterError(f"a constraint text must be a string, got {type(text).__name__}")
    bare = re.sub(r"`[^`]*`|'[^']*'|\"[^\"]*\"", "", text)
    if _CODE.search(bare):
        raise ParameterError(f"cannot read constraint {text!r}: it looks like code; {_NO_CODE}")
    tokens = _tokens(text)
    if not tokens:
        raise ParameterError(f"the constraint text is empty; {_FORMS}")
    if tokens[0].lower() == "fixed" and len(tokens) > 2 and tokens[1] == "(" \
            and tokens[-1] == ")":
        names = [_operand(t, text) for t in tokens[2:-1:2]]
        if any(t != "," for t in tokens[3:-1:2]) or any(k != "name" for k, _ in names):
            raise ParameterError(f"cannot read constraint {text!r}: fixed(...) takes column "
                                 f"names separated by commas; {_FORMS}")
        return [FixedCombinations([n for _, n in names])]
    seps, items = tokens[1::2], [_operand(t, text) for t in tokens[0::2]]
    if len(tokens) % 2 == 0 or not seps:
        raise ParameterError(f"cannot read constraint {text!r}: {_hint(text)}")
    if set(seps) == {"<->"} and all(k == "name" for k, _ in items):
        return [FixedCombinations([n for _, n in items])]
    if seps.count("==") == 1 and set(seps) <= {"+", "=="} and all(k == "name" for k, _ in items):
        at = seps.index("==")
        left, right = [n for _, n in items[:at + 1]], [n for _, n in items[at + 1:]]
        if len(right) == 1 and len(left) > 1:
            return [Sum(left, right[0])]
        if len(left) == 1 and len(right) > 1:
            return [Sum(right, left[0])]
    if set(seps) <= {"<", "<=", ">", ">="}:
        return _chain(items, seps, text)
    raise ParameterError(f"cannot read constraint {text!r}: {_hint(text)}")


def to_constraints(value: Any) -> list[Constraint]:
    """A constraint, a text or a list of them as a flat list of `Constraint`."""
    values = [value] if isinstance(value, (str, Constraint)) else value
    if not isinstance(values, (list, tuple)):
        raise ParameterError(f"constraints must be a list of texts or genlab.constraints "
                             f"objects, got {type(value).__name__}")
    out: list[Constraint] = []
    for v in values:
        if isinstance(v, str):
            out += parse(v)
        elif isinstance(v, Constraint):
            out.append(v)
        else:
            raise ParameterError(f"a constraint must be a text like 'b >= a' or a "
                                 f"genlab.constraints object, got {type(v).__name__}")
    return out
