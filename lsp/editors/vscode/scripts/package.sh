#!/bin/sh
# Build hapax.vsix from this folder (lsp/editors/vscode).
# Usage: sh scripts/package.sh        -> ./hapax.vsix
set -eu
cd "$(dirname "$0")/.."
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
# No LICENSE file or repository URL ship inside this folder; say so up front so vsce
# does not stop to ask on a non-interactive terminal.
npx --yes @vscode/vsce package --out hapax.vsix --skip-license --allow-missing-repository
echo "built $(pwd)/hapax.vsix"
