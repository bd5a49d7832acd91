"""The model code persona-runtime and the academy share.

Building and pre-training the built-in model (``builtin``), rendering chat
turns and academy exercises into a model's prompt (``prompt``), the request
every inference backend takes (``generation``), a persona's resolved genome
(``resolve``), verifying and decoding a fetched layer (``weights``), the
byte-bounded LRU both services cache layers in (``lru``), training a LoRA
layer (``training``) and where the node's model lives (``settings``). It
imports torch, transformers and peft, so only services that run a model
depend on it.
"""
