"""The partner directory: who we exchange with, where their inbox is, what they accept, and whom we trust for them."""
