"""Model families on one contract (`genlab.models.base.Model`), one package per kind of
data: `table`, `image`, `sequence`, `series`. Importing this package imports no family."""
