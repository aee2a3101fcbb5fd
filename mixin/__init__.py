"""The monitoring mixin (Jsonnet) and the script that renders the shipped rules file from it."""
