#!/bin/bash
# Bundles the whetstone CLI (bench included) into one Node ESM file for a GPU machine that has no
# node_modules, then packs it with Node, Dawn and the Vulkan loader (../shared/tools/device-kit.sh):
#   bash bench/bundle.sh
# On the GPU machine: bash .device-kit/run.sh bench --shape gpt-10m --naive
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
npx esbuild cli/main.ts --bundle --platform=node --format=esm --external:webgpu --log-level=warning \
  --outfile=dist-bench/whetstone.mjs \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
if [ "${1:-}" != "--no-kit" ]; then ../shared/tools/device-kit.sh dist-bench/whetstone.mjs; fi
