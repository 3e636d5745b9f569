#!/bin/sh
# greet NAME: prints a greeting in $LANG_CODE (en or fr).
case "${LANG_CODE:-en}" in
  fr) echo "Bonjour, $1" ;;
  *) echo "Hello, $1" ;;
esac
