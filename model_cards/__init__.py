"""Jinja templates of the dataset card and the model card (package data)."""
