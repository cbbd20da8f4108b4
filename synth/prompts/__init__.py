"""Prompt templates of the generators, as versioned YAML data files (loaded by `synth.templates`)."""
