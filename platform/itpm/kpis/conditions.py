"""A KPI's conditions as SQL: itpm's safe expressions (`itpm.expressions`) compiled for the database.

A KPI counts over many records, so its `where` and `numerator` run in the
database, as the same SQL on SQLite and PostgreSQL. The subset compiled here:
fields and system fields, literals and lists, comparisons (a date and time
compared with a date compares its day), `is None`, `in`, and/or/not, number
arithmetic between fields; any part without a field (`today - days(30)`) is
evaluated first by the expression evaluator, with `now` passed in. What the
database cannot do alike on both (a field plus a duration, text functions) is
refused with its column, so a KPI definition that publishes always runs.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Callable
from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import and_, false, func, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from itpm.expressions import CLOCK_NAMES, Expression, ExpressionError, evaluate, parse_expression
from itpm.records.fields import DATE, DATETIME, SYSTEM, RecordTypeSpec

#: A column of the record's table by field name, with its kind.
Columns = Callable[[str], tuple[Any, str]]


def field_columns(spec: RecordTypeSpec, table: Any) -> Columns:
    """The columns of `table` (a record type's) by field or system field name, with their kinds."""

    def column(name: str) -> tuple[Any, str]:
        if name in spec.fields:
            field = spec.fields[name]
            return table.c[field.column], field.kind
        system_column, kind = SYSTEM[name]
        return table.c[system_column], kind

    return column


def names(spec: RecordTypeSpec) -> set[str]:
    """The names a KPI condition may read."""
    return {*spec.fields, *SYSTEM}


def to_sql(source: str, columns: Columns, now: dt.datetime) -> ColumnElement[bool]:
    """The condition `source` as SQL over `columns`; ExpressionError says what cannot be compiled, and where."""
    expression = parse_expression(source)
    return _Compiler(expression, columns, now).condition(expression.tree)


def value_sql(source: str, columns: Columns, now: dt.datetime) -> tuple[Any, str]:
    """A value (a field, or arithmetic on number fields) as SQL, with its kind."""
    if source.isidentifier():  # a field alone, even one named like a function (`hours`)
        try:
            return columns(source)
        except KeyError:
            pass
    expression = parse_expression(source)
    return _Compiler(expression, columns, now).value(expression.tree)


class _Compiler:
    def __init__(self, expression: Expression, columns: Columns, now: dt.datetime) -> None:
        self.expression, self.columns, self.now = expression, columns, now

    def refuse(self, node: ast.AST, message: Any) -> ExpressionError:
        return self.expression.error(node, message)

    def condition(self, node: ast.expr) -> ColumnElement[bool]:
        if isinstance(node, ast.BoolOp):
            parts = [self.condition(v) for v in node.values]
            return and_(*parts) if isinstance(node.op, ast.And) else or_(*parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            # `not` of a comparison with a missing field holds, as in the evaluator (SQL's NOT NULL does not)
            return not_(func.coalesce(self.condition(node.operand), false()))
        if isinstance(node, ast.Compare):
            return and_(*self.comparisons(node))
        if self.constant(node):
            return true() if evaluate(self._sub(node), {}, now=self.now) else false()
        if isinstance(node, ast.Name):
            column, _kind = self.column(node)
            return column.is_(True)
        raise self.refuse(node, _("is not a condition a KPI can count by"))

    def comparisons(self, node: ast.Compare) -> list[ColumnElement[bool]]:
        found = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            found.append(self.compare(node, op, left, right))
            left = right
        return found

    def compare(self, node: ast.Compare, op: ast.cmpop, left: ast.expr, right: ast.expr) -> Any:
        if isinstance(op, ast.Is | ast.IsNot):
            value, _kind = self.value(left)
            return value.is_(None) if isinstance(op, ast.Is) else value.is_not(None)
        if isinstance(op, ast.In | ast.NotIn):
            value, _kind = self.value(left)
            if not self.constant(right):
                raise self.refuse(right, _("`in` takes a list of values here"))
            items = evaluate(self._sub(right), {}, now=self.now)
            if not isinstance(items, list):
                raise self.refuse(right, _("`in` takes a list of values here"))
            return (
                value.in_(items) if isinstance(op, ast.In) else and_(value.is_not(None), value.not_in(items))
            )
        (a, a_kind), (b, b_kind) = self.value(left), self.value(right)
        if {a_kind, b_kind} == {DATE, DATETIME}:  # a moment against a day: its day
            a = func.date(a) if a_kind == DATETIME else a
            b = func.date(b) if b_kind == DATETIME else b
        operators = {
            ast.Eq: lambda: a == b,
            ast.NotEq: lambda: and_(a.is_not(None), b.is_not(None), a != b),
            ast.Lt: lambda: a < b,
            ast.LtE: lambda: a <= b,
            ast.Gt: lambda: a > b,
            ast.GtE: lambda: a >= b,
        }
        return operators[type(op)]()

    def value(self, node: ast.expr) -> tuple[Any, str]:
        if self.constant(node):
            value = evaluate(self._sub(node), {}, now=self.now)
            if isinstance(value, dt.timedelta | list):
                raise self.refuse(node, _("is not a value a field can be compared with"))
            kind = (
                DATETIME
                if isinstance(value, dt.datetime)
                else DATE
                if isinstance(value, dt.date)
                else "value"
            )
            if isinstance(value, dt.datetime):
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return literal(value), kind
        if isinstance(node, ast.Name):
            return self.column(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            durations = [
                side
                for side in (node.left, node.right)
                if self.constant(side)
                and isinstance(evaluate(self._sub(side), {}, now=self.now), dt.timedelta)
            ]
            (a, a_kind), (b, b_kind) = (
                (None, DATE) if side in durations else self.value(side) for side in (node.left, node.right)
            )
            if {a_kind, b_kind} & {DATE, DATETIME}:
                raise self.refuse(
                    node,
                    _("dates move by days only from today or now here: write due_date < today - days(3)"),
                )
            # a division of whole numbers is not whole: 1.0 * makes both databases divide alike
            operation = {
                ast.Add: a.__add__,
                ast.Sub: a.__sub__,
                ast.Mult: a.__mul__,
                ast.Div: (a * 1.0).__truediv__,
            }
            return operation[type(node.op)](b), "number"
        raise self.refuse(node, _("is not a value a KPI can count by"))

    def column(self, node: ast.Name) -> tuple[Any, str]:
        try:
            return self.columns(node.id)
        except KeyError:
            raise self.refuse(node, _("names no field: %(name)r", name=node.id)) from None

    def constant(self, node: ast.expr) -> bool:
        """Whether a part reads no field (only literals, `today`, `now` and functions of them)."""
        return not any(
            isinstance(n, ast.Name) and n.id not in CLOCK_NAMES and not _is_callee(node, n)
            for n in ast.walk(node)
        )

    def _sub(self, node: ast.expr) -> Expression:
        return Expression(self.expression.source, node, frozenset())


def _is_callee(root: ast.expr, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(root))
