# make run  : create .venv, install infogan, fetch MNIST, train the default model, evaluate it
# make test : create .venv with the test extras and run the tests
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch and torchvision: the releases this machine's pip serves locally (no multi-GB download)
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: run test venv clean

$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# what `make run` needs; the test extras (ONNX Runtime, Playwright, Jupyter's kernel, ...) only for `make test`
$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q $(TORCH) || $(BIN)/pip install -q torch torchvision
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed-test

run: $(VENV)/.installed
	$(BIN)/infogan data fetch mnist
	$(BIN)/infogan train --preset mnist

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
