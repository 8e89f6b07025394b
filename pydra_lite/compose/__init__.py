"""Defining tasks: python functions, shell commands and workflows."""
