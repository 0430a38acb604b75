"""The speed tricks of the hot paths, in one place (private: nothing here is public API).

Each trick is here because the plain form cost a measured share of a per-request or
per-event path. Figures: CPython 3.11, thread CPU time, best of 5 in one run on the 2-core
development machine (ratios in one run; absolute times move with the machine's load).
Each trick has one invariant that keeps it correct.

**Generated functions** (``generate``). Three generators turn a shape known at build time
into one straight-line function: a condition object's path reads and operator fast paths
(``rules/_codegen.py``), a feature whose rules hashing alone decides
(``decisions/_fastpath.py``), and the condition view of a message the tag triggers read
(``tags/_router.py``). They buy what the interpreter spends walking a structure per call:
a feature with one rollout rule 0.50 µs instead of 1.03 µs through the general evaluator
(an experiment rule with its exposure 1.07 instead of 1.28), a message's condition view
0.52 µs instead of 1.32 µs filled in a loop, and one call per condition object instead of
one per path and operator. A generated feature reads its constants as its globals, not as a
closure's cells (each call copies every cell into its frame: 36 for an experiment rule).
*Invariant*: source text is made of fixed templates and identifiers the generator made;
every value (key, operand, predicate, constant) reaches the code as an argument or through
the namespace, never formatted into the text; so a container cannot inject code. Each
generated function is checked against the general evaluation it replaces
(``tests/decisions/test_fastpath.py``, ``tests/rules``). The source is kept (``linecache``,
``generated_source``) so tracebacks and debuggers show the generated lines.

**Instances without ``__init__``** (``blank``). A ``Visitor`` (one per request) and an
``EvalContext`` are made by ``blank(cls)`` and their slots set by one builder function
(``decisions/_visitor_factory.py: visitor_builder``, ``decisions/_context.py: new_context``):
calling a class with keywords packs them into a dict and unpacks them again: a 14-slot
class called with two keywords costs 0.38 µs, ``blank`` and a function setting the same
slots 0.22 µs (``Visitor(engine=...)`` 0.77 µs, ``engine.visitor(...)`` 0.55 µs, the
builder itself 0.42 µs). *Invariant*: the builder is the only place
that makes these instances; every other route (``persona.visitor``, ``engine.visitor``,
``Visitor(engine=...)``) delegates to it, and it sets every slot the methods read without
a fallback (the optional ones are read with ``try/except AttributeError``).

**``persona.visitor`` is its runtime's builder.** ``visitor_builder`` binds what is
constant for a runtime's visitors (the engine, its mode, the persona's hooks, exposure lane
and profile reader) in a closure, and a persona sets that closure as its instance's
``visitor``: one call per request instead of the method and the builder (callgrind: 8,400
instructions a bare visitor instead of 10,100). Its parameters are positional-or-keyword
because CPython 3.11 looks each omitted keyword-only default up in a dict on every call.
*Invariant*: ``Persona._follow_runtime`` installs it after every swap of the runtime (and
never over a subclass's own ``visitor``); ``Persona.visitor`` called through the class runs
the same closure, so both forms build the same visitor (``tests/test_persona.py``).

**Lock-free counters** (``Counter``). ``bump`` is ``itertools.count().__next__``: one C
call, atomic under the GIL, with no Python frame (29 ns, against 193 ns for ``n += 1``
under a lock). *Invariant*: the
value is read by taking one more number and subtracting the reads already taken, never by
introspecting the iterator (``repr`` or ``__reduce__``, which Python 3.12 deprecates).

**Cache membership as one C call** (``membership``). ``persona.visitor`` asks two caches
whether they hold the visitor (local traits, alias links) before building a bare profile:
``key in lru_cache`` runs ``Cache.__contains__``, a Python frame, where the test of the
cache's own item dict is one C call (the two tests about 0.1 µs instead of 0.2 µs, on the
loaded machine; callgrind: 700 fewer instructions of the 10,600 a ``persona.visitor``
took). *Invariant*: used only on a cachetools ``Cache`` whose
``__contains__`` is ``Cache``'s own (``key in`` its item dict, which ``__init__`` sets and
nothing replaces); any other cache keeps its own test (``tests/test_speed.py``).

**What rules read** is recorded by the compiler (``persona_sdk.rules.Reads``), never
searched for in a container's text: a visitor adds ``anonymousId`` and ``userId`` to the
attributes conditions see only when a rule reads them (a sixth key costs the usual
attribute dict a resize).
"""

from persona_sdk._speed._codegen import generate, generated_source
from persona_sdk._speed._counter import Counter
from persona_sdk._speed._instances import blank
from persona_sdk._speed._membership import membership

__all__ = ["Counter", "blank", "generate", "generated_source", "membership"]
