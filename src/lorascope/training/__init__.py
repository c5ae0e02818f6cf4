"""Training components, each small and tested on its own; pipelines/train.py wires them into the recipe.

config (TrainConfig) · registry (models, tasks) · convert (GGUF → safetensors) · data (ids, batches,
padding) · modeling (classifier, LoRA/full policy, LM head swap) · bottom (frozen-bottom cache) ·
lm (causal loss, pseudo-loss) · runners (forward passes) · probe (intruders of a live model) ·
optim (AdamW, linear schedule) · state (resumable state) · rows (results.jsonl schema).
"""
