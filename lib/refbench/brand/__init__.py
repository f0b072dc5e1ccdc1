"""Brand controls: logo detection, pixel-exact logo overlay on images and video.

Generators hallucinate logos; the real one is composited instead. ``artwork`` reads logo files (raster with
alpha, SVG rendered at the pasted width), ``composite`` blends exactly, ``placement`` chooses the corner,
``overlay`` puts them together for an image, ``video`` for a clip, ``logos`` judges whether an image is a logo.
"""
