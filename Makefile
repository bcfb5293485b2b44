# `make demo` and `make test` bootstrap .venv themselves on a machine with only
# Python 3.11+ and access to the package registries.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output

.PHONY: demo test test-fast lint lock clean-venv

# setuptools prints a 10-line box on every editable install (its "lenient" mode works
# as we need it); it is filtered out by module, nothing else is hidden.
QUIET_SETUPTOOLS := PYTHONWARNINGS="ignore:::setuptools.command.editable_wheel"
PIP := $(PY) -m pip --disable-pip-version-check

# The first run installs a 2.5 GB .venv (TensorFlow is most of it).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml constraints.txt
	@test -x $(PY) || { echo "Creating $(VENV) (first time: a few minutes, about 2.5 GB)"; \
		$(PYTHON) -m venv $(VENV); }
	@echo "Installing requirements-dev.txt and the package (.[trees]) into $(VENV)," \
		"pinned by constraints.txt"
	@$(PIP) install --quiet --upgrade pip
	@$(QUIET_SETUPTOOLS) $(PIP) install --quiet -c constraints.txt -r requirements-dev.txt \
		-e ".[trees]"
	@touch $(STAMP)

# Regenerates constraints.txt from a clean install in a scratch venv (what make then pins).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	$(QUIET_SETUPTOOLS) .venv-lock/bin/python -m pip install --quiet -r requirements-dev.txt \
		".[trees,bench]"
	{ sed -n '1,2p' constraints.txt; .venv-lock/bin/python -m pip freeze --exclude-editable \
		| grep -v '^official-recommendation'; } > constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt && rm -rf .venv-lock

demo: $(STAMP)
	$(PY) -m official.recommendation.ncf_main --dataset synthetic --data_dir $(DEMO_DIR)/data \
		--model_dir $(DEMO_DIR)/ncf --clean --train_epochs 3 \
		--export_dir $(DEMO_DIR)/ncf_export --eval_protocol both
	$(PY) -m official.recommendation.recommend --export_dir $(DEMO_DIR)/ncf_export --user_id 1 \
		--top_k 5
	$(PY) -m official.recommendation.recommend --export_dir $(DEMO_DIR)/ncf_export \
		--rated 1193,661,914 --top_k 5

# One line per finished test file (official/utils/testing/file_progress.py).
test: $(STAMP)
	$(VENV)/bin/ruff check official
	$(PY) -m pytest -n 2 --dist loadfile official

# Every test that starts no process or cluster and trains nothing for long (marked
# `slow` otherwise): under 2 minutes on 2 cores.
test-fast: $(STAMP)
	$(VENV)/bin/ruff check official
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow" official

lint: $(STAMP)
	$(VENV)/bin/ruff check official

clean-venv:
	rm -rf $(VENV)
