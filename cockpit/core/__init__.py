"""The core: scan a tree, outline and summarize it into the pyramid, rank and budget context, watch it."""
