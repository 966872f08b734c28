"""mathgauge benchmark suite: `python -m bench --help`."""
