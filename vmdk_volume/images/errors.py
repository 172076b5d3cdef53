"""The image core's refusal: the one exception every image check raises."""


class ImageUnacceptable(ValueError):
    """The image cannot become a volume; the message says why."""
