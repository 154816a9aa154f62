#!/usr/bin/env bash
# Run on the lent GPU machine (see prepare.sh); results in $OUT.
#   bash bench/device/run.sh whole-model   issue 8's whole-model benchmark (dist/device-whole-model.js): Llama-3-8B
#                                          shapes, 4 layers, F16 (~3.9 GB) + imatrix; ours --backend gpu vs
#                                          llama_model_quantize on all cores vs the read floor; 6 runs; < 8 min
#                                          -> $OUT/device-whole-model.{json,txt}, $OUT/profile-*.txt
#   bash bench/device/run.sh checks        throughput of every implemented type (GPU, CPU workers, llama.cpp on as many
#                                          threads; device/host-fallback block counts), without and with an imatrix
#                                          (ROWS rows of each shape, default 256), GPU-vs-CPU compare on the demo
#                                          model, and a whole-file GPU/CPU identity check
set -u
MODE=${1:-checks}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
ROWS=${ROWS:-256}
for f in .dev/run/debs/*.deb; do dpkg -x "$f" /; done; ldconfig
xz -dc .dev/run/node.xz > /tmp/node && chmod +x /tmp/node
[ -d node_modules ] || tar xJf .dev/run/nm.tar.xz
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export XDG_RUNTIME_DIR=/tmp
N=/tmp/node
T=$(nproc)
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null; nproc; free -g | head -2; } | tee "$OUT/machine.txt"
if [ "$MODE" = whole-model ]; then
  W=/tmp/wq-whole; rm -rf "$W"; mkdir -p "$W"
  # the table and JSON rows are rewritten after every run, so a cut-short run keeps what it finished
  timeout 360 $N dist/bench/device-whole-model.js --dir "$W" --keep --json "$OUT/device-whole-model.json" 2>&1 | tee "$OUT/whole-model.txt"
  # one profiled run (stage timings) of the headline case, if time is left
  timeout 30 env WEBGPU_QUANTIZE_PROFILE=1 $N bin/webgpu-quantize.js --backend gpu --imatrix "$W/imatrix.gguf" "$W/model-f16.gguf" "$W/prof.gguf" Q4_K_M 2>&1 | grep -E "profile|backend|quantize time" | tee "$OUT/profile-q4_k_m-imatrix.txt"
  rm -rf "$W"
  exit 0
fi
# every implemented type (the registry's list), rows printed as each type finishes: a timeout keeps them
timeout 240 $N dist/bench/quantize-throughput.js --rows "$ROWS" --threads "$T" 2>&1 | tee "$OUT/bench.txt"
timeout 200 $N dist/bench/quantize-throughput.js --rows "$ROWS" --threads "$T" --imatrix --types imatrix 2>&1 | tee "$OUT/bench-imatrix.txt"
$N bin/webgpu-quantize.js --backend cpu > /dev/null 2>&1
D=/tmp/webgpu-quantize-demo
timeout 60 $N bin/webgpu-quantize.js compare $D/demo-f32.gguf Q4_K_M --backend gpu 2>&1 | tee "$OUT/compare.txt" | tail -3
timeout 60 $N bin/webgpu-quantize.js --backend gpu $D/demo-f32.gguf $D/gpu.gguf Q5_K_M 2>&1 | grep -E "backend|quantize time" | tee -a "$OUT/compare.txt"
$N bin/webgpu-quantize.js --backend cpu $D/demo-f32.gguf $D/cpu.gguf Q5_K_M > /dev/null 2>&1
sha256sum $D/gpu.gguf $D/cpu.gguf | tee -a "$OUT/compare.txt"
