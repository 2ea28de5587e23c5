# The two commands of the README. Each sets up .venv first (tools/install.sh: idempotent, seconds on a re-run;
# the first run on a machine builds mmcv's ops, ~15 minutes, cached in ~/.cache/clipdense).
PYTHON := .venv/bin/python
DEMO_IMAGE ?= demo/demo.png
DEMO_CONFIG ?= configs/sclip/sclip_clipdense-tiny_synthetic-world.py
# The synthetic world's 64 classes and "background" (the embedded CLIP learnt that word too).
DEMO_VOCAB ?= clipdense/assets/vocabularies/synthetic_world_with_background.txt
# The embedded clipdense-tiny CLIP (docs/embedded_clip.md): tiny and trained on synthetic scenes only.
# Real weights: DEMO_CONFIG=configs/sclip/sclip_vit-b16_ade20k.py DEMO_WEIGHTS=/path/ViT-B-16.pt DEMO_VOCAB=...
DEMO_WEIGHTS ?= embedded
DEMO_OUT ?= outputs/demo.png

.PHONY: install demo test test-fast

install:
	@bash tools/install.sh

demo: install
	$(PYTHON) demo/image_demo.py $(DEMO_IMAGE) $(DEMO_CONFIG) --pretrained $(DEMO_WEIGHTS) --out $(DEMO_OUT) \
		$(if $(DEMO_VOCAB),--vocab "$(DEMO_VOCAB)")

# Every test, slow ones included (what CI runs), with the 25 slowest listed at the end (the suite has a ~45-minute
# budget on 2 cores), on TEST_WORKERS pytest-xdist workers of one thread each, stealing work from each other.
# `make test-fast` or plain `pytest` skip the slow ones.
TEST_WORKERS ?= 2
test: install
	$(PYTHON) -m pytest -m "" -q --durations=25 -n $(TEST_WORKERS) --dist worksteal

test-fast: install
	$(PYTHON) -m pytest -q
