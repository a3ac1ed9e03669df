"""The parts of the Router facade (router.app), one job each.

Each part is a mixin the :class:`router.app.Router` is composed of: it declares the router's
state it reads (the state actor, the dispatcher, the consumer manager, auth, contracts) and
adds the methods of its job, so that the edges keep calling ``router.publish``,
``router.subscribe``, ``router.list_parked`` and so on.

- :mod:`~router.facade.base`: the state every part reads, and the look-ups they share
- :mod:`~router.facade.publishing`: publish, from a Trio task or a plain callback
- :mod:`~router.facade.log`: the log a route node follows, and its trimming
- :mod:`~router.facade.exchanges`: exchanges, and reading their stored history
- :mod:`~router.facade.subscribing`: attaching a consumer, and a pull
- :mod:`~router.facade.subscribers`: queues and subscribers, seen and changed
- :mod:`~router.facade.settling`: a pull consumer's settlement, and the parked lists
- :mod:`~router.facade.event_types`: event types and their schemas, the AsyncAPI document
- :mod:`~router.facade.observing`: stats, the server's info, its links
"""
