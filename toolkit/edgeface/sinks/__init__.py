"""Where results go on the board: JSONL, video and image files, meshes, the MJPEG stream."""
