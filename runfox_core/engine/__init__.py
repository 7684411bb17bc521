"""engine -- records and the pure transitions over them."""
