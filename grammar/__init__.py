"""The scheme language grammar (package data; see scheme.lark)."""
