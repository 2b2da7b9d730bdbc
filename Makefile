# Thin wrappers over run.py, which needs only python3 with pip.
PROFILE ?= teaching
.PHONY: reproduce test lab setup
reproduce:
	python3 run.py reproduce --profile $(PROFILE)
test:
	python3 run.py test
lab:
	python3 run.py lab
setup:
	python3 run.py setup
