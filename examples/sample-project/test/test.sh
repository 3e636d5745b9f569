#!/bin/sh
set -e
out=$(sh src/greet.sh Kiln)
case "$LANG_CODE" in
  fr) expected="Bonjour, Kiln" ;;
  *) expected="Hello, Kiln" ;;
esac
[ "$out" = "$expected" ] || { echo "expected '$expected', got '$out'"; exit 1; }
echo "ok: $out"
