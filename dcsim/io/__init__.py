"""Writing run directories (atomically) and reading them back."""
