"""Developer tools: the README settings table generator and the dist builder (not shipped)."""
