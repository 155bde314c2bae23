"""CER inputs: the manufacturer's and evaluator's part of a Clinical Evaluation Report."""
