"""Deployable flows: thin files that compose the nornflow library."""
