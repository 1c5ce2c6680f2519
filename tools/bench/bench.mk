# `make bench`: TAP against nginx, mitmproxy and the framework floor, on loopback.
# Included from the top-level Makefile, which defines PYTHON and BIN; paths are
# relative to the repository root. Tools are installed only where missing:
# nginx, wrk and hey from Debian's packages, mitmproxy in its own virtualenv
# (its pins never touch ours), py-spy in a --target directory. Uvicorn and
# httptools are TAP's own dependencies (TAP_SERVER=uvicorn). Everything lands
# in tools/bench/.tools/ and results in tools/bench/out/ (both git-ignored).
#
#   make bench                       full run, rewrites docs/performance.md (~7 min)
#   make bench BENCH_ARGS=--quick    short phases, to try the harness (~3 min)

BENCH_DIR   := tools/bench
BENCH_TOOLS := $(BENCH_DIR)/.tools
BENCH_ARGS  ?=

MITMPROXY_VERSION := 11.0.2
PY_SPY_VERSION    := 0.4.3

.PHONY: bench bench-tools

## Benchmark TAP against nginx, mitmproxy and the framework floor (~7 min).
bench: install bench-tools
	$(BIN)/python -m tools.bench.run $(BENCH_ARGS)

## Install the benchmark's tools where missing.
bench-tools: $(BENCH_TOOLS)/mitmproxy/bin/mitmdump $(BENCH_TOOLS)/pydeps/bin/py-spy
	@missing=""; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v hey >/dev/null 2>&1 || missing="$$missing hey"; \
	command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "bench: installing$$missing with apt-get"; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BENCH_TOOLS)/mitmproxy/bin/mitmdump:
	$(PYTHON) -m venv $(BENCH_TOOLS)/mitmproxy
	$(BENCH_TOOLS)/mitmproxy/bin/pip install --quiet 'mitmproxy==$(MITMPROXY_VERSION)'

$(BENCH_TOOLS)/pydeps/bin/py-spy: $(BIN)/python
	$(BIN)/pip install --quiet --no-deps --target $(BENCH_TOOLS)/pydeps 'py-spy==$(PY_SPY_VERSION)'
