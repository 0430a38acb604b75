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
calling a class with keywords packs them into a dict and unpacks them again (a 14-slot
class called with two keywords cost 0.38 µs where ``blank`` and a function setting the same
slots cost 0.22 µs). Today ``persona.visitor(...)`` costs 0.61 µs and ``engine.visitor(...)``
0.65 µs with four attributes (timeit, the AMD machine). *Invariant*: the builder is the only place
that makes these instances; every other route (``persona.visitor``, ``engine.visitor``,
``Visitor(engine=...)``) delegates to it, and it sets every slot the methods read without
a fallback (the optional ones are read with ``try/except AttributeError``).

**``persona.visitor`` is its runtime's builder.** ``visitor_builder`` binds what is
constant for a runtime's visitors (the engine, its mode, the persona's hooks, exposure lane
and profile reader) in a closure, and a persona sets that closure as its instance's
``visitor``: one call per request instead of the method and the builder (callgrind: 8,600
instructions a bare visitor instead of 10,100). Its parameters are positional-or-keyword
because CPython 3.11 looks each omitted keyword-only default up in a dict on every call; it
shows the documented keyword-only signature. *Invariant*: ``Persona._follow_runtime``
installs it after every swap of the runtime, never over a subclass's own ``visitor`` nor
over what a test set on the instance, and records it as the one in force
(``ExposureLane.visitor``): a builder a caller kept from before hands over to that one, and
``Persona.visitor`` called through the class runs it too, so every form decides with the
runtime in force (``tests/test_persona.py``). What this costs: a class patched after the
persona was built is not seen by it (patch the instance).

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

**Keyword-only for free** (``keywords_only``). CPython 3.11 fills each omitted
keyword-only parameter from a dict look-up on every call (``initialize_locals``): seven
omitted options cost ``persona.track`` about 1,000 instructions of its 12,400 (callgrind).
``track``'s options are declared positional-or-keyword (their defaults come from a tuple)
behind a guard parameter, ``_kw: KeywordsOnly = KEYWORDS_ONLY``: a second positional
argument lands in the guard, which ``track`` tests (one ``is``) and answers with the
``TypeError`` that ``*`` would raise. ``keywords_only`` gives the function the documented
signature (keyword-only, no guard) for ``inspect.signature``, ``help`` and the docs;
type checkers and IDEs read a stub with that signature and the docstring (``Persona.track``,
whose code at run time is ``Persona._track``), so a positional option is "too many
positional arguments" to mypy and a subclass may override ``track`` as documented.
*Invariant*: the guard comes right after the last positional parameter and its type is an
enum no caller's value can be; every function using it tests the guard first
(``tests/test_speed.py``: positional calls refused as before, the signature shown).

**What rules read** is recorded by the compiler (``persona_sdk.rules.Reads``), never
searched for in a container's text: a visitor adds ``anonymousId`` and ``userId`` to the
attributes conditions see only when a rule reads them (a sixth key costs the usual
attribute dict a resize).
"""

from persona_sdk._speed._codegen import generate, generated_source
from persona_sdk._speed._counter import Counter
from persona_sdk._speed._instances import blank
from persona_sdk._speed._keywords import (
    KEYWORDS_ONLY,
    KeywordsOnly,
    keywords_only,
    positional_error,
)
from persona_sdk._speed._membership import membership

__all__ = [
    "KEYWORDS_ONLY",
    "Counter",
    "KeywordsOnly",
    "blank",
    "generate",
    "generated_source",
    "keywords_only",
    "membership",
    "positional_error",
]
