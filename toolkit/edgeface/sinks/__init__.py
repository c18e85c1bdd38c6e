"""Where results go on the board: JSONL, video and image files, a window, mesh files, the MJPEG stream
(one module per output; `group` picks one by output spec and joins several)."""
