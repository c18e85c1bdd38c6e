"""`edgeface bench stability`: landmark jitter on still photos under sensor noise."""
