"""Sequence data: codecs (text, SMILES, music), readers, writers, molecules, music."""
