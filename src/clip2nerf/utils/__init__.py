"""Small shared helpers: atomic writes, device selection, image grids."""
