"""`prompt-review action`: the GitHub Action entrypoint, one small module per concern.

- ``decide``: which job an event asks for, a pure function of settings and payload;
- ``review``, ``promote``, ``dispatch``: one module per job;
- ``publish``: the one seam everything public goes through -- status first, comment
  second, job summary always, all of it redacted;
- ``run``: one run's wiring (settings, environment, GitHub client, reviewer);
- ``entry``: ``main(environ)``, where every fault becomes an exit code and a status.

Nothing below ``main`` reads the environment.
"""

from prompt_review.action.decide import Decision, decide
from prompt_review.action.entry import main
from prompt_review.action.publish import split_problem
from prompt_review.action.review import refuse_untrusted_code

__all__ = ["Decision", "decide", "main", "refuse_untrusted_code", "split_problem"]
