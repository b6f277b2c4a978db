"""The demo production system: a seeded simulator of four production databases."""
