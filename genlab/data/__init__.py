"""Codecs and readers: user data in, model tensors out, and back."""

from genlab.data.readers import read_table, write_table
from genlab.data.tabular import ColumnSpec, TabularCodec

__all__ = ["ColumnSpec", "TabularCodec", "read_table", "write_table"]
