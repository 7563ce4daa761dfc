"""Writing run directories (atomically) and reading them back; sweep bookkeeping (multirun)."""
