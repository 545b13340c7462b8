"""``python -m tasktail.zoo [SEED]``: print the zoo's catch table as Markdown, with the CI
budget (300 generated programs per backend, as ``tests/zoo/test_zoo.py``)."""

from __future__ import annotations

import sys

from ._table import format_table, zoo_catch_table

if __name__ == "__main__":
    print(format_table(zoo_catch_table(seed=int(sys.argv[1]) if len(sys.argv) > 1 else 0, examples=300)))
