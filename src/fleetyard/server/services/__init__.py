"""Domain rules. Transactions start here; no HTTP and no SQL text in this layer."""
