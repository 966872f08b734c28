# Benchmarks: `make bench` runs the whole suite (mathgauge only), `make bench-peers` adds lm-eval and inspect_ai
# (installed into bench/.peers-venv on first use), `make bench-quick` is a small smoke run. See bench/README.md.
PYTHON ?= python
ARGS ?=

.PHONY: bench bench-peers bench-quick

bench:
	$(PYTHON) -m bench $(ARGS)

bench-peers:
	$(PYTHON) -m bench --with-peers $(ARGS)

bench-quick:
	$(PYTHON) -m bench --quick $(ARGS)
