"""`edgeface bench eval`: landmark accuracy (NME) on an annotated set."""
