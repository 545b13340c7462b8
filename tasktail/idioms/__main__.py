"""``python -m tasktail.idioms [SEED]``: print the idiom corpus's catch table as Markdown."""

from __future__ import annotations

import sys

from ._table import format_idiom_table, idiom_catch_table

if __name__ == "__main__":
    print(format_idiom_table(idiom_catch_table(seed=int(sys.argv[1]) if len(sys.argv) > 1 else 0)))
