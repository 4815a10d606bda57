"""Small helpers every part of NornFlow shares (reading a YAML file for a person)."""
