#!/usr/bin/env bash
# Prepares .dev/run/ (git-ignored) for a run on a lent GPU machine that has no Node: an xz-compressed node
# binary, a minimal node_modules (webgpu's linux-x64 dawn.node, koffi, llama.cpp's libggml for the oracle)
# and the Vulkan/GL loader packages the NVIDIA ICD needs. Then carry [".dev/run", "dist"] and run
# `bash bench/device/run.sh whole-model` (issue 8's benchmark, one command under 8 minutes) or
# `bash bench/device/run.sh checks` (per-type throughput, compare, identity) or `bash bench/device/run.sh
# imatrix` (issue 9's imatrix-pass speed vs llama_decode on all cores) there.
set -euo pipefail
cd "$(dirname "$0")/../.."
node scripts/build.mjs
rm -rf .dev/run && mkdir -p .dev/run/stage/node_modules/webgpu/dist .dev/run/stage/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64 .dev/run/stage/node_modules/@koromix .dev/run/debs
s=.dev/run/stage/node_modules
cp node_modules/webgpu/{index.js,package.json} $s/webgpu/
cp -r node_modules/webgpu/dist/linux-x64 $s/webgpu/dist/
cp -r node_modules/koffi $s/ && cp -r node_modules/@koromix/koffi-linux-x64 $s/@koromix/
# @huggingface/gguf (+ its @huggingface/tasks): the oracle's own imatrix reader (test/oracle/imatrix-reference.ts)
mkdir -p $s/@huggingface && cp -r node_modules/@huggingface/gguf node_modules/@huggingface/tasks $s/@huggingface/
cp -r node_modules/@node-llama-cpp/linux-x64/{package.json,dist} $s/@node-llama-cpp/linux-x64/
# libllama: llama_model_quantize for the whole-model benchmark (run.sh whole-model); the CPU backend variants
# (libggml-cpu-*.so, one loaded for the machine's CPU): llama_decode for the imatrix benchmark (run.sh imatrix)
cp node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/{libggml-base.so,libggml.v0.5.0.so,libllama.v0.5.0.so,libggml-cpu-*.so} $s/@node-llama-cpp/linux-x64/bins/linux-x64/
tar cJf .dev/run/nm.tar.xz -C .dev/run/stage node_modules && rm -rf .dev/run/stage
xz -T0 -6 -c "$(command -v node)" > .dev/run/node.xz
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64-lists'
mkdir -p /tmp/amd64-lists/partial && apt-get $o update -qq
(cd .dev/run/debs && apt-get $o download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libgles2 libopengl0 libx11-6 libx11-data libxau6 libxcb1 libxdmcp6 libxext6 libbsd0 libmd0)
du -sh .dev/run/*
