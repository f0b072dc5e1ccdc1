"""Scenes and reference selection: which registered assets (at most 3 for Veo 3.1) each scene passes on."""
