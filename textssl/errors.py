class TextsslError(Exception):
    """A problem with the user's input (recipe, data, model name).

    The CLI prints these as one line, without a traceback; anything else is a bug.
    """
