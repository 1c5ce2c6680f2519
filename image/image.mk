# Reproducible image targets. The top-level Makefile includes this file:
#
#     include image/image.mk
#
# Every path below is derived from this file's own location, so the targets
# work from the repository root (or any directory that includes this file).
#
#   make image              build once; write image/out/tap-proxy.oci.tar,
#                           manifest-digest, config-digest, build.json; print size
#   make image-verify       build twice in clean storage; fail and show the
#                           difference unless both digests are equal
#   make image-base-local   build the stand-in Debian base with mmdebstrap
#   make image-lock         regenerate image/requirements*.lock from pyproject.toml
#   make image-lock-check   fail if pyproject.toml changed since the locks were made
#   make image-clean        remove image/out/
#
# Variables (all optional):
#   BASE_IMAGE=ref          override the pinned base; "local" = the mmdebstrap base
#   TAP_FEATURES=enclave    build the enclave variant
#   IMAGE_COMMIT=rev        build a commit (git archive) instead of the working tree
#   IMAGE_BUILDER=docker    use Docker BuildKit instead of buildah
#   SOURCE_DATE_EPOCH=n     override the commit time

IMAGE_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
IMAGE_ROOT := $(patsubst %/,%,$(dir $(abspath $(IMAGE_DIR))))
IMAGE_PYTHON ?= $(if $(wildcard $(IMAGE_ROOT)/.venv/bin/python),$(IMAGE_ROOT)/.venv/bin/python,python3)
IMAGE_BUILDER ?= buildah

IMAGE_FLAGS = $(if $(IMAGE_COMMIT),--commit $(IMAGE_COMMIT)) \
              $(if $(TAP_FEATURES),--features $(TAP_FEATURES)) \
              $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE))

.PHONY: image image-verify image-base-local image-lock image-lock-check image-clean

## Build the image once into image/out/ (buildah; BASE_IMAGE=local for the local Debian base).
image:
	$(IMAGE_PYTHON) $(IMAGE_DIR)/build.py --builder $(IMAGE_BUILDER) $(IMAGE_FLAGS)

## Build the image twice in clean storage and fail unless the digests match.
image-verify:
	$(IMAGE_PYTHON) $(IMAGE_DIR)/verify.py $(IMAGE_FLAGS)

## Build the stand-in Debian base with mmdebstrap.
image-base-local:
	$(IMAGE_PYTHON) $(IMAGE_DIR)/local_base.py

## Regenerate image/requirements*.lock from pyproject.toml (needs the package index).
image-lock:
	$(IMAGE_PYTHON) $(IMAGE_DIR)/lock.py

## Fail if pyproject.toml changed since the image locks were made.
image-lock-check:
	$(IMAGE_PYTHON) $(IMAGE_DIR)/lock.py --check

## Remove image/out/.
image-clean:
	rm -rf $(IMAGE_DIR)/out
