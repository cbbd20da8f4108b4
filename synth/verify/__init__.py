"""Verifiers: a sample is admitted only when it passes (code runs its tests, math answers match, text is sane)."""
