"""`python -m genlab ...` is the `genlab` command (so `torchrun -m genlab fit ...` works)."""

from __future__ import annotations

from genlab.cli import main

if __name__ == "__main__":
    main()
