"""`edgeface bench peers`: edgeface beside upstream 3DDFA_V2 and MediaPipe, each in its own process."""
