"""Genome layers in persona-runtime: resolving a persona's genome, the tiered
layer cache (cold registry, warm CPU tensors, hot adapters in the live
model), assembly with peft, and training layers on the built-in model."""
