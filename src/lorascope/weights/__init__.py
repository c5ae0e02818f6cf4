"""All file I/O for weights: HF directories, safetensors shards, PEFT adapters, key matching."""
