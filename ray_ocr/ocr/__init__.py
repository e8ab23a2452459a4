"""Pure OCR compute (no Ray): DB text detection, SVTR/CRNN recognition, model sets."""
