"""The engineer answering back: labels on events and maintenance records, and their effects."""
