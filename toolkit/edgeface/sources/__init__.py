"""Where frames come from: images, video files, cameras (picamera2, V4L2), the simulated camera, the capture thread."""
