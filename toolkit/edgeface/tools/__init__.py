"""Workstation tools, never imported by the board side: convert (checkpoint -> ONNX -> TFLite) and bench."""
