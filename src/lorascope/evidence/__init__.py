"""The rules a measured run must pass before it counts as evidence for a paper claim: divergence
(`divergence`), quality matching of LoRA and full fine-tuning (`matching`), and seed intervals (`interval`).

Plain functions over numbers, shared by the recipes (which write the flags into their tables) and the claims
table (which states each rule it applied)."""
