"""Tests of lorascope.weights: safetensors checks, stores, PEFT adapters and BASE/TUNED pairing."""
