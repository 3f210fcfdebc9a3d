"""DataFrames and Arrow: reading streams into tables, writing tables as messages."""
