"""The life of a pipeline after its first run: recipe history in git, scheduling on one machine."""
