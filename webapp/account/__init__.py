"""What every signed-in person manages for themselves: their personal API tokens."""
