"""The academy's lab: the base model, LoRA weights, batched answering, training
and merging, in this process (torch, transformers, peft).

Sessions with a persona go through persona-runtime like any conversation;
the lab is for the academy's own bulk work (self-training, A/B tests,
evolution), where thousands of attempts must be batched on one model
rather than sent one by one (ADR 0010).
"""
