"""Replicate production read replicas into a Postgres warehouse for dbt."""
