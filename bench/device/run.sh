#!/usr/bin/env bash
# Run on the lent GPU machine (see prepare.sh); results in $OUT.
#   bash bench/device/run.sh whole-model   issue 8's whole-model benchmark (dist/device-whole-model.js): Llama-3-8B
#                                          shapes, 4 layers, F16 (~3.9 GB) + imatrix; ours --backend gpu vs
#                                          llama_model_quantize on all cores vs the read floor; 6 runs; then one
#                                          profiled Q4_K_M+imatrix CLI run (host stages + device time per kernel)
#                                          and the per-kernel device profile (timestamp queries) of the key types:
#                                          q4_K +imatrix, then q8_0, q4_0, q6_K, iq2_xxs (+imatrix: it needs one),
#                                          iq4_xs (KROWS rows of each 8B shape, default 128).
#                                          The whole command stays under BUDGET_S seconds (default 460, < 8 min,
#                                          setup included): each step's timeout is cut to what is left, keeping
#                                          a reserve for the steps after it.
#                                          -> $OUT/device-whole-model.{json,txt}, whole-model.txt,
#                                             profile-q4_k_m-imatrix.txt, kernel-profile.txt
#   bash bench/device/run.sh imatrix       issue 9's imatrix-pass speed (dist/bench/imatrix-throughput.js): a generated model
#                                          with Llama-3-8B shapes (2 layers, F16 random weights, ~3 GB, in /tmp), 4 chunks
#                                          of 512 seeded random token ids after a warm-up chunk: llama.cpp's llama_decode
#                                          on all cores with llama-imatrix's collection rule in a koffi eval callback
#                                          (mode llama), then our whole forward pass on the device (mode gpu); the
#                                          TypeScript CPU mode is left out (hours at these shapes: see the SwiftShader
#                                          table in bench/results). Under BUDGET_S (default 460) seconds.
#                                          -> $OUT/imatrix-8b.txt
#   bash bench/device/run.sh checks        throughput of every implemented type (GPU, CPU workers, llama.cpp on as many
#                                          threads; device/host-fallback block counts), without and with an imatrix
#                                          (ROWS rows of each shape, default 256), GPU-vs-CPU compare on the demo
#                                          model, and a whole-file GPU/CPU identity check
# WQ_DRY_RUN=1: a rehearsal on a machine without the device (here, SwiftShader): no packages installed, this
# machine's node, the --small model and 2 of the 6 runs, KROWS 2, F16 widened on the device as on a GPU, a
# 900 s budget (150 s for the profiled run); the same steps and files otherwise. For imatrix: the --small
# synthetic model (256 wide), 2 chunks of 128, and the TypeScript CPU mode as well.
set -u
MODE=${1:-checks}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
ROWS=${ROWS:-256}
START=$(date +%s)
DRY=${WQ_DRY_RUN:-0}
# the profiled Q4_K_M+imatrix run's cap (the dry run's software adapter needs longer, and gets a longer budget)
PROF_S=${PROF_S:-40}
[ "$DRY" = 1 ] && PROF_S=150
BUDGET_S=${BUDGET_S:-$([ "$DRY" = 1 ] && echo 900 || echo 460)}
# seconds for a step: at most $1, and no more than what is left of the budget less $2 (the later steps' reserve)
cap() { local l=$(( BUDGET_S - ($(date +%s) - START) - $2 )); [ "$l" -lt "$1" ] && set -- "$l"; [ "$1" -lt 5 ] && set -- 5; echo "$1"; }
if [ "$DRY" = 1 ]; then
  N=$(command -v node)
  export WEBGPU_QUANTIZE_WIDEN=${WEBGPU_QUANTIZE_WIDEN:-device} # as on a hardware adapter: stored F16 widened on the device
else
  for f in .dev/run/debs/*.deb; do dpkg -x "$f" /; done; ldconfig
  xz -dc .dev/run/node.xz > /tmp/node && chmod +x /tmp/node
  [ -d node_modules ] || tar xJf .dev/run/nm.tar.xz
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
  export XDG_RUNTIME_DIR=/tmp
  N=/tmp/node
fi
T=$(nproc)
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null; nproc; free -g | head -2; } | tee "$OUT/machine.txt"
if [ "$MODE" = whole-model ]; then
  W=/tmp/wq-whole; rm -rf "$W"; mkdir -p "$W"
  SMALL=(); KROWS=${KROWS:-128}
  [ "$DRY" = 1 ] && { SMALL=(--small --runs Q4_K_M+im,Q8_0); KROWS=2; }
  # the table and JSON rows are rewritten after every run, so a cut-short run keeps what it finished
  timeout "$(cap 330 $((PROF_S + 75)))" $N dist/bench/device-whole-model.js "${SMALL[@]}" --dir "$W" --keep --json "$OUT/device-whole-model.json" 2>&1 | tee "$OUT/whole-model.txt"
  # one profiled run of the headline case: host stages, then the device time of each kernel (convert f16, q4_K, q6_K)
  timeout "$(cap "$PROF_S" 75)" env WEBGPU_QUANTIZE_PROFILE=1 $N bin/webgpu-quantize.js --backend gpu --imatrix "$W/imatrix.gguf" "$W/model-f16.gguf" "$W/prof.gguf" Q4_K_M 2>&1 | grep -E "profile|backend|quantize time" | tee "$OUT/profile-q4_k_m-imatrix.txt"
  rm -rf "$W"
  # the key types' device time per kernel (timestamp queries; one line instead if the adapter lacks them),
  # printed under each type's row as it finishes; the CPU path and llama.cpp check the same bytes
  K=(dist/bench/quantize-throughput.js --rows "$KROWS" --threads "$T" --profile)
  { timeout "$(cap 25 50)" $N "${K[@]}" --types q4_K --imatrix
    timeout "$(cap 50 2)" $N "${K[@]}" --types q8_0,q4_0,q6_K,iq2_xxs,iq4_xs; } 2>&1 | tee "$OUT/kernel-profile.txt"
  echo "run.sh whole-model: $(( $(date +%s) - START )) s of a ${BUDGET_S} s budget" | tee -a "$OUT/machine.txt"
  exit 0
fi
if [ "$MODE" = imatrix ]; then
  # modes in this order: llama.cpp first (the reference figure), then the device; rows print as each finishes
  IM=(--synth8b 2 -c 512 --chunks 4 --modes llama,gpu --threads "$T" --gpu-budget 65536)
  [ "$DRY" = 1 ] && IM=(--synth8b 2 --small -c 128 --chunks 2 --modes llama,gpu,cpu --threads "$T")
  timeout "$(cap 400 5)" $N dist/bench/imatrix-throughput.js "${IM[@]}" 2>&1 | tee "$OUT/imatrix-8b.txt"
  echo "run.sh imatrix: $(( $(date +%s) - START )) s of a ${BUDGET_S} s budget" | tee -a "$OUT/machine.txt"
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
