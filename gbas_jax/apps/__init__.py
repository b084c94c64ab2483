"""The jobs behind the command line (sample, boundaries, reproduce, train): each
computes first and returns a typed result, then writes its output folder."""
