#!/usr/bin/env bash
# Regenerate the pictures of README.md and docs/ with the CLI and the plugin (needs the weights:
# see docs/install.md).
set -euo pipefail
cd "$(dirname "$0")/.."
report="$(mktemp -d)"
trap 'rm -rf "$report"' EXIT

# the walkthrough's imtile(mat2gray(act)) of conv1 on the face
probecheck show fixtures/astronaut_face.png --layer conv1 --tile-size 56 \
  --out docs/face_conv1_montage.png --force
# the eye channel's tile: face and eyes removed, maps on one scale, regions outlined
pytest --probe-specs docs/single_pair_face.yaml -k "fire6-eyes and not pre" --probe-diagnostics all \
  --probe-report "$report/pass" -p no:cacheprovider -q
cp "$report/pass/docs.single_pair_face__fire6-eyes.png" docs/eye_channel_tile.png
# the shipped eye claim over the faces: the population's numbers, then face after face
pytest --probe-specs specs/faces.yaml::eyes-across-faces --probe-diagnostics all \
  --probe-report "$report/faces" -p no:cacheprovider -q
cp "$report/faces/specs.faces__eyes-across-faces.png" docs/eye_channel_faces_tile.png
# a claim that fails on purpose, and the tile that shows why
pytest --probe-specs docs/failing_example.yaml --probe-report "$report/fail" -p no:cacheprovider -q || true
cp "$report/fail/docs.failing_example__fire6-eyes-25.png" docs/failing_claim_tile.png
# the eye channel's occlusion map over the face
probecheck occlusion fixtures/astronaut_face.png --layer fire6-relu_squeeze1x1 --channel 15 \
  --region eyes --spec docs/single_pair_face.yaml --out docs/eye_channel_occlusion.png --force
chmod 644 docs/*.png
