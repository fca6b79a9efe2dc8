#!/usr/bin/env bash
# Print the newest Python >= 3.12 on this machine (Chalice takes the Lambda runtime from the
# interpreter that packages: 3.12+ gives a SnapStart-capable, long-supported runtime), else python3.
for minor in 14 13 12; do
  candidate=$(command -v "python3.$minor" 2>/dev/null || true)
  if [ -n "$candidate" ] && "$candidate" -c 'import sys' >/dev/null 2>&1; then echo "$candidate"; exit 0; fi
  if command -v pyenv >/dev/null 2>&1; then
    for dir in $(pyenv root)/versions/3.$minor*; do
      if [ -x "$dir/bin/python3.$minor" ]; then echo "$dir/bin/python3.$minor"; exit 0; fi
    done
  fi
done
command -v python3
