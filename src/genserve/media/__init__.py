"""Safe media decoding (images, audio) and video encoding/probing."""
