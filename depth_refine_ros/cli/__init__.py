"""Command bodies of ``depth-refine``: argument parsing and the commands that orchestrate the layers below."""
