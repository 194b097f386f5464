"""Benchmarks, run by hand (see README.md here). A regular package so that `benchmarks.*`
resolves to these files even where another distribution (opacus 1.6) installs a top-level
`benchmarks` package of its own."""
