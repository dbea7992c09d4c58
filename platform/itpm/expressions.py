"""A small, safe expression language for conditions that compare fields: `spent > budget * 1.05`.

Admins write automation conditions that JSON Schema cannot say, such as one
field against another. An expression is Python syntax, parsed with `ast` and
accepted only if every node is on a short whitelist; it is then walked by the
evaluator here, never passed to eval or exec. Its size, depth and numbers are
bounded, so no expression can run long or fill memory.

What an expression may hold:
- literals: numbers, 'text', True, False, None, lists [1, 2];
- names: the record's fields, from the mapping given; `today` and `now`, the
  date and moment passed in as `now` (time is an argument, never read here);
- arithmetic + - * / %, comparisons == != < <= > >= in, not in, is None,
  is not None, and / or / not;
- the functions in FUNCTIONS: days(n), hours(n), len, lower, min, max, abs, round.
Dates and moments are date and datetime values (see itpm.records.values.to_column);
`due_date < today + days(3)` compares them.

Missing values: a field the mapping lacks is None. None passes through
arithmetic and functions (None * 2 is None), and every comparison with None
is false, `!=` and `not in` included, so a condition on a missing field does
not hold; `field is None` tests for one. `not` and `and`/`or` go by
truthiness, where None, 0, '' and [] are false.
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import math
import operator
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _

#: Held by every conversion between Python's AST objects and its compiler in itpm: `ast.parse` here, and
#: Werkzeug compiling a route's builder while an app is built (`itpm.web.app`). CPython 3.11.7 keeps the
#: depth of that conversion in one counter for all threads, so two at once (a request parsing a rule while
#: a publish rebuilds the app in another thread) can fail with "SystemError: AST constructor recursion
#: depth mismatch".
AST_LOCK = threading.RLock()

MAX_LENGTH = 1000
MAX_NODES = 200
MAX_DEPTH = 30
#: Numbers stay within ±10^15: far beyond any budget, far below what makes arithmetic slow.
MAX_NUMBER = 10**15
MAX_TEXT = 100_000
#: days(n) and hours(n) reach at most a century.
MAX_DAYS = 36_600
#: Names every expression knows besides the record's fields.
CLOCK_NAMES = ("today", "now")


class ExpressionError(ValueError):
    """What is wrong with an expression, and where: a 1-based line and column.

    Positions count in the expression without the spaces around it.
    """

    def __init__(self, message: str, line: int = 1, column: int = 1, multiline: bool = False) -> None:
        self.message, self.line, self.column, self.multiline = message, line, column, multiline
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.multiline:
            return str(
                _(
                    "line %(line)d, column %(column)d: %(message)s",
                    line=self.line,
                    column=self.column,
                    message=self.message,
                )
            )
        return str(_("column %(column)d: %(message)s", column=self.column, message=self.message))


@dataclass(frozen=True)
class Expression:
    """A parsed expression that passed the whitelist; evaluate it with `evaluate`."""

    source: str
    tree: ast.expr
    #: The fields it reads (not `today` and `now`).
    fields: frozenset[str]

    def error(self, node: ast.AST, message: Any) -> ExpressionError:
        return _error_at(self.source, node, message)


def _error_at(source: str, node: ast.AST, message: Any) -> ExpressionError:
    line = getattr(node, "lineno", 1)
    text = source.splitlines()[line - 1]
    # ast gives columns in UTF-8 bytes; people count characters.
    column = len(text.encode("utf-8")[: getattr(node, "col_offset", 0)].decode("utf-8", "ignore")) + 1
    return ExpressionError(str(message), line, column, "\n" in source)


# --- functions ---------------------------------------------------------------


def _days(n: Any) -> dt.timedelta:
    return _duration(n, dt.timedelta(days=1))


def _hours(n: Any) -> dt.timedelta:
    return _duration(n, dt.timedelta(hours=1))


def _duration(n: Any, unit: dt.timedelta) -> dt.timedelta:
    if _kind(n) != "number":
        raise _Refused(_("needs a number, not %(kind)s", kind=_kind_name(n)))
    if abs(n) > dt.timedelta(days=MAX_DAYS) / unit:
        raise _Refused(_("is limited to %(days)d days", days=MAX_DAYS))
    return unit * n


def _len(value: Any) -> int:
    if _kind(value) not in ("text", "list"):
        raise _Refused(_("needs text or a list, not %(kind)s", kind=_kind_name(value)))
    return len(value)


def _lower(value: Any) -> str:
    if _kind(value) != "text":
        raise _Refused(_("needs text, not %(kind)s", kind=_kind_name(value)))
    return value.lower()


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def extreme(*values: Any) -> Any:
        if len(values) == 1:
            if _kind(values[0]) != "list":
                raise _Refused(_("needs a list or several values"))
            values = tuple(values[0])
        if not values:
            raise _Refused(_("needs at least one value"))
        if any(v is None for v in values):
            return None
        if len({_kind(v) for v in values}) != 1 or _kind(values[0]) not in ORDERED:
            raise _Refused(_("needs values of one kind that can be ordered"))
        return pick(values)

    return extreme


def _abs(value: Any) -> Any:
    if _kind(value) not in ("number", "duration"):
        raise _Refused(_("needs a number or a duration, not %(kind)s", kind=_kind_name(value)))
    return abs(value)


def _round(value: Any, digits: Any = 0) -> Any:
    if _kind(value) != "number":
        raise _Refused(_("needs a number, not %(kind)s", kind=_kind_name(value)))
    if type(digits) is not int or not 0 <= digits <= 10:
        raise _Refused(_("rounds to 0 to 10 decimal places"))
    return round(value, digits) if digits else round(value)


#: name -> (function, least and most arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "days": (_days, 1, 1),
    "hours": (_hours, 1, 1),
    "len": (_len, 1, 1),
    "lower": (_lower, 1, 1),
    "min": (_extreme(min), 1, 20),
    "max": (_extreme(max), 1, 20),
    "abs": (_abs, 1, 1),
    "round": (_round, 1, 2),
}


class _Refused(Exception):
    """A function refused its arguments; the evaluator adds where."""


# --- parsing -----------------------------------------------------------------

_OPERATORS: dict[type[ast.AST], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%",
    ast.USub: "-", ast.UAdd: "+", ast.Not: "not", ast.And: "and", ast.Or: "or",
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}  # fmt: skip
_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.Constant,
    ast.Name, ast.List, ast.Tuple, ast.Load, *_OPERATORS,
)  # fmt: skip
_REFUSED_WHY = {
    ast.Attribute: _("attribute access (.name) is not allowed"),
    ast.Subscript: _("indexing and slicing ([...]) are not allowed"),
    ast.Lambda: _("lambda is not allowed"),
    ast.ListComp: _("comprehensions are not allowed"),
    ast.SetComp: _("comprehensions are not allowed"),
    ast.DictComp: _("comprehensions are not allowed"),
    ast.GeneratorExp: _("comprehensions are not allowed"),
    ast.NamedExpr: _("assignment (:=) is not allowed"),
    ast.Pow: _("powers (**) are not allowed"),
    ast.FloorDiv: _("// is not allowed; use / and round()"),
    ast.JoinedStr: _("f-strings are not allowed"),
    ast.IfExp: _("conditional expressions (x if c else y) are not allowed"),
    ast.Dict: _("dictionaries ({...}) are not allowed"),
    ast.Set: _("sets ({...}) are not allowed"),
    ast.Starred: _("* and ** arguments are not allowed"),
}


def parse_expression(source: str) -> Expression:
    """Parse and check an expression; ExpressionError says what is refused and where."""
    if not isinstance(source, str):
        raise ExpressionError(str(_("an expression must be text")))
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            str(_("is %(length)d characters long; at most %(limit)d", length=len(source), limit=MAX_LENGTH)),
            column=MAX_LENGTH + 1,
        )
    if not source.strip():
        raise ExpressionError(str(_("is empty")))
    source = source.strip()
    try:
        with AST_LOCK:
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        lines = source.splitlines()
        # Python gives no column when the expression ends too early: point past its end.
        line, column = (exc.lineno or 1, exc.offset) if exc.offset else (len(lines), len(lines[-1]) + 1)
        reason = (
            _("invalid syntax")
            if exc.msg == "invalid syntax"
            else _("invalid syntax: %(reason)s", reason=exc.msg)
        )
        raise ExpressionError(str(reason), line, column, "\n" in source) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(str(_("is nested too deeply"))) from None
    _check_size(source, tree)
    nodes = list(ast.walk(tree))
    callees = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
    for node in nodes:
        _check_node(source, node, is_callee=id(node) in callees)
    fields = {
        n.id for n in nodes if isinstance(n, ast.Name) and id(n) not in callees and n.id not in CLOCK_NAMES
    }
    return Expression(source, tree.body, frozenset(fields))


def _check_size(source: str, tree: ast.Expression) -> None:
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(str(_("is too long: at most %(limit)d parts", limit=MAX_NODES)))
        if depth > MAX_DEPTH:
            raise _error_at(
                source, node, _("is nested too deeply: at most %(limit)d levels", limit=MAX_DEPTH)
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_node(source: str, node: ast.AST, is_callee: bool) -> None:
    if not isinstance(node, _ALLOWED):
        why = _REFUSED_WHY.get(type(node)) or _("%(what)s is not allowed", what=type(node).__name__)
        raise _error_at(source, node, why)
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float, str, bool, type(None)):
            raise _error_at(source, node, _("only numbers, text, True, False and None are literals"))
        if type(node.value) in (int, float) and not _bounded_number(node.value):
            raise _error_at(source, node, _("numbers are limited to ±%(limit)s", limit=f"{MAX_NUMBER:.0e}"))
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise _error_at(source, node, _("names starting with _ are not allowed"))
        if node.id in FUNCTIONS and not is_callee:
            raise _error_at(
                source, node, _("%(name)s is a function: call it, e.g. %(name)s(...)", name=node.id)
            )
    elif isinstance(node, ast.Call):
        _check_call(source, node)
    elif isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if isinstance(op, ast.Is | ast.IsNot):
                if not _is_none(right):
                    raise _error_at(source, right, _("'is' only tests for None: write x is None"))
            elif _is_none(left) or _is_none(right):
                raise _error_at(source, node, _("a comparison with None is always false: write x is None"))


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _check_call(source: str, node: ast.Call) -> None:
    functions = ", ".join(FUNCTIONS)
    if not isinstance(node.func, ast.Name):
        why = _REFUSED_WHY.get(type(node.func)) or _(
            "only these functions can be called: %(functions)s", functions=functions
        )
        raise _error_at(source, node.func, why)
    if node.func.id not in FUNCTIONS:
        raise _error_at(
            source,
            node,
            _(
                "%(name)s is not a function here; functions: %(functions)s",
                name=node.func.id,
                functions=functions,
            ),
        )
    if node.keywords:
        raise _error_at(source, node.keywords[0], _("keyword arguments are not allowed"))
    least, most = FUNCTIONS[node.func.id][1:]
    if not least <= len(node.args) <= most:
        raise _error_at(
            source,
            node,
            _("%(name)s() takes one argument, not %(count)d", name=node.func.id, count=len(node.args))
            if least == most
            else _(
                "%(name)s() takes %(least)d to %(most)d arguments, not %(count)d",
                name=node.func.id,
                least=least,
                most=most,
                count=len(node.args),
            ),
        )


def check_expression(source: str, fields: Iterable[str]) -> list[ExpressionError]:
    """The problems of an expression over a record type's fields: its syntax, then unknown names.

    For definition checks, which turn each into a Problem at the expression's path.
    """
    try:
        expression = parse_expression(source)
    except ExpressionError as error:
        return [error]
    known = set(fields)
    problems = []
    for node in ast.walk(expression.tree):
        if isinstance(node, ast.Name) and node.id in expression.fields and node.id not in known:
            close = difflib.get_close_matches(node.id, known, n=1)
            message = (
                _("names no field: %(name)r; did you mean %(close)r?", name=node.id, close=close[0])
                if close
                else _("names no field: %(name)r", name=node.id)
            )
            problems.append(expression.error(node, message))
    return sorted(problems, key=lambda p: (p.line, p.column))


# --- evaluation --------------------------------------------------------------

#: What each kind of value is called in messages.
KIND_NAMES = {
    "number": _("a number"),
    "text": _("text"),
    "boolean": _("a boolean"),
    "date": _("a date"),
    "datetime": _("a date and time"),
    "duration": _("a duration"),
    "list": _("a list"),
    "none": _("nothing (None)"),
    "other": _("a value of another kind"),
}
ORDERED = {"number", "text", "date", "datetime", "duration"}

_ARITHMETIC: dict[type[ast.operator], tuple[Callable[[Any, Any], Any], set[tuple[str, str]]]] = {
    ast.Add: (
        operator.add,
        {
            ("number", "number"), ("text", "text"), ("duration", "duration"),
            ("date", "duration"), ("datetime", "duration"), ("duration", "date"), ("duration", "datetime"),
        },
    ),
    ast.Sub: (
        operator.sub,
        {
            ("number", "number"), ("duration", "duration"), ("date", "date"), ("datetime", "datetime"),
            ("date", "duration"), ("datetime", "duration"),
        },
    ),
    ast.Mult: (operator.mul, {("number", "number"), ("duration", "number"), ("number", "duration")}),
    ast.Div: (operator.truediv, {("number", "number"), ("duration", "number"), ("duration", "duration")}),
    ast.Mod: (operator.mod, {("number", "number")}),
}  # fmt: skip
_ORDERING: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip


def _kind(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.timedelta):
        return "duration"
    if isinstance(value, list | tuple):
        return "list"
    return "other"


def _kind_name(value: Any) -> str:
    return str(KIND_NAMES[_kind(value)])


def _bounded_number(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= MAX_NUMBER


def evaluate(
    expression: Expression | str, values: Mapping[str, Any], *, now: dt.datetime | None = None
) -> Any:
    """The value of an expression over a record's field values; `now` gives `today` and `now`.

    `today` is the date of `now` in now's own time zone: pass `now` in the
    zone whose dates the condition means.
    """
    if isinstance(expression, str):
        expression = parse_expression(expression)
    return _Evaluator(expression, values, now).value(expression.tree)


def holds(expression: Expression | str, values: Mapping[str, Any], *, now: dt.datetime | None = None) -> bool:
    """Whether a condition holds: its value is true (a missing field makes a comparison false)."""
    return bool(evaluate(expression, values, now=now))


class _Evaluator:
    def __init__(self, expression: Expression, values: Mapping[str, Any], now: dt.datetime | None) -> None:
        self.expression, self.values, self.now = expression, values, now

    def value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(item) for item in node.elts]
        if isinstance(node, ast.BoolOp):
            return self.boolean(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.arithmetic(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        assert isinstance(node, ast.Call)  # parse_expression let nothing else through
        return self.call(node)

    def name(self, node: ast.Name) -> Any:
        if node.id in CLOCK_NAMES:
            if self.now is None:
                raise self.expression.error(
                    node, _("%(name)s needs the current time, and none was given", name=node.id)
                )
            return self.now.date() if node.id == "today" else self.now
        return self.values.get(node.id)

    def boolean(self, node: ast.BoolOp) -> Any:
        result = None
        for operand in node.values:
            result = self.value(operand)
            if bool(result) is isinstance(node.op, ast.Or):
                break
        return result

    def unary(self, node: ast.UnaryOp) -> Any:
        operand = self.value(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if operand is None:
            return None
        if _kind(operand) not in ("number", "duration"):
            raise self.expression.error(
                node,
                _("cannot apply %(op)s to %(kind)s", op=_OPERATORS[type(node.op)], kind=_kind_name(operand)),
            )
        return self.bounded(node, -operand if isinstance(node.op, ast.USub) else operand)

    def arithmetic(self, node: ast.BinOp) -> Any:
        left, right = self.value(node.left), self.value(node.right)
        if left is None or right is None:
            return None
        function, allowed = _ARITHMETIC[type(node.op)]
        if (_kind(left), _kind(right)) not in allowed:
            raise self.expression.error(
                node,
                _(
                    "cannot compute %(left)s %(op)s %(right)s",
                    left=_kind_name(left),
                    op=_OPERATORS[type(node.op)],
                    right=_kind_name(right),
                ),
            )
        try:
            result = function(left, right)
        except ZeroDivisionError:
            raise self.expression.error(node, _("division by zero")) from None
        except (OverflowError, TypeError, ValueError):
            raise self.expression.error(node, _("the result is out of range or undefined")) from None
        return self.bounded(node, result)

    def bounded(self, node: ast.AST, result: Any) -> Any:
        kind = _kind(result)
        if kind == "number" and not _bounded_number(result):
            raise self.expression.error(node, _("the result is beyond ±%(limit)s", limit=f"{MAX_NUMBER:.0e}"))
        if kind == "text" and len(result) > MAX_TEXT:
            raise self.expression.error(
                node, _("the text is longer than %(limit)d characters", limit=MAX_TEXT)
            )
        if kind == "duration" and abs(result) > dt.timedelta(days=MAX_DAYS):
            raise self.expression.error(node, _("the duration is longer than %(days)d days", days=MAX_DAYS))
        return result

    def compare(self, node: ast.Compare) -> bool:
        left = self.value(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.value(right_node)
            if not self.compare_one(node, op, left, right):
                return False
            left = right
        return True

    def compare_one(self, node: ast.Compare, op: ast.cmpop, left: Any, right: Any) -> bool:
        if isinstance(op, ast.Is):
            return left is None
        if isinstance(op, ast.IsNot):
            return left is not None
        if left is None or right is None:
            return False
        if isinstance(op, ast.Eq):
            return bool(left == right)
        if isinstance(op, ast.NotEq):
            return bool(left != right)
        if isinstance(op, ast.In | ast.NotIn):
            if not (_kind(right) == "list" or _kind(left) == _kind(right) == "text"):
                raise self.expression.error(
                    node,
                    _(
                        "cannot look for %(left)s in %(right)s; 'in' looks in a list or for text in text",
                        left=_kind_name(left),
                        right=_kind_name(right),
                    ),
                )
            return (left in right) is isinstance(op, ast.In)
        if _kind(left) != _kind(right) or _kind(left) not in ORDERED:
            raise self.expression.error(
                node,
                _(
                    "cannot compare %(left)s with %(right)s",
                    left=_kind_name(left),
                    right=_kind_name(right),
                ),
            )
        try:
            return _ORDERING[type(op)](left, right)
        except TypeError:  # an aware moment against a naive one
            raise self.expression.error(
                node, _("cannot compare moments with and without a time zone")
            ) from None

    def call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        function = FUNCTIONS[node.func.id][0]
        arguments = [self.value(a) for a in node.args]
        if node.func.id not in ("min", "max") and any(a is None for a in arguments):
            return None
        try:
            result = function(*arguments)
        except _Refused as refused:
            raise self.expression.error(node, f"{node.func.id}() {refused.args[0]}") from None
        except (OverflowError, ValueError):
            raise self.expression.error(node, _("the result is out of range or undefined")) from None
        return self.bounded(node, result)
