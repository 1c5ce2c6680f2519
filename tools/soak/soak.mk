# `make soak`: mixed traffic against a real tap-proxy on loopback, sampling
# memory, file descriptors, threads, asyncio tasks and database connections
# every 10 s; they must stay flat. Included from the top-level Makefile, which
# defines PYTHON and BIN. matplotlib (for the plot) goes into a --target
# directory that only the plotting step puts on its path; results land in
# tools/soak/out/ (git-ignored), docs/soak.md and docs/soak.png. Not in CI.
#
#   make soak                    30 minutes at 20 requests/s
#   make soak SOAK_SECS=300      a short run

SOAK_DIR   := tools/soak
SOAK_TOOLS := $(SOAK_DIR)/.tools
SOAK_SECS  ?= 1800
SOAK_RPS   ?= 20

MATPLOTLIB_VERSION := 3.11.2

.PHONY: soak soak-tools

soak: install soak-tools
	$(BIN)/pip install --quiet -e '.[test]'
	SOAK_SECS=$(SOAK_SECS) SOAK_RPS=$(SOAK_RPS) $(BIN)/python -m tools.soak.run

soak-tools: $(SOAK_TOOLS)/pydeps/matplotlib/__init__.py

$(SOAK_TOOLS)/pydeps/matplotlib/__init__.py: $(BIN)/python
	$(BIN)/pip install --quiet --target $(SOAK_TOOLS)/pydeps 'matplotlib==$(MATPLOTLIB_VERSION)'
