"""scikit-learn's callback API (``sklearn.callback``, 1.9) for fastmlp's estimators.

An estimator takes callbacks with ``set_callbacks`` (from scikit-learn's
:class:`~sklearn.callback.CallbackSupportMixin`) and reports one fit as a
root task with one subtask per epoch (per L-BFGS iteration for
``solver="lbfgs"``), each passing the callbacks ``X``, ``y``, the sample
weights and, on request, a ``fitted_estimator`` that predicts as the model
stood at that point. So ``ProgressBar`` draws one bar per fit and
``ScoringMonitor`` scores every epoch, also inside ``Pipeline`` and
``GridSearchCV``, which propagate their callbacks to the steps and clones.

With an installed scikit-learn that has no ``sklearn.callback``, the mixin
is an empty class and :class:`FitTasks` does nothing, so nothing else changes.
A fit with no callback (set or propagated) creates no context either: the
bookkeeping stays off the path of the default fit.
"""

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:
        """Stand-in for scikit-learn's mixin, which this scikit-learn lacks."""

    HAVE_CALLBACKS = False
else:
    HAVE_CALLBACKS = True

# The estimator attributes through which scikit-learn's callback machinery
# holds callbacks and contexts: shared with the caller, never deep-copied
# (a ProgressBar's monitor thread does not copy).
CALLBACK_ATTRIBUTES = frozenset(
    {"_skl_callbacks", "_skl_callbacks_to_teardown", "_callback_fit_ctx",
     "_parent_callback_ctx"}
)


def _wants_callbacks(estimator):
    return HAVE_CALLBACKS and (
        bool(getattr(estimator, "_skl_callbacks", None))
        or hasattr(estimator, "_parent_callback_ctx")
    )


class FitTasks:
    """The callback tasks of one fit: the root task and one subtask per iteration.

    Parameters
    ----------
    estimator : estimator
        The estimator being fitted; its callbacks are scikit-learn's.
    X, y : array-like
        The training data, passed to the hooks.
    sample_weight : array-like or None
        Passed to the hooks as ``metadata={"sample_weight": ...}``.
    max_subtasks : int or None
        The number of iterations the fit may run (None: unknown).
    task_name : str
        The name of each iteration's task ("epoch", "lbfgs-iter").
    """

    def __init__(self, estimator, X, y, sample_weight, max_subtasks, task_name):
        self._estimator = estimator
        self._task_name = task_name
        self._iteration = None
        self._ctx = None
        if not _wants_callbacks(estimator):
            return
        self._args = dict(X=X, y=y, metadata=(None if sample_weight is None
                                              else {"sample_weight": sample_weight}))
        self._ctx = estimator._init_callback_context(max_subtasks=max_subtasks)
        self._ctx.call_on_fit_task_begin(estimator=estimator, **self._args)

    @property
    def active(self):
        """True when there are callbacks to call."""
        return self._ctx is not None

    def begin(self):
        """Start the next iteration's task."""
        if self._ctx is None:
            return
        self._iteration = self._ctx.subcontext(task_name=self._task_name)
        self._iteration.call_on_fit_task_begin(
            estimator=self._estimator, reconstruction_attributes=self._snapshot, **self._args)

    def end(self):
        """End the current iteration's task; True when a callback asks to stop."""
        if self._iteration is None:
            return False
        iteration, self._iteration = self._iteration, None
        return bool(iteration.call_on_fit_task_end(
            estimator=self._estimator, reconstruction_attributes=self._snapshot, **self._args))

    def close(self):
        """End the root task (and an iteration left open, as an empty task)."""
        if self._ctx is None:
            return
        if self._iteration is not None:
            self._iteration.call_on_fit_task_end(estimator=self._estimator)
            self._iteration = None
        self._ctx.call_on_fit_task_end(estimator=self._estimator,
                                       reconstruction_attributes=self._snapshot,
                                       **self._args)

    def _snapshot(self):
        # Called by scikit-learn only for a callback that asks for the
        # fitted_estimator; the estimator knows what its fitted state is.
        return self._estimator._callback_snapshot()
