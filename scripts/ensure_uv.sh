#!/bin/sh
# Print the path of a uv binary, installing uv first if it is missing.
set -e
if command -v uv >/dev/null 2>&1; then command -v uv; exit 0; fi
for c in "$HOME/.local/bin/uv" "$HOME/.cargo/bin/uv"; do
  if [ -x "$c" ]; then echo "$c"; exit 0; fi
done
echo "uv not found: installing it" >&2
if python3 -m pip install --quiet --user uv >&2 2>/dev/null || python3 -m pip install --quiet uv >&2; then :;
else curl -LsSf https://astral.sh/uv/install.sh | sh >&2; fi
if command -v uv >/dev/null 2>&1; then command -v uv; exit 0; fi
for c in "$HOME/.local/bin/uv" "$HOME/.cargo/bin/uv"; do
  if [ -x "$c" ]; then echo "$c"; exit 0; fi
done
echo "could not install uv; see https://docs.astral.sh/uv/getting-started/installation/" >&2
exit 1
