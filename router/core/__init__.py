"""The vocabulary every floor may use: the model, errors, settings, ids, patterns, the wire
form, validation, permissions. Imports nothing of ``router`` but the generated code.
"""
