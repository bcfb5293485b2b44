# `make demo` and `make test` bootstrap .venv themselves on a machine with only
# Python 3.11+ and access to the package registries.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output

.PHONY: demo test test-fast lint clean-venv

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m official.recommendation.ncf_main --dataset synthetic --data_dir $(DEMO_DIR)/data \
		--model_dir $(DEMO_DIR)/ncf --clean --train_epochs 3 \
		--export_dir $(DEMO_DIR)/ncf_export --eval_protocol both
	$(PY) -m official.recommendation.recommend --export_dir $(DEMO_DIR)/ncf_export --user_id 1 \
		--top_k 5
	$(PY) -m official.recommendation.recommend --export_dir $(DEMO_DIR)/ncf_export \
		--rated 1193,661,914 --top_k 5

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
