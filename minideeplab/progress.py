"""Progress bars: one ``progress=`` convention for every long loop.

Every loop that runs for long (training, evaluation, the CRF's cross-validation, the
reproduce jobs) takes the same ``progress=`` argument, read by :func:`progress_bar`: ``True``
draws a tqdm bar (``tqdm.auto``: a widget in a notebook, a line in a terminal), ``False`` or
``None`` draws nothing, and a callable is used as the bar itself (``tqdm.tqdm``,
``functools.partial(tqdm.auto.tqdm, leave=False)``, or any ``f(iterable, desc=, total=)``
that returns an iterable).
"""
import warnings

from tqdm import TqdmWarning

from .errors import ArgumentError

# In a notebook without ipywidgets, tqdm.auto falls back to text bars and warns that it does:
# the warning would be the first output of every tutorial, so it is silenced here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

__all__ = ["progress_bar", "check_progress"]


def progress_bar(progress, iterable=None, *, desc=None, total=None, **kwargs):
    """Wrap ``iterable`` in the bar that ``progress`` asks for (see the module docstring).

    Parameters
    ----------
    progress : True, False, None, or a callable ``f(iterable, desc=..., total=..., **kwargs)``
    iterable : what the loop runs over (None: a bar counted with ``update``)
    desc, total, kwargs : passed to the bar (tqdm's ``desc``, ``total``, ``leave``, ...)

    Returns
    -------
    An iterable over ``iterable``: for True/False/None a ``tqdm`` object (disabled for
    False/None), so ``set_postfix`` and ``update`` work either way; otherwise what
    ``progress`` returns.
    """
    check_progress("progress_bar", progress)
    if progress is None or isinstance(progress, bool):
        return tqdm(iterable, desc=desc, total=total, disable=not progress, **kwargs)
    return progress(iterable, desc=desc, total=total, **kwargs)


def check_progress(fn, progress):
    """Raise an ArgumentError naming ``fn`` unless ``progress`` is True, False, None or a callable;
    returns it."""
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise ArgumentError(f"{fn}: progress must be True, False, None or a callable "
                            f"f(iterable, desc=..., total=...), got {progress!r}")
    return progress
