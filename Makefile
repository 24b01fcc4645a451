# The two commands of the README: `make demo` and `make test`.
# `make test` builds .venv from nothing (pinned CPU stack from constraints.txt) and is idempotent:
# a second run only re-installs when pyproject.toml or constraints.txt changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test bench lint ffmpeg install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,dev,curate,ray]"
	touch $(STAMP)

install: ffmpeg $(STAMP)

# torchcodec loads FFmpeg's shared libraries at run time; install them when the machine has none.
ffmpeg:
	@ldconfig -p | grep -q 'libavcodec\.so' || { \
		echo "FFmpeg shared libraries not found: installing them with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq ffmpeg >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq ffmpeg; }; }

test: install
	HF_HUB_DISABLE_XET=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/openvid-hf demo --workdir demo-output

bench: install
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) demo-output build dist *.egg-info
