"""The team at work over a session: its turns, its saved records, and its memory.

:class:`~massmem.team.session.TeamSession` binds a built team to an open session;
:mod:`massmem.team.turns` turns a finished run into a saved turn;
:mod:`massmem.team.memory_binding` is the one way memory reaches the agents, and
:mod:`massmem.team.memory_setup` binds what the config declares.  Nothing here prints:
the command line shows what these return.
"""
