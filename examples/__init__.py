"""Example inputs shipped with vidsched (package data): a held-out vtest clip and its mask."""
