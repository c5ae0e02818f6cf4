"""Tests of lorascope.training, the train and forget pipelines and the intruder monitor."""
