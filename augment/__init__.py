"""augment: text and image augmentation, usable on its own or through textssl.

The augmenters themselves (TF-IDF and uniform word replacement, back-translation,
synonyms, EDA operations, image ops) are being built; this package holds their home and
the `augment` command.
"""

__version__ = "0.1.0"
__all__: list[str] = []
