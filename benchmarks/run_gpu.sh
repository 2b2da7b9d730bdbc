#!/usr/bin/env bash
# GPU figures in one go (about 6 minutes on one H100/H200):
#   1. paper-size training step of each backbone: fp32, channels-last and mixed precision;
#   2. a paper-profile pretraining run (16-8-3, width 1.0, 112x112, AMP) on the large synthetic
#      set, capped at a few minutes, whose metrics.json gives clips/s of the whole loop.
# Usage: bash benchmarks/run_gpu.sh [OUT_DIR] [MINUTES]
set -euo pipefail
out=${1:-results/gpu}
minutes=${2:-2}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
python3 benchmarks/bench_train_step.py --sizes paper --paper-steps 10 --skip-data \
    --out "$out/train_step.json"
data=/tmp/vcop-gpu-synth
python3 -m vcop_lab.cli synth --preset large --out "$data" --workers "$(nproc)"
python3 -m vcop_lab.cli pretrain --data "$data/main" --profile paper --epochs 2 \
    --max-minutes "$minutes" --workers 12 --out "$out/pretrain_paper"
python3 - "$out/pretrain_paper" <<'PY'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
metrics = json.loads((run / "metrics.json").read_text())
print({k: metrics[k] for k in ("clips_per_second", "train_minutes", "epochs_run", "amp")})
for epoch in json.loads((run / "history.json").read_text()):
    print(epoch)
PY
