"""Which rows of a metadata table a subset takes: a filter expression, or a list of keys or video names.

An expression such as `"aesthetic_score >= 6 and hd"` is parsed by Python's `ast` and translated node by node into a
pyarrow compute expression from a small grammar (comparisons, `in`, `and`/`or`/`not`, column names, literals). It
is never evaluated: a user string cannot run code, and anything outside the grammar is a `UsageError` naming it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc

#: Columns a list of names is matched against: the sample key, else the original file name.
NAME_COLUMNS = ("key", "video")

_COMPARISONS = {
    ast.Eq: "__eq__",
    ast.NotEq: "__ne__",
    ast.Lt: "__lt__",
    ast.LtE: "__le__",
    ast.Gt: "__gt__",
    ast.GtE: "__ge__",
}


def select_rows(table: pa.Table, where: str | Iterable[str] | None) -> pa.Table:
    """The rows of `table` that `where` selects (all when None), in table order."""
    if where is None:
        return table
    if isinstance(where, str):
        return table.filter(parse_expression(where, table.column_names))
    return _select_names(table, list(where))


def parse_expression(text: str, columns: list[str]) -> pc.Expression:
    """`text` as a pyarrow expression over `columns`; a `UsageError` for anything outside the grammar."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise UsageError(f"where {text!r}: not a filter expression ({error.msg})") from None
    return _Translator(text, columns).expression(tree.body)


class _Translator:
    def __init__(self, text: str, columns: list[str]):
        self.text = text
        self.columns = columns

    def fail(self, message: str) -> UsageError:
        return UsageError(f"where {self.text!r}: {message}")

    def expression(self, node: ast.AST) -> pc.Expression:
        import pyarrow.compute as pc

        if isinstance(node, ast.BoolOp):
            parts = [self.expression(value) for value in node.values]
            combined = parts[0]
            for part in parts[1:]:
                combined = (combined & part) if isinstance(node.op, ast.And) else (combined | part)
            return combined
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.expression(node.operand)
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        if isinstance(node, ast.Name):
            return pc.field(self.column(node))
        raise self.fail(f"{ast.unparse(node)!r} is not a comparison, a column or and/or/not of them")

    def comparison(self, node: ast.Compare) -> pc.Expression:
        result = None
        left = node.left
        for operator, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(operator, (ast.In, ast.NotIn)):
                values = self.value(right)
                if not isinstance(values, list):
                    raise self.fail(f"`in` needs a list of values, got {ast.unparse(right)!r}")
                term = self.operand(left).isin(values)
                term = ~term if isinstance(operator, ast.NotIn) else term
            elif type(operator) in _COMPARISONS:
                term = getattr(self.operand(left), _COMPARISONS[type(operator)])(self.operand(right))
            else:
                raise self.fail(f"operator {type(operator).__name__} is not supported")
            result = term if result is None else result & term
            left = right
        return result

    def operand(self, node: ast.AST) -> Any:
        import pyarrow.compute as pc

        if isinstance(node, ast.Name):
            return pc.field(self.column(node))
        return pc.scalar(self.value(node))

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.value(node.operand)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.value(item) for item in node.elts]
        raise self.fail(f"{ast.unparse(node)!r} is not a column name or a literal")

    def column(self, node: ast.Name) -> str:
        if node.id in ("True", "False"):
            raise self.fail(f"{node.id} is not a column")
        if node.id not in self.columns:
            raise self.fail(f"unknown column {node.id!r} (columns: {', '.join(self.columns)})")
        return node.id


def _select_names(table: pa.Table, names: list[str]) -> pa.Table:
    """Rows whose key or video name is in `names`; every name must match a row."""
    import pyarrow.compute as pc

    if not all(isinstance(name, str) for name in names):
        raise UsageError("where: a list of keys or video names must hold strings only")
    if not names:
        return table.slice(0, 0)
    columns = [column for column in NAME_COLUMNS if column in table.column_names]
    known = set()
    mask = None
    for column in columns:
        values = table.column(column)
        known.update(values.to_pylist())
        matches = pc.is_in(values, value_set=_string_array(names))
        mask = matches if mask is None else pc.or_(mask, matches)
    unknown = [name for name in dict.fromkeys(names) if name not in known]
    if unknown:
        shown = ", ".join(repr(name) for name in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise UsageError(f"where: {len(unknown)} name(s) match no {' or '.join(columns)} of the split: {shown}")
    return table.filter(mask)


def _string_array(values: list[str]) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, type=pa.string())
